// A DPI broker over a session that is simply open (Camille MARTIN, 2-factor, 4-hour window), with no
// session server behind it: its "exchange" hands out a token named after the audience and records it.
// For the tests of the broker's endpoints, where who may ask is the question, not what the server says.
import type { AuditSink } from '../electron/core/audit/audit';
import { Broker } from '../electron/core/broker/broker';
import type { BrokerDeps } from '../electron/core/broker/broker';
import { systemClock } from '../electron/core/util/clock';
import type { OpenSession } from '../shared/contract';

export function openSessionBroker(opts: { audit: AuditSink } & Pick<BrokerDeps, 'apps' | 'dmp'>): {
  broker: Broker;
  handedOut: string[];
} {
  const now = Date.now();
  const session = {
    user: { idNat: '899999000011', lastName: 'MARTIN', firstName: 'Camille', profession: 'Infirmière' },
    credential: { kind: 'badge', reader: 'test' },
    factors: [],
    assurance: 'mfa',
    authTime: now,
    mfaExpiresAt: now + 4 * 3_600_000,
    openedAt: now,
  } as unknown as OpenSession;
  const handedOut: string[] = [];
  const broker = new Broker({
    getState: () => ({ kind: 'open', session }),
    onState: () => () => {},
    tokensOf: () => ({ accessToken: 'own-token' }),
    exchange: async (_t, audience) => {
      handedOut.push(audience);
      return { accessToken: `token-for:${audience}`, expiresAt: Math.floor(Date.now() / 1000) + 600 };
    },
    audit: opts.audit,
    clock: systemClock,
    apps: opts.apps,
    ...(opts.dmp ? { dmp: opts.dmp } : {}),
  });
  return { broker, handedOut };
}
