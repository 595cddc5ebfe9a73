// The session server when its PostgreSQL goes down and comes back: readiness says so, a tap gets a
// prompt "unavailable" (503, nothing issued) that the agent reads as "server unreachable" — so does the
// session poll of every open PC, which must not end sessions — the refusal
// is in the server's log since the audit table is out of reach, and taps work again once it is back.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWorkstation, SessionServerClient } from '../../electron/core/oidc/server-client';
import type { SessionServer } from '../../server/src/app';
import { jsonLog } from '../../server/src/log';
import { boundBadge, tapProof } from '../badges';
import { makeTestPki } from '../pki';
import { refusal } from '../server-refusal';
import type { PostgresHandle } from '../postgres';
import { startServerStack } from '../stack';
import type { ServerStack } from '../stack';

let stack: ServerStack;
let pg: PostgresHandle;
let server: SessionServer;
let dir: string;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-dbdown-'));
  const pki = makeTestPki(path.join(dir, 'pki'));
  stack = await startServerStack({
    trustAnchorsPem: [pki.root.certPem],
    log: jsonLog((l) => logLines.push(JSON.parse(l) as Record<string, unknown>), 'warn'),
  });
  ({ pg, server } = stack);
}, 120_000);

afterAll(async () => {
  await stack?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('session server, database down and back', () => {
  it('answers "unavailable" promptly, logs the refusal, and serves again once PostgreSQL is back', async () => {
    const creds = await registerWorkstation(
      server.issuer,
      await server.directory.createEnrolmentToken('PC-NUIT'),
      'PC-NUIT',
    );
    const client = await SessionServerClient.connect(server.issuer, creds, { allowHttp: true, timeoutMs: 10_000 });
    const acct = await server.directory.addAccount({
      idNat: '899999000120',
      adLogin: 'nuit',
      lastName: 'VEILLEUR',
      firstName: 'Noé',
      profession: 'Infirmier',
      secret: '8642',
    });
    const badge = await boundBadge(server.directory, acct.id, 'CHU-NUIT');
    const first = await refusal(client.badge(await tapProof(client, badge)));
    const login = await client.badgeCode(String(first.body.login_ticket), '8642');
    expect((await client.badge(await tapProof(client, badge))).claims.auth_time).toBe(login.claims.auth_time);
    // A tap's proof made before the outage, presented during it.
    const proof = await tapProof(client, badge);

    await pg.kill();
    expect((await fetch(`${server.issuer}/readyz`)).status).toBe(503);
    const t0 = Date.now();
    const down = await refusal(client.badge(proof));
    expect(down.code).toBe('server-unreachable');
    expect(down.message).toMatch(/unavailable \(503\)/);
    expect(Date.now() - t0).toBeLessThan(9000);
    // The roaming-session poll every open PC makes: "unreachable" (the session stays open), not "ended".
    const polled = await refusal(client.sessionStatus(login.accessToken));
    expect(polled.code).toBe('server-unreachable');
    expect(polled.message).toMatch(/unavailable \(503\)/);
    expect(logLines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          level: 'error',
          msg: 'audit unavailable: refusal recorded in this log',
          action: 'token.request',
          // Authenticated by the key this instance remembers; its assertion could not be recorded.
          workstation: creds.clientId,
          outcome: 'refused',
          reason: expect.stringMatching(/^temporarily_unavailable: .*nothing was issued/),
        }),
      ]),
    );

    await pg.restart();
    expect((await fetch(`${server.issuer}/readyz`)).status).toBe(200);
    const again = await client.badge(await tapProof(client, badge));
    expect(again.claims).toMatchObject({ acr: 'urn:sillage:loa:reopen', auth_time: login.claims.auth_time });
    const rows = await server.audit.query({ accountId: acct.id });
    expect(rows.filter((r) => r.action === 'reopen.badge' && r.outcome === 'ok')).toHaveLength(2);
    expect(await server.audit.verify()).toMatchObject({ ok: true });
  });
});
