// `npm run headless -- [--demo] [--port N]`: the agent core in Node, its UI served on 127.0.0.1.
// Development, demos and tests only: the packaged app never contains this entry point.
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { createAgent } from '../agent';
import { Logger } from '../logs/logger';
import type { LogLevel } from '../logs/logger';
import { AuditLog } from '../audit/audit';
import { ConfigStore, JsonFilePolicySource, JsonPreferenceStore } from '../config/store';
import type { BrokerSettings } from '../agent';
import type { BrokerApp } from '../broker/broker';
import { defaultSocketPath } from '../broker/local-endpoint';
import { peerCredentials } from '../../../native/peercred';
import { startControlSocket } from '../demo/control-socket';
import type { ControlServer } from '../demo/control-socket';
import { startHeadlessServer } from './server';
import { ServerAuthenticator } from '../auth/server-authenticator';
import { DemoReaders } from '../demo/demo-readers';
import { lazyClient, registerWorkstation } from '../oidc/server-client';
import type { SessionServerClient, WorkstationCredentials } from '../oidc/server-client';
import { readersFromConfig } from '../readers/from-config';
import { isLoopbackHost } from '../util/url';
import { systemClock } from '../util/clock';
import { startEmbeddedServer } from './embedded-server';
import type { EmbeddedServer } from './embedded-server';

const HELP = `Usage: npm run headless -- [--demo] [--port N] [--data-dir DIR] [--ui-dir DIR] [--no-control]
  --demo          simulated CPS cards and badges (default until real readers are configured)
  --server URL    a session server (enrolment token in the SILLAGE_ENROLMENT_TOKEN environment variable);
                  default: an embedded session server on PGlite, seeded with the demo people
  --local-demo    no session server: decide locally (fastest start, demo only)
  --port N        listen on 127.0.0.1:N (default: a free port)
  --data-dir      where the audit trail and the embedded server's database live (~/.local/state/sillage)
  --no-control    do not open the demo CLI socket
  --broker-apps FILE       DPI broker: JSON [{"id","name","executable"|"secretSha256","audiences":[],"dmp"}]
  --broker-socket PATH     broker socket (default: $XDG_RUNTIME_DIR/sillage/broker.sock)
  --broker-http-port N     also serve HTTP-only applications on 127.0.0.1:N
  --dmp-url-template T     DMP web PS URL, placeholders {ins} {insNumber} {insKey} {oid} {idNat}
  --policy-file FILE       machine policy (default: $SILLAGE_POLICY_FILE or /etc/sillage/policy.json), watched
  --pcsc                   real PC/SC readers (pcscd): CPS cards through the Cryptolib, DESFire badges through
                           the BadgeProfiles policy and the key custody (BadgeKeyCustody: server or local)
  --pcsc-readers NAMES     only these readers (comma-separated), for several agents on one pcscd
  --hid                    USB-HID badge readers of the ReaderProfiles policy (pcProx, custom report)
  --no-demo                without the simulated cards and badges (with --pcsc or --hid)`;

async function main() {
  if (process.versions.electron) {
    console.error('Headless mode is not available in the packaged application.');
    process.exit(2);
  }
  const { values } = parseArgs({
    options: {
      demo: { type: 'boolean', default: true },
      'no-demo': { type: 'boolean', default: false },
      port: { type: 'string', default: '0' },
      'data-dir': { type: 'string' },
      'ui-dir': { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      'no-control': { type: 'boolean', default: false },
      'memory-audit': { type: 'boolean', default: false },
      server: { type: 'string' },
      'local-demo': { type: 'boolean', default: false },
      'mfa-window-minutes': { type: 'string' },
      'broker-apps': { type: 'string' },
      'broker-socket': { type: 'string' },
      'broker-http-port': { type: 'string' },
      'dmp-url-template': { type: 'string' },
      'policy-file': { type: 'string' },
      pcsc: { type: 'boolean', default: false },
      hid: { type: 'boolean', default: false },
      'pcsc-readers': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return console.log(HELP);
  const demo = values.demo && !values['no-demo'];
  if (!demo && !values.pcsc && !values.hid) {
    console.error('No readers: use --demo (simulated), --pcsc (PC/SC readers) or --hid (USB-HID readers).');
    process.exit(2);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`Invalid --port ${values.port}: give a number between 0 and 65535.`);
    process.exit(2);
  }
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..');
  const uiDir = values['ui-dir'] ?? path.join(root, 'renderer', 'dist');
  if (!fs.existsSync(path.join(uiDir, 'index.html'))) {
    console.error(`UI not built in ${uiDir}: run "npm run build:ui" (npm run headless does it for you).`);
    process.exit(2);
  }
  const dataDir = values['memory-audit']
    ? undefined
    : (values['data-dir'] ??
      path.join(process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state'), 'sillage'));

  const stateDir = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-headless-'));
  // The demo cards' CA (key generation) only when demo cards or the embedded demo server need it.
  const demoReaders = demo || (!values.server && !values['local-demo']) ? new DemoReaders() : null;
  let embedded: EmbeddedServer | null = null;
  let authenticator: ServerAuthenticator | undefined;
  let serverClient: (() => Promise<SessionServerClient>) | null = null;
  const mfaWindowMinutes = values['mfa-window-minutes'] ? Number(values['mfa-window-minutes']) : undefined;
  let serverUrlForDiag: string | undefined;
  if (!values['local-demo']) {
    let serverUrl = values.server;
    let token = process.env.SILLAGE_ENROLMENT_TOKEN;
    if (!serverUrl) {
      embedded = await startEmbeddedServer({
        root,
        dataDir: path.join(stateDir, 'embedded-server'),
        demoCaPem: demoReaders!.pki.caPem,
        ...(mfaWindowMinutes ? { mfaWindowMinutes } : {}),
      });
      serverUrl = embedded.issuer;
      token = embedded.enrolmentToken;
    }
    if (!token) {
      console.error(
        '--server needs the workstation enrolment token in the SILLAGE_ENROLMENT_TOKEN environment variable.',
      );
      process.exit(2);
    }
    const url = serverUrl;
    serverUrlForDiag = url;
    const enrolment = token;
    // Registered once per run; the key stays in memory (the Electron app keeps it in safeStorage).
    let creds: Promise<WorkstationCredentials> | null = null;
    const credentials = () =>
      (creds ??= registerWorkstation(url, enrolment, `${os.hostname()} (headless)`).catch((e: unknown) => {
        creds = null;
        throw e;
      }));
    const local = isLoopbackHost(new URL(url).hostname);
    serverClient = lazyClient(url, credentials, { allowHttp: local });
    authenticator = new ServerAuthenticator({ client: serverClient, clock: systemClock });
    await credentials().catch((e: unknown) => console.error(`Workstation not registered yet: ${(e as Error).message}`));
  }

  let broker: BrokerSettings | undefined;
  if (authenticator && (values['broker-apps'] || values['dmp-url-template'])) {
    const apps = values['broker-apps']
      ? (JSON.parse(fs.readFileSync(values['broker-apps'], 'utf8')) as BrokerApp[])
      : [];
    broker = {
      apps,
      socketPath: values['broker-socket'] ?? defaultSocketPath(),
      identify: peerCredentials,
      httpPort: values['broker-http-port'] !== undefined ? Number(values['broker-http-port']) : null,
      dmpUrlTemplate: values['dmp-url-template'] ?? null,
      // Headless: no browser of our own; the URL is printed (the Electron shell opens the system browser).
      openUrl: async (url) => console.log(`DMP: ${url}`),
    };
  }

  const policyFile = values['policy-file'] ?? process.env.SILLAGE_POLICY_FILE ?? '/etc/sillage/policy.json';
  const configAudit = new AuditLog({
    clock: systemClock,
    ...(dataDir ? { file: path.join(dataDir, 'audit.jsonl') } : {}),
  });
  const config = new ConfigStore({
    policy: new JsonFilePolicySource(policyFile),
    preferences: new JsonPreferenceStore(path.join(stateDir, 'preferences.json')),
    audit: configAudit,
  });
  config.watch();
  for (const p of config.lastProblems()) console.error(`Stratégie / policy: ${p.message}`);

  // Headless is a development tool: its log stays in its state directory, not /var/log.
  const logger = new Logger({ dir: path.join(stateDir, 'logs'), level: () => config.value<LogLevel>('LogLevel') });
  logger.info('headless agent starting', { embedded: Boolean(embedded), policyFile });

  const only = values['pcsc-readers']
    ?.split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const real = readersFromConfig(config, {
    pcsc: values.pcsc,
    hid: values.hid,
    serverClient,
    ...(only?.length ? { readerFilter: (n: string) => only.includes(n) } : {}),
    warn: (m) => console.error(m),
  });

  const agent = await createAgent({
    ...(real.readers.length ? { readers: real.readers } : {}),
    ...(real.cryptolib ? { cryptolib: real.cryptolib } : {}),
    mode: 'headless',
    config,
    logger,
    ...(serverUrlForDiag ? { serverUrl: serverUrlForDiag } : {}),
    audit: configAudit,
    ...(broker ? { broker } : {}),
    demo,
    ...(demo && demoReaders ? { demoReaders } : {}),
    ...(authenticator ? { authenticator } : {}),
    ...(mfaWindowMinutes ? { mfaWindowMs: mfaWindowMinutes * 60_000 } : {}),
    ...(dataDir ? { dataDir } : {}),
    allowQuit: true,
  });
  const server = await startHeadlessServer({ api: agent.api, audit: agent.audit, uiDir, port });
  let control: ControlServer | null = null;
  if (demo && !values['no-control']) {
    try {
      control = await startControlSocket(agent.api);
    } catch (e) {
      console.error(`Demo CLI socket not opened: ${(e as Error).message}`);
    }
  }
  if (embedded) console.log(`Serveur de sessions embarqué / embedded session server (PGlite): ${embedded.issuer}/`);
  console.log(`Sillage (headless${demo ? ', démo' : ''}) — ouvrez / open: ${server.launchUrl}`);
  if (agent.brokerEndpoints.socket)
    console.log(
      `Courtier DPI / DPI broker: ${agent.brokerEndpoints.socket}${agent.brokerEndpoints.http ? ` and ${agent.brokerEndpoints.http}` : ''}`,
    );
  if (control) console.log(`Démo en ligne de commande / demo CLI: npm run demo -- help`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Exit within 2 s whatever hangs (a browser keeping its socket, a reader backend).
    setTimeout(() => process.exit(0), 1500).unref();
    config.close();
    await Promise.allSettled([server.close(), control?.close(), agent.stop(), embedded?.stop()]);
    console.log(`Sillage stopped (${signal}).`);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((e) => {
  console.error(`Sillage headless failed to start: ${(e as Error).message}`);
  process.exit(1);
});
