// A ward PC whose clock is off, at the level of the agent core: the whole agent process runs on that
// clock (session engine, server authenticator, openid-client, jose: Date is moved for this process
// only) against a real session server in its own process on PostgreSQL, on the machine's clock. The
// agent learns the server's time from its answers and dates its assertions by it; beyond the skew the
// server accepts it says "Horloge du poste décalée".
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { lazyClient, registerWorkstation } from '../../electron/core/oidc/server-client';
import { postgresDb } from '../../server/src/db';
import type { Db } from '../../server/src/db';
import { Directory } from '../../server/src/directory';
import { TEST_DESFIRE_KEYS, uidOf } from '../badges';
import { hospitalBadge } from '../cards/desfire-card';
import { pinVerifiedCard } from '../key-card';
import { waitFor } from '../pcscd';
import { makeTestPki } from '../pki';
import type { TestPki } from '../pki';
import { startPostgres } from '../postgres';
import type { PostgresHandle } from '../postgres';
import { wardPc } from '../stack';
import { wiretap } from '../wire';

const HOUR = 3600_000;
const BADGES = { 'desfire:clock-a': hospitalBadge('CHU-CLOCK-A'), 'desfire:clock-b': hospitalBadge('CHU-CLOCK-B') };
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
let pg: PostgresHandle;
let db: Db;
let directory: Directory;
let serverProcess: ChildProcess;
let issuer: string;
let pki: TestPki;
let dir: string;

/** This process's clock (the PC's): the machine's, off by `skewMs`. */
const machineNow = () => performance.timeOrigin + performance.now();
const setSkew = (skewMs: number) => vi.setSystemTime(machineNow() + skewMs);

async function pc(name: string) {
  const token = await directory.createEnrolmentToken(name);
  const creds = await registerWorkstation(issuer, token, name);
  const wire = wiretap();
  const client = lazyClient(issuer, async () => creds, {
    allowHttp: true,
    timeoutMs: 3000,
    fetch: wire.fetch,
  });
  // That the clock moves below never makes a tap a "bounce" is the engine's monotonic debounce, tested with
  // the wall clock stepped back (engine.test.ts); here it is off.
  const ws = wardPc(name, client, { pollMs: 150 });
  // The relay's challenge is asked for by this PC (its assertion dated by the server's time).
  const tap = (which: keyof typeof BADGES) => ws.tap(BADGES[which]);
  return { ...ws, client, tap, wire };
}

/** A new PC with `badge`'s roaming session open on it; `refreshedOrOver`: its tokens changed, or it ended. */
async function openOn(name: string, badge: keyof typeof BADGES) {
  const ws = await pc(name);
  await ws.tap(badge);
  const st = ws.engine.getState();
  expect(st.kind).toBe('open');
  const session = st.kind === 'open' ? st.session : (null as never);
  const before = ws.auth.tokensOf(session)!.accessToken;
  const refreshedOrOver = () => ws.auth.tokensOf(session)?.accessToken !== before;
  return { ws, refreshedOrOver };
}

/** The session server as deployed: its own process (its own clock), on PostgreSQL. */
async function startServerProcess(args: string[]): Promise<{ child: ChildProcess; issuer: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'server', 'src', 'main.ts'), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const errors: string[] = [];
  readline.createInterface({ input: child.stderr! }).on('line', (l) => errors.push(l));
  const url = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = /^Sillage session server: (\S+?)\/?\s/.exec(l);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`session server exited (${code}): ${errors.slice(-3).join(' | ')}`)));
  });
  return { child, issuer: url };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-clock-'));
  pki = makeTestPki(path.join(dir, 'pki'));
  pg = await startPostgres();
  pg.createDatabase('sillage');
  const file = (name: string, text: string) => {
    fs.writeFileSync(path.join(dir, name), text, { mode: 0o600 });
    return path.join(dir, name);
  };
  const started = await startServerProcess([
    '--port',
    '0',
    '--database-url',
    pg.url('sillage'),
    '--trust-anchor',
    file('root.pem', pki.root.certPem),
    '--intermediate',
    file('ca.pem', pki.ca.certPem),
    '--desfire-keys',
    file('desfire-keys.json', JSON.stringify(TEST_DESFIRE_KEYS)),
    '--log-level',
    'error',
  ]);
  serverProcess = started.child;
  issuer = started.issuer;
  db = postgresDb(pg.url('sillage'));
  directory = new Directory(db);
  for (const [idNat, badge, last] of [
    ['899999000201', 'desfire:clock-a', 'HORLOGE'],
    ['899999000202', 'desfire:clock-b', 'PENDULE'],
  ] as const) {
    const a = await directory.addAccount({
      idNat,
      adLogin: last.toLowerCase(),
      lastName: last,
      firstName: 'Sam',
      profession: 'Infirmier',
      secret: '8642',
    });
    await directory.bindBadge({ uid: uidOf(BADGES[badge]), number: badge }, a.id);
  }
  await directory.addAccount({
    idNat: '899999000210',
    adLogin: 'cmontre',
    lastName: 'MONTRE',
    firstName: 'Claire',
    profession: 'Médecin',
  });
  // From here on this process's Date runs on the PC's clock, moved by setSkew.
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
  setSkew(0);
}, 120_000);

afterAll(async () => {
  vi.useRealTimers();
  serverProcess?.kill('SIGTERM');
  if (serverProcess && serverProcess.exitCode === null) await new Promise((r) => serverProcess.once('exit', r));
  await db?.close();
  await pg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const relayBegin = {
  scheme: 'ev2' as const,
  aid: Buffer.from([0x30, 0x12, 0xf5]).toString('base64url'),
  keyNo: 1,
  encRndB: Buffer.alloc(16, 9).toString('base64url'),
};

describe('a PC whose clock is off', () => {
  it('30 s ahead (or 90 s behind) logs in as a right one: badge + code, re-open, CPS card, badge key relay', async () => {
    const ws = await pc('PC-HORLOGE-1');
    setSkew(30_000);
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
    expect(await (await ws.client()).relayBegin(relayBegin)).toMatchObject({ handle: expect.any(String) });
    ws.engine.lock('user-lock');

    setSkew(-90_000);
    await ws.tap('desfire:clock-a');
    expect(ws.engine.getState()).toMatchObject({ kind: 'open', session: { assurance: 're-open' } });
    const person = pki.issue({ idNat: '899999000210', lastName: 'MONTRE', firstName: 'Claire', profession: 'Médecin' });
    const card = await pinVerifiedCard(person);
    const cps = await ws.auth.loginWithCard(card, await card.readIdentity());
    expect(cps).toMatchObject({ ok: true, session: { assurance: 'mfa' } });
    expect(ws.errors).toEqual([]);
    ws.engine.lock('user-lock');
    setSkew(0);
  });

  it('5 h ahead says "clock skew" (never a generic failure), audited; set back right, the next taps log in', async () => {
    const ws = await pc('PC-HORLOGE-2');
    await ws.tap('desfire:clock-b');
    expect(await ws.engine.submitPin('8642')).toEqual({ accepted: true });
    ws.engine.lock('user-lock');

    setSkew(5 * HOUR);
    await ws.tap('desfire:clock-b');
    expect(ws.engine.getState()).toEqual({ kind: 'locked', reason: 'auth-failed' });
    expect(ws.errors.at(-1)?.code).toBe('clock-skew');
    // 5 h in whole seconds, between the assertion's signing and the server's check: one less when that took
    // over a second.
    expect(ws.audit.recent(10).find((r) => r.action === 'auth.refused')?.reason).toMatch(
      /^clock-skew: .*clock (1799\d|1800\d) s ahead of the session server \(at most 120 s\)/,
    );
    const person = pki.issue(
      { idNat: '899999000210', lastName: 'MONTRE', firstName: 'Claire', profession: 'Médecin' },
      'claire-2',
    );
    const card = await pinVerifiedCard(person);
    expect(await ws.auth.loginWithCard(card, await card.readIdentity())).toMatchObject({
      ok: false,
      code: 'clock-skew',
    });

    // IT sets the clock right: the same badge, seconds later by the machine's clock, hours earlier by the PC's.
    setSkew(0);
    await ws.tap('desfire:clock-b');
    expect(ws.engine.getState()).toMatchObject({ kind: 'open', session: { assurance: 're-open' } });
    ws.engine.lock('user-lock');
    // And 5 h behind, then right again.
    setSkew(-5 * HOUR);
    await ws.tap('desfire:clock-a');
    expect(ws.errors.at(-1)?.code).toBe('clock-skew');
    setSkew(0);
    await ws.tap('desfire:clock-a');
    expect(ws.engine.getState()).toMatchObject({ kind: 'open', session: { assurance: 're-open' } });
    ws.engine.lock('user-lock');
  });

  it('keeps an open session through a clock jump: its tokens are refreshed, dated by the server', async () => {
    const { ws, refreshedOrOver } = await openOn('PC-HORLOGE-3', 'desfire:clock-a');
    setSkew(5 * HOUR);
    // On this clock the token looks expired: the next polls refresh it, which the server accepts.
    await waitFor(refreshedOrOver, 10_000, 'tokens refreshed');
    const polled = ws.wire.statusAnswers;
    await waitFor(() => ws.wire.statusAnswers >= polled + 3, 10_000, 'three status polls answered');
    expect(ws.engine.getState().kind).toBe('open');
    expect(ws.errors).toEqual([]);
    setSkew(0);
    ws.engine.lock('user-lock');
  });

  it("keeps it open when the server stalls past the agent's time limit during that refresh", async () => {
    const { ws, refreshedOrOver } = await openOn('PC-HORLOGE-4', 'desfire:clock-b');
    // A paused server (an overloaded host, a VM being snapshotted): it takes connections, answers none.
    serverProcess.kill('SIGSTOP');
    try {
      setSkew(5 * HOUR);
      await waitFor(() => ws.wire.tokenTimeouts > 0, 20_000, 'a refresh given up at the time limit');
    } finally {
      serverProcess.kill('SIGCONT');
    }
    // A server too slow to answer is no refusal: the next poll refreshes.
    await waitFor(refreshedOrOver, 10_000, 'tokens refreshed');
    expect(ws.engine.getState().kind).toBe('open');
    expect(ws.audit.recent(10).map((r) => r.action)).not.toContain('session.revoked');
    expect(ws.errors).toEqual([]);
    setSkew(0);
    ws.engine.lock('user-lock');
  });
});
