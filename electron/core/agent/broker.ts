// The DPI broker of a workstation on the session server: tokens come from its token exchange, so there
// is none with another authenticator. It listens on the local socket and the loopback HTTP port it is given.
import type { AuditSink } from '../audit/audit';
import { ServerAuthenticator } from '../auth/server-authenticator';
import type { Authenticator } from '../auth/types';
import { Broker, LocalEndpoint } from '../broker/broker';
import { HttpEndpoint } from '../broker/http-endpoint';
import type { SessionEngine } from '../session/engine';
import type { Clock } from '../util/clock';
import type { Agent, BrokerSettings } from './types';

export interface BrokerParts {
  broker: Broker | null;
  endpoints: Agent['brokerEndpoints'];
  close(): Promise<void>;
}

export async function startBroker(
  settings: BrokerSettings | undefined,
  authenticator: Authenticator,
  engine: SessionEngine,
  audit: AuditSink,
  clock: Clock,
): Promise<BrokerParts> {
  const endpoints: Agent['brokerEndpoints'] = { socket: null, http: null };
  if (!settings || !(authenticator instanceof ServerAuthenticator))
    return { broker: null, endpoints, close: async () => {} };
  const broker = new Broker({
    getState: () => engine.getState(),
    onState: (l) => engine.onState.add(l),
    tokensOf: (s) => authenticator.tokensOf(s),
    exchange: async (t, aud) => (await authenticator.client()).exchange(t, aud),
    audit,
    clock,
    apps: settings.apps,
    dmp: { urlTemplate: settings.dmpUrlTemplate, open: settings.openUrl },
  });
  let local: LocalEndpoint | null = null;
  let http: HttpEndpoint | null = null;
  if (settings.socketPath) {
    local = new LocalEndpoint({ broker, path: settings.socketPath, identify: settings.identify });
    endpoints.socket = await local.listen();
  }
  if (settings.httpPort !== null) {
    http = new HttpEndpoint(broker);
    endpoints.http = await http.listen(settings.httpPort);
  }
  return {
    broker,
    endpoints,
    async close() {
      await local?.close().catch(() => {});
      await http?.close().catch(() => {});
      broker.close();
    },
  };
}
