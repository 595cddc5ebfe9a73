// Server custody with the DESFire master key in a PKCS#11 token (SoftHSM standing in for an HSM): the
// key is created non-extractable, the server diversifies with the token's AES-CMAC, and a badge is
// authenticated through the relay end to end (agent custody → server → token); a clone is refused.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBadgeCredential } from '../../electron/core/badge/desfire/credential';
import { RelayKeyCustody } from '../../electron/core/badge/desfire/relay-custody';
import { lazyClient, registerWorkstation } from '../../electron/core/oidc/server-client';
import { startServer } from '../../server/src/app';
import type { SessionServer } from '../../server/src/app';
import { postgresDb } from '../../server/src/db';
import type { Db } from '../../server/src/db';
import { hsmKeyLabel, pkcs11RelayKeys } from '../../server/src/desfire-hsm';
import { relayKeysFrom } from '../../server/src/desfire-relay';
import { jsonLog } from '../../server/src/log';
import { hospitalBadge, TEST_BADGE } from '../cards/desfire-card';
import { startPostgres } from '../postgres';
import type { PostgresHandle } from '../postgres';
import { openToken, SOFTHSM_MODULE } from '../softhsm';

let dir: string;
let pg: PostgresHandle;
let db: Db;
let server: SessionServer;
let keys: ReturnType<typeof pkcs11RelayKeys>;
let custody: RelayKeyCustody;
const PIN = '4567';

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-hsm-'));
  fs.mkdirSync(path.join(dir, 'tokens'));
  const conf = path.join(dir, 'softhsm2.conf');
  fs.writeFileSync(
    conf,
    `directories.tokendir = ${path.join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`,
  );
  process.env.SOFTHSM2_CONF = conf;
  execFileSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', 'Sillage DESFire', '--pin', PIN, '--so-pin', '87654321'],
    { stdio: 'ignore' },
  );
  // IT's key ceremony, in short: the master enters the token once, sensitive and non-extractable.
  const { p11, slot } = openToken(SOFTHSM_MODULE, 'Sillage DESFire');
  const s = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  p11.C_Login(s, pkcs11js.CKU_USER, PIN);
  p11.C_CreateObject(s, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_SIGN, value: true },
    { type: pkcs11js.CKA_LABEL, value: hsmKeyLabel('F51230/1') },
    { type: pkcs11js.CKA_VALUE, value: TEST_BADGE.master },
  ]);
  p11.C_Logout(s);
  p11.C_CloseSession(s);
  p11.C_Finalize();

  keys = pkcs11RelayKeys({ module: SOFTHSM_MODULE, tokenLabel: 'Sillage DESFire', pin: PIN });
  pg = await startPostgres();
  pg.createDatabase('sillage');
  db = postgresDb(pg.url('sillage'));
  server = await startServer({
    db,
    port: 0,
    trustAnchorsPem: [],
    desfireKeyStore: keys,
    log: jsonLog(() => {}, 'silent'),
  });
  const creds = await registerWorkstation(server.issuer, await server.directory.createEnrolmentToken('PC'), 'PC');
  custody = new RelayKeyCustody(lazyClient(server.issuer, async () => creds, { allowHttp: true, timeoutMs: 3000 }));
}, 120_000);

afterAll(async () => {
  await server?.close();
  await db?.close();
  await pg?.stop();
  keys?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('relay with the master key in a PKCS#11 token', () => {
  it('the master key cannot be read out of the token', () => {
    // The server's key store has the module initialised in this process already.
    const { p11, slot } = openToken(SOFTHSM_MODULE, 'Sillage DESFire');
    const s = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    p11.C_FindObjectsInit(s, [{ type: pkcs11js.CKA_LABEL, value: hsmKeyLabel('F51230/1') }]);
    const h = p11.C_FindObjects(s)!;
    p11.C_FindObjectsFinal(s);
    expect(() => p11.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_VALUE }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
    p11.C_CloseSession(s);
  });

  it('diversifies inside the token exactly as AN10922 (same key as the software path)', () => {
    const m = Buffer.from('04782E21801D803042F54E585020416275', 'hex');
    // The token holds TEST_BADGE.master; AN10922's own vector uses another master, so compare with the software path.
    const inToken = keys.derive('F51230/1', m)!;
    expect(
      inToken.equals(relayKeysFrom({ 'F51230/1': TEST_BADGE.master.toString('hex') }).derive('F51230/1', m)!),
    ).toBe(true);
    expect(() => keys.derive('F51230/1', Buffer.alloc(0))).toThrow(/undiversified/);
    expect(keys.derive('F51230/9', m)).toBeNull();
  });

  it('a genuine badge is authenticated through the relay; a clone is refused', async () => {
    const genuine = hospitalBadge('CHU-000123');
    const c = await readBadgeCredential({ transmit: async (a) => genuine.process(a) }, [TEST_BADGE.profile], custody);
    expect(c).toMatchObject({ badgeId: 'CHU-000123', proof: 'desfire-aes-diversified' });
    const clone = hospitalBadge('CHU-000123', { master: Buffer.alloc(16, 0x77), uid: genuine.uid });
    await expect(
      readBadgeCredential({ transmit: async (a) => clone.process(a) }, [TEST_BADGE.profile], custody),
    ).rejects.toMatchObject({ code: 'badge-not-genuine' });
    const rows = await server.audit.query({ action: 'badge.relay-auth' });
    expect(rows.map((r) => r.outcome)).toEqual(['ok']);
  });
});
