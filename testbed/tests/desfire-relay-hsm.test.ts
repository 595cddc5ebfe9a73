// Server custody with the DESFire master key in a PKCS#11 token (SoftHSM standing in for an HSM): the
// key is created non-extractable, the server diversifies with the token's AES-CMAC (AN10922's padding
// bridged with the token's zero-block encryption), checked against the published AN10922/AN10957
// vectors and against @sillage/protocol's pure function, and a badge is authenticated through the relay
// end to end (agent custody → server → token → the grant's check of the card's answer); a clone is
// refused, a legacy-keyed badge passes with its profile only.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBadgeCredential } from '../../electron/core/devices/badge/desfire/credential';
import { RelayKeyCustody } from '../../electron/core/oidc/relay-custody';
import type { SessionServerClient } from '../../electron/core/oidc/server-client';
import type { SessionServer } from '../../server/src/app';
import { hsmKeyLabel, pkcs11RelayKeys } from '../../server/src/desfire-hsm';
import { diversifyAes128 } from '@sillage/protocol';
import type { Diversification } from '@sillage/protocol';
import { uidOf } from '../badges';
import { hospitalBadge, TEST_BADGE } from '../cards/desfire-card';
import type { DesfireEmulator } from '../cards/desfire-card';
import { refusal } from '../server-refusal';
import { openToken, SOFTHSM_MODULE } from '../softhsm';
import type { BadgeProfile } from '../../electron/core/config/badge-profile';
import { enrolWorkstation, STAFF, startServerStack } from '../stack';
import type { ServerStack } from '../stack';

let stack: ServerStack;
let dir: string;
let server: SessionServer;
let keys: ReturnType<typeof pkcs11RelayKeys>;
let custody: RelayKeyCustody;
let client: () => Promise<SessionServerClient>;
let accountId: string;
const PIN = '4567';

/** The tap's proof, presented in the badge grant: the server checks the card's answer (mfa_required = genuine). */
async function grantedTap(emu: DesfireEmulator, profile: BadgeProfile = TEST_BADGE.profile) {
  const c = await readBadgeCredential({ transmit: async (a) => emu.process(a) }, [profile], custody);
  return refusal((await client()).badge(c.proof));
}

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
  const importKey = (name: string, value: Buffer, encrypt = true) =>
    p11.C_CreateObject(s, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_ENCRYPT, value: encrypt },
      { type: pkcs11js.CKA_LABEL, value: hsmKeyLabel(name) },
      { type: pkcs11js.CKA_VALUE, value },
    ]);
  importKey('F51230/1', TEST_BADGE.master);
  importKey('A10922/0', Buffer.from('00112233445566778899AABBCCDDEEFF', 'hex'));
  importKey('A10957/0', Buffer.from('F3F9377698707B688EAF84ABE39E3791', 'hex'));
  importKey('F51230/2', TEST_BADGE.master, false);
  p11.C_Logout(s);
  p11.C_CloseSession(s);
  p11.C_Finalize();

  keys = pkcs11RelayKeys({ module: SOFTHSM_MODULE, tokenLabel: 'Sillage DESFire', pin: PIN });
  stack = await startServerStack({ desfireKeyStore: keys });
  server = stack.server;
  client = (await enrolWorkstation(server, 'PC')).client;
  custody = new RelayKeyCustody(client);
  accountId = (await server.directory.addAccount(STAFF.camille)).id;
}, 120_000);

afterAll(async () => {
  await stack?.close();
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

  it('diversifies inside the token as AN10922 publishes it (long and short inputs) and as the pure function', () => {
    const H = (b: Buffer | null) => b!.toString('hex').toUpperCase();
    const long = Buffer.from('04782E21801D803042F54E585020416275', 'hex');
    const short = Buffer.from('04DEADBEEFFEED', 'hex');
    expect(H(keys.derive('A10922/0', long, 'an10922'))).toBe('A8DD63A3B89D54B37CA802473FDA9175');
    expect(H(keys.derive('A10957/0', short, 'an10922'))).toBe('0BB408BAFF98B6EE9F2E1585777F6A51');
    expect(H(keys.derive('A10957/0', short, 'legacy-unpadded'))).toBe('721E2C01E81AF85D815633969CEA2607');
    for (const scheme of ['an10922', 'legacy-unpadded'] as Diversification[])
      for (let n = 1; n <= 31; n++) {
        const m = Buffer.alloc(n, 0xa0 + n);
        expect(H(keys.derive('F51230/1', m, scheme)), `${scheme}, ${n} bytes`).toBe(
          H(diversifyAes128(TEST_BADGE.master, m, scheme)),
        );
      }
    expect(() => keys.derive('F51230/1', Buffer.alloc(0), 'an10922')).toThrow(/undiversified/);
    expect(keys.derive('F51230/9', long, 'an10922')).toBeNull();
  });

  it('a token key without CKA_ENCRYPT serves long inputs only, and says what it lacks for short ones', () => {
    const long = Buffer.from('04782E21801D803042F54E585020416275', 'hex');
    expect(keys.derive('F51230/2', long, 'an10922')).toEqual(diversifyAes128(TEST_BADGE.master, long));
    expect(() => keys.derive('F51230/2', Buffer.alloc(13, 1), 'an10922')).toThrow(/CKA_ENCRYPT/);
  });

  it("a genuine badge's answer to the server's challenge is checked with the token's key; a clone is refused", async () => {
    const genuine = hospitalBadge('CHU-000123');
    await server.directory.bindBadge({ uid: uidOf(genuine), number: 'CHU-000123' }, accountId);
    expect(await grantedTap(genuine)).toMatchObject({ code: 'mfa_required', body: { display_name: 'Camille MARTIN' } });
    const clone = hospitalBadge('CHU-000123', { master: Buffer.alloc(16, 0x77), uid: genuine.uid });
    await expect(
      readBadgeCredential({ transmit: async (a) => clone.process(a) }, [TEST_BADGE.profile], custody),
    ).rejects.toMatchObject({ code: 'badge-not-genuine' });
    const rows = await server.audit.query({ action: 'reopen.badge' });
    expect(rows.map((r) => [r.reason, r.details?.key])).toEqual([['mfa_required', 'F51230/1']]);
  });

  it('a badge keyed by the legacy unpadded scheme authenticates through the HSM with its profile only', async () => {
    const legacy = hospitalBadge('CHU-000777', { diversification: 'legacy-unpadded' });
    await server.directory.bindBadge({ uid: uidOf(legacy), number: 'CHU-000777' }, accountId);
    await expect(
      readBadgeCredential({ transmit: async (a) => legacy.process(a) }, [TEST_BADGE.profile], custody),
    ).rejects.toMatchObject({ code: 'badge-not-genuine' });
    legacy.powerOn();
    expect(await grantedTap(legacy, { ...TEST_BADGE.profile, diversification: 'legacy-unpadded' })).toMatchObject({
      code: 'mfa_required',
    });
    const rows = await server.audit.query({ action: 'reopen.badge' });
    expect(rows.map((r) => r.details)).toContainEqual(
      expect.objectContaining({ uid: uidOf(legacy), key: 'F51230/1', diversification: 'legacy-unpadded' }),
    );
  });
});
