// A shift on two shared ward PCs, end to end: two headless agents (each with its own PC/SC reader on one
// pcscd + vpcd), DESFire badges emulated on vpcd answering the session server's own challenges (relay:
// the server checks each answer and finds the badge by the UID it proves), the real session server on
// PostgreSQL, and each PC's UI in Chromium.
// Nurse A: badge + code on PC 1; tap on PC 2 → open without code; nurse B taps PC 2 → switch; A taps
// PC 1 → lock; the MFA window ends → A's tap asks for the code again; server stopped → clear message,
// nothing opened, no crash; server back → normal. The server runs in the test process so its clock can
// jump the 4 hours; the agents talk to it over HTTP as to any session server.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Page } from '@playwright/test';
import { Audit } from '../server/src/audit';
import { migrate, postgresDb } from '../server/src/db';
import type { Db } from '../server/src/db';
import { Directory } from '../server/src/directory';
import { startServer } from '../server/src/app';
import type { SessionServer } from '../server/src/app';
import { jsonLog } from '../server/src/log';
import { uidOf } from '../testbed/badges';
import { DESFIRE_ATR, hospitalBadge, TEST_BADGE } from '../testbed/cards/desfire-card';
import type { DesfireEmulator } from '../testbed/cards/desfire-card';
import { loadPcsc } from '../native/pcsclite';
import { PcscMonitor } from '../electron/core/devices/pcsc';
import { startPcscd, takeOff } from '../testbed/pcscd';
import type { PcscdHandle } from '../testbed/pcscd';
import type { PostgresHandle } from '../testbed/postgres';
import { STAFF, startDatabase } from '../testbed/stack';
import type { DatabaseStack } from '../testbed/stack';
import { VirtualCard } from '../testbed/vpcd-client';
import { expect, shotPath, startHeadless, test } from './fixtures';
import type { HeadlessAgent } from './fixtures';

const MASTER = TEST_BADGE.master;
const PROFILE = TEST_BADGE.profile;
const HOUR = 3600_000;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

let pcscd: PcscdHandle;
/** This worker's own view of pcscd's readers (libpcsclite keeps the first daemon a process names). */
let monitor: PcscMonitor;
let base: DatabaseStack;
let pg: PostgresHandle;
let db: Db;
let port: number;
let server: SessionServer | null = null;
let serverDb: Db;
/** The session server's clock offset: the 4-hour window passes by moving it. */
let offsetMs = 0;
const agents: HeadlessAgent[] = [];
const nurseA = hospitalBadge('CHU-000123');
const nurseB = hospitalBadge('CHU-000456');

async function startSessionServer(): Promise<void> {
  // Same port and database each time: a restart as the agents see it.
  server = await startServer({
    db: serverDb,
    port,
    trustAnchorsPem: [],
    desfireKeys: { 'F51230/1': MASTER.toString('hex') },
    now: () => new Date(Date.now() + offsetMs),
    log: jsonLog(() => {}, 'silent'),
  });
}

async function stopSessionServer(): Promise<void> {
  const s = server;
  server = null;
  await s?.close();
}

/** A badge tap: on the reader for a moment, then away (pcscd saw it go before any next tap). */
async function tap(emu: DesfireEmulator, readerPort: number, holdMs = 1200): Promise<void> {
  const card = new VirtualCard({ atr: DESFIRE_ATR, handler: emu.handler });
  await card.insert(readerPort);
  // A hand's tap, longer than the agents' TapDebounceMs: the same badge's next tap is a new one, not a bounce.
  await new Promise((r) => setTimeout(r, holdMs));
  await takeOff(card, monitor, pcscd.readerNames[pcscd.ports.indexOf(readerPort)]!);
  emu.powerOn();
}

async function typeCode(page: Page, code: string) {
  await expect(page.getByTestId('pin-pad')).toBeVisible();
  await page.keyboard.type(code);
  await page.keyboard.press('Enter');
}

function agentAudit(
  a: HeadlessAgent & { dataDir?: string },
): { action: string; outcome: string; reason?: string; idNat?: string }[] {
  const file = path.join((a as { dataDir: string }).dataDir, 'audit.jsonl');
  return fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { action: string; outcome: string; reason?: string; idNat?: string });
}

test.beforeAll(async () => {
  test.setTimeout(120_000);
  pcscd = await startPcscd();
  process.env.PCSCLITE_CSOCK_NAME = pcscd.env.PCSCLITE_CSOCK_NAME;
  monitor = new PcscMonitor({ createContext: loadPcsc });
  monitor.start();
  base = await startDatabase();
  ({ pg, db } = base);
  serverDb = postgresDb(pg.url('sillage'));
  await migrate(db);
  const directory = new Directory(db);
  const a = await directory.addAccount(STAFF.camille);
  const b = await directory.addAccount(STAFF.nina);
  await directory.bindBadge({ uid: uidOf(nurseA), number: 'CHU-000123' }, a.id);
  await directory.bindBadge({ uid: uidOf(nurseB), number: 'CHU-000456' }, b.id);
  port = await freePort();
  await startSessionServer();
  for (const [i, reader] of pcscd.readerNames.entries()) {
    const token = await directory.createEnrolmentToken(`PC-${i + 1}`);
    agents.push(
      await startHeadless(['--no-demo', '--pcsc', '--pcsc-readers', reader, '--server', `http://127.0.0.1:${port}`], {
        policy: { BadgeProfiles: [PROFILE], TapDebounceMs: 1000 },
        env: { PCSCLITE_CSOCK_NAME: pcscd.env.PCSCLITE_CSOCK_NAME, SILLAGE_ENROLMENT_TOKEN: token },
      }),
    );
  }
});

test.afterAll(async () => {
  for (const a of agents) {
    a.proc.kill('SIGTERM');
    await new Promise((r) => (a.proc.exitCode !== null ? r(null) : a.proc.once('exit', r)));
  }
  monitor?.stop();
  await stopSessionServer();
  await serverDb?.close();
  await base?.close();
  await pcscd?.stop();
});

test('a shift on two ward PCs: badge + code, roaming re-open, tap-over, tap-out, window end, server down and back', async ({
  browser,
}) => {
  test.setTimeout(180_000);
  const [pc1Port, pc2Port] = pcscd.ports as [number, number];
  const pc1 = await browser.newPage();
  const pc2 = await browser.newPage();
  await pc1.goto(agents[0]!.url);
  await pc2.goto(agents[1]!.url);
  await expect(pc1.getByTestId('lock-screen')).toBeVisible();
  await expect(pc2.getByTestId('lock-screen')).toBeVisible();

  // 1. Nurse A, first tap of the shift on PC 1: her name and the code pad; code → strong session.
  await tap(nurseA, pc1Port);
  await expect(pc1.getByTestId('pin-pad')).toContainText('Code de session');
  await expect(pc1.getByTestId('pin-identity')).toContainText('Camille MARTIN');
  await typeCode(pc1, '4821');
  await expect(pc1.getByTestId('session-banner')).toContainText('Authentification forte');
  await expect(pc1.getByTestId('banner-name')).toHaveText('Camille MARTIN');
  await pc1.screenshot({ path: shotPath('shift-01-pc1-nurse-a') });

  // 2. A taps on PC 2: open at once, no code.
  await tap(nurseA, pc2Port);
  await expect(pc2.getByTestId('session-banner')).toContainText('Réouverture par badge');
  await expect(pc2.getByTestId('banner-name')).toHaveText('Camille MARTIN');
  await expect(pc2.getByTestId('pin-pad')).toHaveCount(0);

  // 3. Nurse B taps on PC 2: A's session there ends, B is asked her code.
  await tap(nurseB, pc2Port);
  await expect(pc2.getByTestId('pin-identity')).toContainText('Nina LEFEVRE');
  await typeCode(pc2, '1357');
  await expect(pc2.getByTestId('banner-name')).toHaveText('Nina LEFEVRE');
  await pc2.screenshot({ path: shotPath('shift-02-pc2-nurse-b') });

  // 4. A taps PC 1 again: tap-out locks it.
  await tap(nurseA, pc1Port);
  await expect(pc1.getByTestId('lock-reason')).toContainText('badgeage');

  // 5. Four hours later (the session server's clock moves on): A's tap asks for the code again.
  offsetMs = 4 * HOUR + 60_000;
  await tap(nurseA, pc1Port);
  await expect(pc1.getByTestId('pin-pad')).toContainText('Code de session');
  await expect(pc1.getByTestId('pin-identity')).toContainText('Camille MARTIN');
  await pc1.screenshot({ path: shotPath('shift-03-pc1-window-over') });
  await pc1.getByTestId('pin-cancel').click();

  // 6. Server stopped: the tap says so, nothing opens, the agent stays up.
  await stopSessionServer();
  await tap(nurseA, pc1Port);
  await expect(pc1.getByTestId('error-message')).toContainText('Serveur de sessions injoignable');
  await expect(pc1.getByTestId('lock-screen')).toBeVisible();
  await expect(pc1.getByTestId('session-banner')).toHaveCount(0);
  expect(agents[0]!.proc.exitCode).toBeNull();
  await pc1.screenshot({ path: shotPath('shift-04-server-down') });

  // 7. Server back: normal again.
  await startSessionServer();
  await tap(nurseA, pc1Port);
  await typeCode(pc1, '4821');
  await expect(pc1.getByTestId('session-banner')).toContainText('Authentification forte');

  // The audit trails tell the same story.
  const a1 = agentAudit(agents[0]!).map((r) => `${r.action}:${r.outcome}${r.reason ? `:${r.reason}` : ''}`);
  const a2 = agentAudit(agents[1]!).map((r) => `${r.action}:${r.outcome}${r.reason ? `:${r.reason}` : ''}`);
  expect(a1.filter((r) => r.startsWith('session.opened:success'))).toHaveLength(2);
  expect(a1).toContain('session.locked:info:tap-out');
  expect(a1.some((r) => r.startsWith('badge.refused:failure:server-unreachable'))).toBe(true);
  expect(a2.filter((r) => r.startsWith('session.reopened:success'))).toHaveLength(1);
  expect(a2).toContain('session.locked:info:switch-user');
  // Every login and re-open rests on a badge answer the server checked itself.
  const serverAudit = new Audit(db);
  const logins = await serverAudit.query({ action: 'login.badge', limit: 100 });
  const reopens = await serverAudit.query({ action: 'reopen.badge', limit: 100 });
  expect(logins.filter((r) => r.outcome === 'ok')).toHaveLength(3);
  expect(reopens.filter((r) => r.outcome === 'ok')).toHaveLength(1);
  expect([...logins, ...reopens].every((r) => r.details?.proof === 'desfire')).toBe(true);
  expect(await serverAudit.query({ action: 'badge.tap', limit: 100 })).toEqual([]);
  expect((await serverAudit.verify()).ok).toBe(true);
});
