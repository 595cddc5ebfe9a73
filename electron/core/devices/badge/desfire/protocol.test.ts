// DESFire protocol against the testbed emulator, in process (the same paths through pcscd + vpcd are in
// testbed/tests/desfire-pcsc.test.ts). What matters here: both authentications, every communication
// mode, and that a wrong key, a flipped byte or a short frame each end in a typed error.
import { describe, expect, it } from 'vitest';
import { DesfireEmulator } from '../../../../../testbed/cards/desfire-card';
import { diversifyAes128 } from './crypto';
import { diversificationInput, FixedKeyCustody, LocalKeyCustody } from './custody';
import { BadgeRefused, readBadgeCredential, readBadgeNumber, TAP_REFUSALS, tapRefusal } from './credential';
import { aidBytes, DesfireCard } from './protocol';
import { DESFIRE_ERRORS, DesfireError } from './errors';
import { isAgentErrorCode } from '../../../../../shared/errors';
import type { ApduTransport } from '../../types';
import { badgeProfileProblem } from '../../../config/badge-profile';
import type { BadgeProfile } from '../../../config/badge-profile';

const MASTER = Buffer.from('00112233445566778899AABBCCDDEEFF', 'hex');
const AID = aidBytes('F51230');
const SYS = '4E585020416275';

function transport(
  emu: DesfireEmulator,
  tamper?: (apdu: Buffer, res: Buffer) => Buffer,
): ApduTransport & { count: number } {
  const t = {
    count: 0,
    async transmit(apdu: Buffer) {
      t.count++;
      const res = emu.process(apdu);
      return tamper ? tamper(apdu, res) : res;
    },
  };
  return t;
}

function badge(
  opts: {
    mode?: 'plain' | 'mac' | 'full';
    generation?: 'EV1' | 'EV3';
    master?: Buffer;
    randomUid?: boolean;
    number?: string;
    sys?: string;
    diversification?: 'an10922' | 'legacy-unpadded';
  } = {},
) {
  const emu = new DesfireEmulator({ generation: opts.generation ?? 'EV3', randomUid: opts.randomUid ?? false });
  const key = diversifyAes128(
    opts.master ?? MASTER,
    diversificationInput(emu.uid, AID, opts.sys ?? SYS),
    opts.diversification ?? 'an10922',
  );
  const data = Buffer.alloc(16);
  data.write(opts.number ?? 'CHU-000123');
  emu.install(AID, {
    keys: [Buffer.alloc(16), key, MASTER],
    files: { 1: { mode: opts.mode ?? 'mac', read: 1, data } },
  });
  return emu;
}

const profile = (over: Partial<BadgeProfile> = {}): BadgeProfile => ({
  name: 'chu',
  aid: 'F51230',
  keyNo: 1,
  fileNo: 1,
  length: 16,
  mode: 'mac',
  systemId: SYS,
  ...over,
});
const custody = () =>
  new LocalKeyCustody((aid, keyNo) => (aid.equals(AID) && (keyNo === 1 || keyNo === 2) ? MASTER : null));

describe('DESFire tap and credential read (in process)', () => {
  it('a tap is UID, select and EV2First (2 frames): 4 APDUs, a proof naming the chip it authenticated', async () => {
    const emu = badge();
    const t = transport(emu);
    const c = await readBadgeCredential(t, [profile()], custody());
    const uid = emu.uid.toString('hex').toUpperCase();
    expect(c).toEqual({
      uid,
      proof: { kind: 'local-key', uid },
      strength: 'desfire-aes-diversified',
      profile: 'chu',
      apdus: 4,
    });
    expect(t.count).toBe(4);
    expect(emu.log).toEqual([0x5a, 0x71, 0xaf]);
  });

  for (const mode of ['mac', 'full'] as const) {
    it(`EV2First + ReadData in ${mode} mode yields the badge number in 5 APDUs`, async () => {
      const t = transport(badge({ mode }));
      const c = await readBadgeNumber(t, profile({ mode }), custody());
      expect(c).toMatchObject({ number: 'CHU-000123', apdus: 5 });
      expect(t.count).toBe(5);
    });
  }

  it('a badge keyed with the spec’s AN10922 key authenticates; a legacy-keyed one only with its profile', async () => {
    // Sillage's own layout: UID (7) || AID (3) || system id (3) = 13 bytes, where the two schemes differ.
    const short = profile({ systemId: '434855' });
    const spec = badge({ sys: '434855' });
    expect((await readBadgeCredential(transport(spec), [short], custody())).proof.kind).toBe('local-key');
    const legacy = badge({ sys: '434855', diversification: 'legacy-unpadded' });
    await expect(readBadgeCredential(transport(legacy), [short], custody())).rejects.toMatchObject({
      code: 'badge-not-genuine',
    });
    legacy.powerOn();
    const c = await readBadgeNumber(
      transport(legacy),
      profile({ systemId: '434855', diversification: 'legacy-unpadded' }),
      custody(),
    );
    expect(c.number).toBe('CHU-000123');
  });

  it('profiles: plain read mode refused with the profile named; diversification checked', () => {
    const p = { name: 'chu', aid: 'F51230', keyNo: 1, fileNo: 1 };
    expect(badgeProfileProblem({ ...p, mode: 'mac' })).toBeNull();
    expect(badgeProfileProblem({ ...p, mode: 'full', diversification: 'legacy-unpadded' })).toBeNull();
    expect(badgeProfileProblem({ ...p, mode: 'plain' })).toMatch(/profil « chu » : mode plain refusé/);
    expect(badgeProfileProblem({ ...p, diversification: 'an10957' })).toMatch(/« chu » : diversification/);
  });

  it('EV1 (AuthenticateAES) reads an encrypted file', async () => {
    const t = transport(badge({ generation: 'EV1', mode: 'full' }));
    const c = await readBadgeNumber(t, profile({ auth: 'aes', mode: 'full' }), custody());
    expect(c.number).toBe('CHU-000123');
  });

  it('legacy AuthenticateAES (EV1) with CMAC-chained messaging', async () => {
    const t = transport(badge({ generation: 'EV1' }));
    expect((await readBadgeNumber(t, profile({ auth: 'aes' }), custody())).number).toBe('CHU-000123');
    expect(
      (await readBadgeCredential(transport(badge({ generation: 'EV1' })), [profile({ auth: 'aes' })], custody())).proof
        .kind,
    ).toBe('local-key');
    // An EV1 card does not know EV2First: a profile asking for it fails clearly.
    await expect(
      readBadgeCredential(transport(badge({ generation: 'EV1' })), [profile()], custody()),
    ).rejects.toMatchObject({ code: 'badge-read-failed' });
  });

  it('a clone (same UID, other key) is refused as not genuine', async () => {
    const genuine = badge();
    const clone = new DesfireEmulator({ uid: genuine.uid });
    clone.install(AID, {
      keys: [Buffer.alloc(16), Buffer.alloc(16, 0x11)],
      files: { 1: { mode: 'mac', read: 1, data: Buffer.from('CHU-000123') } },
    });
    const e = await readBadgeCredential(transport(clone), [profile()], custody()).catch((x) => x);
    expect(e).toBeInstanceOf(BadgeRefused);
    expect(e.code).toBe('badge-not-genuine');
  });

  it("a card answer that does not prove the key (flipped byte) is refused by the workstation's key check", async () => {
    const t = transport(badge(), (apdu, res) => {
      if (apdu[1] !== 0xaf) return res;
      const r = Buffer.from(res);
      r[5]! ^= 0x01;
      return r;
    });
    const e = await readBadgeCredential(t, [profile()], custody()).catch((x) => x);
    expect(e.code).toBe('badge-not-genuine');
  });

  it('a flipped MAC byte in the answer is an integrity error', async () => {
    const t = transport(badge(), (apdu, res) => {
      if (apdu[1] !== 0xbd) return res;
      const r = Buffer.from(res);
      r[r.length - 3]! ^= 0x01;
      return r;
    });
    const e = await readBadgeNumber(t, profile(), custody()).catch((x) => x);
    expect(e.code).toBe('badge-read-failed');
    expect(e.cause).toBeInstanceOf(DesfireError);
    expect(e.cause.code).toBe('integrity');
  });

  it('a truncated authentication frame is malformed', async () => {
    const t = transport(badge(), (apdu, res) =>
      apdu[1] === 0xaf ? Buffer.concat([res.subarray(0, 10), res.subarray(res.length - 2)]) : res,
    );
    const e = await readBadgeCredential(t, [profile()], custody()).catch((x) => x);
    expect(e.cause.code).toBe('malformed');
  });

  it('a random-UID badge proves its real UID’s key, read through GetCardUID with the application UID key', async () => {
    const emu = badge({ randomUid: true });
    const t = transport(emu);
    const c = await readBadgeCredential(t, [profile({ uidKeyNo: 2 })], custody());
    expect(c.uid).toBe(emu.uid.toString('hex').toUpperCase());
    expect(c.proof).toEqual({ kind: 'local-key', uid: c.uid });
    expect((await readBadgeNumber(transport(emu), profile({ uidKeyNo: 2 }), custody())).number).toBe('CHU-000123');
    await expect(readBadgeCredential(transport(badge({ randomUid: true })), [profile()], custody())).rejects.toThrow(
      /UID aléatoire/,
    );
  });

  it('a flipped MAC byte in GetCardUID (random-UID badge) is an integrity error, nothing proven', async () => {
    const t = transport(badge({ randomUid: true }), (apdu, res) => {
      if (apdu[1] !== 0x51) return res;
      const r = Buffer.from(res);
      r[r.length - 3]! ^= 0x40;
      return r;
    });
    const e = await readBadgeCredential(t, [profile({ uidKeyNo: 2 })], custody()).catch((x) => x);
    expect(e.code).toBe('badge-read-failed');
    expect(e.cause.code).toBe('integrity');
  });

  it('no matching application: UID only, refused unless policy allows it', async () => {
    const emu = new DesfireEmulator();
    await expect(readBadgeCredential(transport(emu), [profile()], custody())).rejects.toMatchObject({
      code: 'badge-no-profile',
    });
    const weak = await readBadgeCredential(transport(emu), [profile()], custody(), { allowUidOnly: true });
    const uid = emu.uid.toString('hex').toUpperCase();
    expect(weak).toMatchObject({ strength: 'uid-only', proof: { kind: 'uid-only', uid } });
  });

  it('GetVersion tells EV1, EV2 and EV3 apart', async () => {
    for (const g of ['EV1', 'EV2', 'EV3'] as const) {
      const v = await new DesfireCard(transport(new DesfireEmulator({ generation: g }))).getVersion();
      expect(v.generation).toBe(g);
    }
  });

  it('personalisation commands: create, write, change keys, and the old key stops working', async () => {
    const emu = new DesfireEmulator();
    const card = new DesfireCard(transport(emu));
    await card.selectApplication(Buffer.alloc(3));
    await card.createApplication(AID, 0x0b, 2);
    await card.selectApplication(AID);
    const k = new FixedKeyCustody(Buffer.alloc(16));
    await card.authenticate('ev2', 0, k, { aid: AID, keyNo: 0, uid: null, systemId: Buffer.alloc(0) });
    await card.createStdDataFile(1, 'full', { read: 1, write: 0, readWrite: 0, change: 0 }, 16);
    await card.writeData(1, 0, Buffer.from('0123456789ABCDEF'), 'full');
    const newKey = Buffer.alloc(16, 0x42);
    await card.changeKey(1, newKey, Buffer.alloc(16), 1);
    await card.changeKey(0, Buffer.alloc(16, 0x24), Buffer.alloc(16), 1);
    expect(card.authenticated).toBe(false);
    await expect(
      card.authenticate('ev2', 0, k, { aid: AID, keyNo: 0, uid: null, systemId: Buffer.alloc(0) }),
    ).rejects.toMatchObject({ code: 'auth-failed' });
    k.setKey(newKey);
    await card.authenticate('ev2', 1, k, { aid: AID, keyNo: 1, uid: null, systemId: Buffer.alloc(0) });
    expect((await card.readData(1, 0, 16, 'full')).toString()).toBe('0123456789ABCDEF');
    expect(await card.getCardUid()).toEqual(emu.uid);
  });
});

describe('a failed tap → the code the user reads', () => {
  it('maps every DESFire failure kind to a catalog code; only a failed authentication says "not genuine"', () => {
    for (const kind of DESFIRE_ERRORS) {
      const r = tapRefusal(new DesfireError(kind, `échec ${kind}`, 0xae));
      expect(isAgentErrorCode(r.code), kind).toBe(true);
      expect(r.code === 'badge-not-genuine', kind).toBe(kind === 'auth-failed');
      expect(r.code === 'server-unreachable', kind).toBe(kind === 'custody-unavailable');
      expect(r.message).toBe(`échec ${kind}`);
    }
  });

  it('maps every refusal of the tap, and leaves any other failure a tap to try again', () => {
    const codes = Object.fromEntries(TAP_REFUSALS.map((c) => [c, tapRefusal(new BadgeRefused(c, c)).code]));
    expect(codes).toEqual({
      'badge-not-genuine': 'badge-not-genuine',
      'badge-read-failed': 'badge-unreadable',
      'badge-no-profile': 'badge-not-encoded',
      'custody-unavailable': 'server-unreachable',
    });
    expect(tapRefusal(new TypeError('reader gone')).code).toBe('badge-unreadable');
  });
});
