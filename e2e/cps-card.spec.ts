// A CPS card on a ward PC, end to end as the agent ships: the headless agent on PC/SC (`--pcsc`) with the
// PKCS#11 module named by the CryptolibPath policy (OpenSC here, driving the CPS3 emulator with its own
// IAS-ECC driver), a reader with a real OMNIKEY 5422's 78-character name, the real session server on
// PostgreSQL checking the card's signature against the test IGC-Santé chain, and the UI in Chromium.
// A wrong PIN, the card pulled and inserted again (the tries left stay those of the card), the right PIN.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../server/src/app';
import type { SessionServer } from '../server/src/app';
import { migrate, postgresDb } from '../server/src/db';
import type { Db } from '../server/src/db';
import { Directory } from '../server/src/directory';
import { jsonLog } from '../server/src/log';
import { startCps3Process } from '../testbed/cps3-process';
import type { Cps3Process } from '../testbed/cps3-process';
import { OPENSC_MODULE, writeOpenscConf } from '../testbed/opensc';
import { startPcscd } from '../testbed/pcscd';
import type { PcscdHandle } from '../testbed/pcscd';
import { makeTestPki } from '../testbed/pki';
import { startPostgres } from '../testbed/postgres';
import type { PostgresHandle } from '../testbed/postgres';
import { expect, shotPath, startHeadless, test } from './fixtures';
import type { HeadlessAgent } from './fixtures';

const PERSON = { idNat: '899999000029', lastName: 'BERNARD', firstName: 'Louis', profession: 'Médecin' };
const OMNIKEY = 'HID Global OMNIKEY 5422 Smartcard Reader [OMNIKEY 5422 Smartcard Reader]';

let dir: string;
let pcscd: PcscdHandle;
let pg: PostgresHandle;
let db: Db;
let server: SessionServer;
let agent: HeadlessAgent & { dataDir: string };
let card: Cps3Process;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

test.beforeAll(async () => {
  test.setTimeout(120_000);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-e2e-cps-'));
  const pki = makeTestPki(path.join(dir, 'pki'));
  card = startCps3Process(PERSON, { auth: pki.issue(PERSON) });
  pcscd = await startPcscd({ friendlyName: OMNIKEY });
  pg = await startPostgres();
  pg.createDatabase('sillage');
  db = postgresDb(pg.url('sillage'));
  await migrate(db);
  const directory = new Directory(db);
  await directory.addAccount({ ...PERSON, adLogin: 'lbernard' });
  server = await startServer({
    db,
    port: await freePort(),
    trustAnchorsPem: [pki.root.certPem],
    intermediateCasPem: [pki.ca.certPem],
    log: jsonLog(() => {}, 'silent'),
  });
  const token = await directory.createEnrolmentToken('PC-CPS');
  agent = await startHeadless(
    ['--no-demo', '--pcsc', '--pcsc-readers', pcscd.readerNames[0]!, '--server', server.issuer],
    {
      policy: { CryptolibPath: OPENSC_MODULE },
      env: {
        PCSCLITE_CSOCK_NAME: pcscd.env.PCSCLITE_CSOCK_NAME,
        OPENSC_CONF: writeOpenscConf(dir),
        SILLAGE_ENROLMENT_TOKEN: token,
      },
    },
  );
});

test.afterAll(async () => {
  if (agent) {
    agent.proc.kill('SIGTERM');
    await new Promise((r) => (agent.proc.exitCode !== null ? r(null) : agent.proc.once('exit', r)));
  }
  await card?.send('remove');
  await card?.stop();
  await server?.close();
  await db?.close();
  await pg?.stop();
  await pcscd?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('a CPS3 in a 78-character reader: wrong PIN, pulled and back with the tries the card has left, right PIN opens a strong session', async ({
  browser,
}) => {
  test.setTimeout(120_000);
  const page = await browser.newPage();
  await page.goto(agent.url);
  await expect(page.getByTestId('lock-screen')).toBeVisible();

  await card.send('insert', pcscd.ports[0]!);
  await expect(page.getByTestId('pin-pad')).toContainText('Code PIN de la carte CPS', { timeout: 15_000 });
  await expect(page.getByTestId('pin-identity')).toContainText('Louis BERNARD');
  await page.keyboard.type('0000');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('pin-message')).toContainText('2 essais restants');

  await card.send('remove');
  await expect(page.getByTestId('lock-screen')).toBeVisible();
  await card.send('insert', pcscd.ports[0]!);
  await expect(page.getByTestId('pin-identity')).toContainText('Louis BERNARD', { timeout: 15_000 });
  await expect(page.getByTestId('pin-message')).toContainText('2 essais restants');
  await page.screenshot({ path: shotPath('cps-01-reinserted-tries-left') });

  await page.keyboard.type('1234');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('session-banner')).toContainText('Authentification forte');
  await expect(page.getByTestId('banner-name')).toHaveText('Louis BERNARD');
  expect((await card.send('status')).triesLeft).toBe(3);

  await card.send('remove');
  await expect(page.getByTestId('lock-screen')).toBeVisible();
  const audit = fs
    .readFileSync(path.join(agent.dataDir, 'audit.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { action: string; outcome: string });
  expect(audit.filter((r) => r.action === 'session.opened' && r.outcome === 'success')).toHaveLength(1);
  expect(audit.some((r) => r.action === 'pin.wrong')).toBe(true);
});
