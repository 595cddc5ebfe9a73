// A shift on shared ward PCs, at the level of the agent core: two workstations (session engines with
// the server authenticator and their own registered OIDC clients), a real session server on PostgreSQL,
// badges and a CPS card. The full product path (UI, vpcd readers) is in the e2e suite.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerAuthenticator } from '../../electron/core/auth/server-authenticator';
import { startServer } from '../../server/src/app';
import type { SessionServer } from '../../server/src/app';
import type { Db } from '../../server/src/db';
import { jsonLog } from '../../server/src/log';
import { boundBadge, TEST_DESFIRE_KEYS } from '../badges';
import type { DesfireEmulator } from '../cards/desfire-card';
import { keyCard } from '../key-card';
import { makeTestPki } from '../pki';
import type { TestPki } from '../pki';
import { waitFor } from '../pcscd';
import { enrolWorkstation, STAFF, startDatabase, wardPc } from '../stack';
import type { DatabaseStack } from '../stack';
import { wiretap } from '../wire';

const HOUR = 3600_000;
let base: DatabaseStack;
let db: Db;
let server: SessionServer | null = null;
let port = 0;
let pki: TestPki;
let dir: string;
let offsetMs = 0;
const now = () => new Date(Date.now() + offsetMs);
const BADGES: Record<'desfire:A' | 'desfire:B', DesfireEmulator> = {} as never;

async function start() {
  server = await startServer({
    db,
    port,
    trustAnchorsPem: [pki.root.certPem],
    intermediateCasPem: [pki.ca.certPem],
    desfireKeys: TEST_DESFIRE_KEYS,
    now,
    log: jsonLog(() => {}, 'silent'),
  });
  port = server.port;
}

async function pc(name: string, extra: Partial<ConstructorParameters<typeof ServerAuthenticator>[0]> = {}) {
  const wire = wiretap();
  const { client } = await enrolWorkstation(server!, name, { fetch: wire.fetch });
  const ws = wardPc(name, client, { pollMs: 200, ...extra });
  /** A tap of badge A or B on this PC's reader (the relay's challenge comes from this PC's server). */
  const tap = (which: 'desfire:A' | 'desfire:B') => ws.tap(BADGES[which]);
  return { ...ws, tap, wire };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-roaming-'));
  pki = makeTestPki(path.join(dir, 'pki'));
  base = await startDatabase();
  db = base.db;
  await start();
  const a = await server!.directory.addAccount(STAFF.camille);
  const b = await server!.directory.addAccount(STAFF.nina);
  BADGES['desfire:A'] = await boundBadge(server!.directory, a.id, 'CHU-A');
  BADGES['desfire:B'] = await boundBadge(server!.directory, b.id, 'CHU-B');
  await server!.directory.addAccount(STAFF.louis);
}, 120_000);

afterAll(async () => {
  await server?.close();
  await base?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('roaming sessions through the agent core and the session server', () => {
  it('plays a shift: badge + code, re-open elsewhere, tap-over, tap-out, the 4-hour window, server down and back', async () => {
    const pc1 = await pc('PC-1');
    const pc2 = await pc('PC-2');

    // Nurse A, first tap of the shift on PC 1: the code is asked, with her name on the pad.
    await pc1.tap('desfire:A');
    let st = pc1.engine.getState();
    expect(st).toMatchObject({ kind: 'pin-required', secondFactor: 'session-code', identity: { lastName: 'MARTIN' } });
    expect(await pc1.engine.submitPin('0000')).toEqual({ accepted: false });
    expect(pc1.errors.at(-1)).toMatchObject({ code: 'pin-wrong', params: { triesLeft: 4 } });
    expect(await pc1.engine.submitPin('4821')).toEqual({ accepted: true });
    st = pc1.engine.getState();
    expect(st.kind === 'open' && st.session).toMatchObject({
      assurance: 'mfa',
      user: { lastName: 'MARTIN', idNat: '899999000011' },
    });
    const authTime = st.kind === 'open' ? st.session.authTime : 0;
    expect(st.kind === 'open' && st.session.mfaExpiresAt - authTime).toBe(4 * HOUR);

    // A taps on PC 2: open at once, no code, same 2-factor login time.
    await pc2.tap('desfire:A');
    st = pc2.engine.getState();
    expect(st.kind === 'open' && st.session).toMatchObject({ assurance: 're-open', authTime, factors: ['badge'] });
    expect(pc2.auth.tokensOf(st.kind === 'open' ? st.session : (null as never))).not.toBeNull();

    // Nurse B taps on PC 2: A's workstation session ends there (switch), B is asked her code.
    await pc2.tap('desfire:B');
    expect(pc2.engine.getState()).toMatchObject({ kind: 'pin-required', identity: { lastName: 'LEFEVRE' } });
    expect(await pc2.engine.submitPin('1357')).toEqual({ accepted: true });
    expect(pc2.engine.getState()).toMatchObject({ kind: 'open', session: { user: { lastName: 'LEFEVRE' } } });
    expect(pc2.audit.recent(50).map((r) => `${r.action}:${r.reason ?? ''}`)).toContain('session.locked:switch-user');

    // A taps PC 1 again: tap-out locks it.
    await pc1.tap('desfire:A');
    expect(pc1.engine.getState()).toEqual({ kind: 'locked', reason: 'tap-out' });

    // 4 hours later: A's tap asks for the code again.
    offsetMs = 4 * HOUR + 60_000;
    await pc1.tap('desfire:A');
    expect(pc1.engine.getState()).toMatchObject({ kind: 'pin-required', secondFactor: 'session-code' });
    pc1.engine.cancel();
    offsetMs = 0;

    // Server stopped: a tap says so and opens nothing; the session open on PC 2 stays open.
    await server!.close();
    server = null;
    await pc1.tap('desfire:A');
    expect(pc1.engine.getState()).toEqual({ kind: 'locked', reason: 'auth-failed' });
    expect(pc1.errors.at(-1)?.code).toBe('server-unreachable');
    const failed = pc2.wire.statusFailures;
    // Three polls, each sent three times to a closed port.
    await waitFor(() => pc2.wire.statusFailures >= failed + 9, 15_000, 'three status polls failed');
    expect(pc2.engine.getState().kind).toBe('open');
    // The relay's challenge is already out of reach: the badge gives no proof at all.
    expect(
      pc1.audit.recent(10).some((r) => r.action === 'badge.refused' && r.reason?.startsWith('server-unreachable')),
    ).toBe(true);

    // Server back on the same address: normal again (A's roaming window is still open from PC 1's login).
    await start();
    await pc1.tap('desfire:A');
    expect(pc1.engine.getState()).toMatchObject({ kind: 'open', session: { assurance: 're-open', authTime } });
    pc1.engine.lock('user-lock');
    pc2.engine.lock('user-lock');
  });

  it('a global logout on one PC locks the same user on the others within the polling delay', async () => {
    const pc1 = await pc('PC-3');
    const pc2 = await pc('PC-4');
    await pc1.tap('desfire:B');
    if (pc1.engine.getState().kind === 'pin-required') await pc1.engine.submitPin('1357');
    await pc2.tap('desfire:B');
    const st1 = pc1.engine.getState();
    expect(st1.kind).toBe('open');
    expect(pc2.engine.getState().kind).toBe('open');
    const client = await pc1.auth.client();
    await client.logout(pc1.auth.tokensOf(st1.kind === 'open' ? st1.session : (null as never))!.accessToken);
    await waitFor(() => pc2.engine.getState().kind === 'locked', 3000, 'PC 4 locked by the global logout');
    expect(pc2.engine.getState()).toEqual({ kind: 'locked', reason: 'session-revoked' });
    expect(pc2.audit.recent(20).some((r) => r.action === 'session.revoked')).toBe(true);
  });

  it('with the server down, a CPS card + PIN opens a degraded session only where policy allows it', async () => {
    const louis = pki.issue(
      { idNat: '899999000029', lastName: 'BERNARD', firstName: 'Louis', profession: 'Médecin' },
      'louis-degraded',
    );
    const strict = await pc('PC-5');
    const lenient = await pc('PC-6', {
      degradedCps: { trustPem: [pki.root.certPem, pki.ca.certPem], mfaWindowMs: 4 * HOUR },
    });
    // Both registered while the server was up; now it stops.
    await strict.auth.client();
    await lenient.auth.client();
    await server!.close();
    server = null;
    for (const w of [strict, lenient]) {
      const card = keyCard(louis.certPem, louis.keyPem);
      w.engine.handleReaderEvent({ type: 'card-inserted', card });
      await waitFor(() => w.engine.getState().kind === 'pin-required', 3000, 'PIN pad');
      await w.engine.submitPin('1234');
    }
    expect(strict.engine.getState()).toEqual({ kind: 'locked', reason: 'auth-failed' });
    expect(strict.errors.at(-1)?.code).toBe('server-unreachable');
    const st = lenient.engine.getState();
    expect(st.kind === 'open' && st.session).toMatchObject({
      degraded: true,
      assurance: 'mfa',
      user: { lastName: 'BERNARD' },
    });
    expect(lenient.audit.recent(10).find((r) => r.action === 'session.opened')?.reason).toMatch(/degraded/);
    await start();
  });
});
