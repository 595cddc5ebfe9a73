// A ward PC whose clock is off, at the level of the agent core: the session engine, the server
// authenticator and the agent's OIDC client all on that PC's clock, against a real session server on
// PostgreSQL (on the machine's clock). The agent learns the server's time from its answers and dates
// its assertions by it; beyond the skew the server accepts it says "Horloge du poste décalée".
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentError } from '../../shared/contract';
import { AuditLog } from '../../electron/core/audit/audit';
import { ServerAuthenticator } from '../../electron/core/auth/server-authenticator';
import { lazyClient, registerWorkstation } from '../../electron/core/oidc/server-client';
import type { BadgeRead } from '../../electron/core/readers/types';
import { SessionEngine } from '../../electron/core/session/engine';
import { systemClock } from '../../electron/core/util/clock';
import type { Clock } from '../../electron/core/util/clock';
import { startServer } from '../../server/src/app';
import type { SessionServer } from '../../server/src/app';
import { postgresDb } from '../../server/src/db';
import type { Db } from '../../server/src/db';
import { jsonLog } from '../../server/src/log';
import { keyCard } from '../key-card';
import { waitFor } from '../pcscd';
import { makeTestPki } from '../pki';
import type { TestPki } from '../pki';
import { startPostgres } from '../postgres';
import type { PostgresHandle } from '../postgres';

const HOUR = 3600_000;
let pg: PostgresHandle;
let db: Db;
let server: SessionServer;
let pki: TestPki;
let dir: string;

/** The PC's clock: the machine's, off by `skewMs`. */
let skewMs = 0;
const pcClock: Clock = { now: () => Date.now() + skewMs, setTimer: systemClock.setTimer };

async function pc(name: string) {
  const token = await server.directory.createEnrolmentToken(name);
  const creds = await registerWorkstation(server.issuer, token, name);
  const client = lazyClient(server.issuer, async () => creds, { allowHttp: true, timeoutMs: 3000, clock: pcClock });
  const auth = new ServerAuthenticator({ client, clock: pcClock, pollMs: 150 });
  const audit = new AuditLog({ clock: pcClock });
  // The product's debounce: a clock set back must not turn the next taps into "bounces".
  const engine = new SessionEngine({
    authenticator: auth,
    audit,
    clock: pcClock,
    inactivityMs: 0,
    tapDebounceMs: 1500,
  });
  const errors: AgentError[] = [];
  engine.onError.add((e) => errors.push(e));
  const tap = async (badgeId: string) => {
    const badge: BadgeRead = {
      reader: `${name} lecteur`,
      badgeId,
      proof: 'desfire-aes-diversified',
      cardType: 'DESFire EV3',
    };
    engine.handleReaderEvent({ type: 'badge-tapped', badge });
    await waitFor(() => !['presented', 'authenticating'].includes(engine.getState().kind), 5000, 'tap handled');
  };
  return { engine, audit, errors, auth, client, tap };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-clock-'));
  pki = makeTestPki(path.join(dir, 'pki'));
  pg = await startPostgres();
  pg.createDatabase('sillage');
  db = postgresDb(pg.url('sillage'));
  server = await startServer({
    db,
    trustAnchorsPem: [pki.root.certPem],
    intermediateCasPem: [pki.ca.certPem],
    desfireKeys: { 'F51230/1': '00112233445566778899aabbccddeeff' },
    log: jsonLog(() => {}, 'silent'),
  });
  for (const [idNat, badge, last] of [
    ['899999000201', 'desfire:clock-a', 'HORLOGE'],
    ['899999000202', 'desfire:clock-b', 'PENDULE'],
  ] as const) {
    const a = await server.directory.addAccount({
      idNat,
      adLogin: last.toLowerCase(),
      lastName: last,
      firstName: 'Sam',
      profession: 'Infirmier',
      secret: '8642',
    });
    await server.directory.bindBadge(badge, a.id);
  }
  await server.directory.addAccount({
    idNat: '899999000210',
    adLogin: 'cmontre',
    lastName: 'MONTRE',
    firstName: 'Claire',
    profession: 'Médecin',
  });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await db?.close();
  await pg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const relayBegin = {
  scheme: 'ev2',
  aid: Buffer.from([0x30, 0x12, 0xf5]).toString('base64url'),
  keyNo: 1,
  divInput: '',
  encRndB: Buffer.alloc(16, 9).toString('base64url'),
};

describe('a PC whose clock is off', () => {
  it('30 s ahead (or 90 s behind) logs in as a right one: badge + code, re-open, CPS card, badge key relay', async () => {
    const ws = await pc('PC-HORLOGE-1');
    skewMs = 30_000;
    await ws.tap('desfire:clock-a');
    expect(ws.engine.getState()).toMatchObject({ kind: 'pin-required', identity: { lastName: 'HORLOGE' } });
    expect(await ws.engine.submitPin('8642')).toEqual({ accepted: true });
    const st = ws.engine.getState();
    expect(st.kind === 'open' && st.session.assurance).toBe('mfa');
    // The 4-hour window ends at the server's instant: on this clock, 30 s later (the Date header has whole seconds).
    const shiftS = st.kind === 'open' ? (st.session.mfaExpiresAt - st.session.authTime) / 1000 - 4 * 3600 : 0;
    expect(shiftS).toBeGreaterThanOrEqual(29);
    expect(shiftS).toBeLessThanOrEqual(31);
    expect((await ws.client()).clockSkewS).toBeGreaterThanOrEqual(29);
    expect(await (await ws.client()).desfireRelay('begin', relayBegin)).toMatchObject({ handle: expect.any(String) });
    ws.engine.lock('user-lock');

    skewMs = -90_000;
    await ws.tap('desfire:clock-a');
    expect(ws.engine.getState()).toMatchObject({ kind: 'open', session: { assurance: 're-open' } });
    const person = pki.issue({ idNat: '899999000210', lastName: 'MONTRE', firstName: 'Claire', profession: 'Médecin' });
    const card = keyCard(person.certPem, person.keyPem);
    await card.verifyPin('1234');
    const cps = await ws.auth.loginWithCard(card, await card.readIdentity());
    expect(cps).toMatchObject({ ok: true, session: { assurance: 'mfa' } });
    expect(ws.errors).toEqual([]);
    ws.engine.lock('user-lock');
    skewMs = 0;
  });

  it('5 h ahead says "clock skew" (never a generic failure), audited; set back right, the next taps log in', async () => {
    const ws = await pc('PC-HORLOGE-2');
    await ws.tap('desfire:clock-b');
    expect(await ws.engine.submitPin('8642')).toEqual({ accepted: true });
    ws.engine.lock('user-lock');

    skewMs = 5 * HOUR;
    await ws.tap('desfire:clock-b');
    expect(ws.engine.getState()).toEqual({ kind: 'locked', reason: 'auth-failed' });
    expect(ws.errors.at(-1)?.code).toBe('clock-skew');
    expect(ws.audit.recent(10).find((r) => r.action === 'auth.refused')?.reason).toMatch(
      /^clock-skew: .*clock 1800\d s ahead of the session server \(at most 120 s\)/,
    );
    const person = pki.issue(
      { idNat: '899999000210', lastName: 'MONTRE', firstName: 'Claire', profession: 'Médecin' },
      'claire-2',
    );
    const card = keyCard(person.certPem, person.keyPem);
    await card.verifyPin('1234');
    expect(await ws.auth.loginWithCard(card, await card.readIdentity())).toMatchObject({
      ok: false,
      code: 'clock-skew',
    });

    // IT sets the clock right: the same badge, seconds later by the machine's clock, hours earlier by the PC's.
    skewMs = 0;
    await ws.tap('desfire:clock-b');
    expect(ws.engine.getState()).toMatchObject({ kind: 'open', session: { assurance: 're-open' } });
    ws.engine.lock('user-lock');
    // And 5 h behind, then right again.
    skewMs = -5 * HOUR;
    await ws.tap('desfire:clock-a');
    expect(ws.errors.at(-1)?.code).toBe('clock-skew');
    skewMs = 0;
    await ws.tap('desfire:clock-a');
    expect(ws.engine.getState()).toMatchObject({ kind: 'open', session: { assurance: 're-open' } });
    ws.engine.lock('user-lock');
  });

  it('keeps an open session through a clock jump: its tokens are refreshed, dated by the server', async () => {
    const ws = await pc('PC-HORLOGE-3');
    await ws.tap('desfire:clock-a');
    const st = ws.engine.getState();
    expect(st.kind).toBe('open');
    const session = st.kind === 'open' ? st.session : (null as never);
    const before = ws.auth.tokensOf(session)!.accessToken;
    skewMs = 5 * HOUR;
    // On this clock the token looks expired: the next polls refresh it, which the server accepts.
    await waitFor(() => ws.auth.tokensOf(session)?.accessToken !== before, 5000, 'tokens refreshed');
    await new Promise((r) => setTimeout(r, 500)); // several polls later
    expect(ws.engine.getState().kind).toBe('open');
    expect(ws.errors).toEqual([]);
    skewMs = 0;
    ws.engine.lock('user-lock');
  });
});
