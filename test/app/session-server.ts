// A real session server in the test process, on in-memory PGlite, for the composition tests: demo people
// (code 1234), their badges (by chip UID, with the demo badges' key), enrolment tokens, and the demo DPI
// relying party.
import { DEMO_BADGE_KEYS, DEMO_BADGES, DEMO_PEOPLE, DEMO_PIN } from '../../electron/core/demo/data';
import { startServer } from '../../server/src/app';
import type { SessionServer } from '../../server/src/app';
import { pgliteDb } from '../../server/src/db';
import type { Db } from '../../server/src/db';
import { jsonLog } from '../../server/src/log';

export const TEST_DPI = {
  clientId: 'dpi-test',
  clientSecret: 'dpi-test-secret-0123456789',
  audience: 'https://dpi.test',
};

export interface TestServer {
  server: SessionServer;
  issuer: string;
  token(label?: string): Promise<string>;
  close(): Promise<void>;
}

export async function startTestServer(
  opts: { trustAnchorsPem?: string[]; mfaWindowMs?: number } = {},
): Promise<TestServer> {
  const db: Db = await pgliteDb();
  const server = await startServer({
    db,
    port: 0,
    trustAnchorsPem: opts.trustAnchorsPem ?? [],
    relyingParties: [
      { clientId: TEST_DPI.clientId, clientSecret: TEST_DPI.clientSecret, audiences: [TEST_DPI.audience] },
    ],
    ...(opts.mfaWindowMs ? { mfaWindowMs: opts.mfaWindowMs } : {}),
    // The demo badges' key: their taps are checked here as real ones.
    desfireKeys: DEMO_BADGE_KEYS,
    log: jsonLog(() => {}, 'silent'),
  });
  for (const p of DEMO_PEOPLE) {
    const acc = await server.directory.addAccount({
      ...p.identity,
      adLogin: `${p.identity.firstName[0]}${p.identity.lastName}`.toLowerCase(),
    });
    await server.directory.setSecret(acc.id, DEMO_PIN);
    for (const b of DEMO_BADGES.filter((x) => x.owner === p.identity.idNat && x.number !== null))
      await server.directory.bindBadge({ uid: b.uid, number: b.number }, acc.id);
  }
  return {
    server,
    issuer: server.issuer,
    token: (label = 'PC') => server.directory.createEnrolmentToken(label),
    async close() {
      await server.close();
      await db.close();
    },
  };
}
