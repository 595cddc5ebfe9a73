// The DESFire emulator behaves as NXP documents, one test per point: NXP's AN12196 transcripts answered
// byte for byte (EV2First, EV2NonFirst keeping TI and counter, ChangeKey), EV1 encrypted files sent
// encrypted, a random-UID card hiding its UID from GetVersion, factory PICC settings, frame sizes and
// AdditionalFrame chaining both ways. The reader side is the agent's own protocol code.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FixedKeyCustody } from '../devices/badge/desfire/custody';
import { DesfireCard } from '../devices/badge/desfire/protocol';
import { DesfireEmulator, EMU_MAX_COMMAND_FRAME, EMU_MAX_RESPONSE_FRAME } from './desfire-card';
import { fixedRandom16 } from '../../../testbed/fixed-random';
import type { ApduTransport } from '../devices/types';

vi.mock('node:crypto', async (orig) => (await import('../../../testbed/fixed-random')).withFixedRandom16(await orig()));
afterEach(() => {
  fixedRandom16.length = 0;
});

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const H = (b: Buffer) => b.toString('hex').toUpperCase();
const AID = h('3012F5');
const zero = Buffer.alloc(16);
const ref = (keyNo: number) => ({ aid: AID, keyNo, uid: null, systemId: Buffer.alloc(0) });

/** The emulator behind a transport that records every exchange. */
function wire(emu: DesfireEmulator): ApduTransport & { log: [string, string][] } {
  const log: [string, string][] = [];
  return {
    log,
    async transmit(apdu) {
      const r = emu.process(apdu);
      log.push([H(apdu), H(r)]);
      return r;
    },
  };
}

describe('DESFire emulator', () => {
  it('answers NXP’s AN12196 transcript: EV2First key 3, EV2NonFirst key 0 (TI, CmdCtr kept), ChangeKey', async () => {
    // The card's randoms as NXP prints them (Table 19: RndB, TI; Table 23: RndB); the reader's RndA too.
    const cardRandom = [h('91517975190DCEA6104948EFA3085C1B'), h('7614281A'), h('6924E8D09722659A2E7DEC68E66312B8')];
    const emu = new DesfireEmulator({ random: (n) => (cardRandom.length ? cardRandom.shift()! : Buffer.alloc(n)) });
    emu.install(AID, { keys: [zero, zero, zero, zero, zero], keySettings: 0x0b });
    fixedRandom16.push(h('B98F4C50CF1C2E084FD150E33992B048'), h('60BE759EDA560250AC57CDDC11743CF6'));
    const t = wire(emu);
    const card = new DesfireCard(t);
    const custody = new FixedKeyCustody(zero);
    await card.selectApplication(AID);
    await card.authenticate('ev2', 3, custody, ref(3));
    // Two MACed commands bring the counter to 2, where NXP's ChangeKey example runs.
    expect(await card.getKeyVersion(3)).toBe(0);
    expect(await card.getKeyVersion(2)).toBe(0);
    await card.authenticate('ev2', 0, custody, ref(0), { nonFirst: true });
    await card.changeKey(2, h('F3847D627727ED3BC9C4CC050489B966'), zero, 1);
    await card.changeKey(0, h('5004BF991F408672B1EF00F08F9E8647'), zero, 1);
    const nxp: [string, string][] = [
      ['9071000002030000', 'B875CEB0E66A6C5CD00898DC371F92D191AF'],
      [
        '90AF000020FF0306E47DFBC50087C4D8A78E88E62DE1E8BE457AA477C707E2F0874916A8B100',
        '0CC9A8094A8EEA683ECAAC5C7BF20584206D0608D477110FC6B3D5D3F65C3A6A9100',
      ],
      ['90770000010000', 'A6A2B3C572D06C097BB8DB70463E22DC91AF'],
      [
        '90AF000020BE7D45753F2CAB85F34BC60CE58B940763FE969658A532DF6D95EA2773F6E99100',
        'B888349C24B315EAB5B589E279C8263E9100',
      ],
      [
        '90C4000029022CF362B7BF4311FF3BE1DAA295E8C68DE09050560D19B9E16C2393AE9CD1FAC75D0CE20BCD1D06E600',
        '203BB55D1089D5879100',
      ],
      ['90C400002900C0EB4DEEFEDDF0B513A03A95A75491818580503190D4D05053FF75668A01D6FDA6610234BDED643200', '9100'],
    ];
    for (const x of nxp) expect(t.log).toContainEqual(x);
    expect(emu.apps.get(H(AID).toLowerCase())!.keys[2]).toEqual(h('F3847D627727ED3BC9C4CC050489B966'));
  });

  it('EV2NonFirst needs an EV2 session', () => {
    const emu = new DesfireEmulator();
    emu.install(AID, { keys: [zero] });
    expect(H(emu.process(h('905A00000330 12F500')))).toBe('9100');
    expect(H(emu.process(h('90770000010000')))).toBe('91AE');
  });

  it('an EV1 encrypted file is sent encrypted (CRC32, no plaintext on the wire) and written encrypted', async () => {
    const emu = new DesfireEmulator({ generation: 'EV1' });
    const secret = Buffer.from('CHU-000123-SECRET');
    emu.install(AID, {
      keys: [zero, h('11223344556677889900AABBCCDDEEFF')],
      files: { 1: { mode: 'full', read: 1, write: 1, data: Buffer.alloc(32) } },
    });
    const t = wire(emu);
    const card = new DesfireCard(t);
    await card.selectApplication(AID);
    await card.authenticate('aes', 1, new FixedKeyCustody(h('11223344556677889900AABBCCDDEEFF')), ref(1));
    await card.writeData(1, 0, secret, 'full');
    expect(await card.readData(1, 0, secret.length, 'full')).toEqual(secret);
    const [write, read] = t.log.filter(([c]) => c.startsWith('903D') || c.startsWith('90BD'));
    expect(write![0]).not.toContain(H(secret));
    expect(read![1]).not.toContain(H(secret));
    // data (17) + CRC32 (4) padded to 32 bytes, no MAC, then the status.
    expect(read![1]).toHaveLength((32 + 2) * 2);
    // A flipped bit in the encrypted answer fails its CRC.
    const tampered = new DesfireCard({
      transmit: async (a) => {
        const r = emu.process(a);
        if (a[1] === 0xbd) r[0]! ^= 0x01;
        return r;
      },
    });
    await tampered.selectApplication(AID);
    await tampered.authenticate('aes', 1, new FixedKeyCustody(h('11223344556677889900AABBCCDDEEFF')), ref(1));
    await expect(tampered.readData(1, 0, secret.length, 'full')).rejects.toMatchObject({ code: 'integrity' });
  });

  it('a random-UID card does not give its UID in GetVersion, only in GetCardUID after authentication', async () => {
    const emu = new DesfireEmulator({ randomUid: true });
    emu.install(AID, { keys: [zero, zero] });
    const card = new DesfireCard(wire(emu));
    const seen = await card.anticollisionUid();
    expect(seen[0]).toBe(0x08);
    const v = await card.getVersion();
    expect(v.uid).toEqual(Buffer.alloc(7));
    await card.selectApplication(AID);
    await card.authenticate('ev2', 1, new FixedKeyCustody(zero), ref(1));
    expect(await card.getCardUid()).toEqual(emu.uid);
    expect(H(emu.uid)).not.toBe(H(Buffer.alloc(7)));
  });

  it('factory PICC level: 2K3DES zero master key, key settings 0F 01; AES authentication there refused', async () => {
    const emu = new DesfireEmulator();
    const card = new DesfireCard(wire(emu));
    await card.selectApplication(Buffer.alloc(3));
    expect(H(await card.command(0x45, Buffer.alloc(0), Buffer.alloc(0), 'mac', 'GetKeySettings'))).toBe('0F01');
    expect(await card.getKeySettings()).toEqual({ settings: 0x0f, maxKeys: 1, aes: false });
    expect(await card.getKeyVersion(0)).toBe(0);
    await expect(card.authenticate('ev2', 0, new FixedKeyCustody(zero), ref(0))).rejects.toMatchObject({
      code: 'auth-failed',
    });
  });

  it('frames: commands carry at most 54 data bytes, answers 59; longer ones chain with 0xAF both ways', async () => {
    for (const [generation, scheme, mode] of [
      ['EV3', 'ev2', 'full'],
      ['EV3', 'ev2', 'mac'],
      ['EV1', 'aes', 'mac'],
      ['EV1', 'aes', 'full'],
    ] as const) {
      const emu = new DesfireEmulator({ generation });
      emu.install(AID, { keys: [zero, zero], files: { 2: { mode, read: 1, write: 1, data: Buffer.alloc(200) } } });
      const t = wire(emu);
      const card = new DesfireCard(t);
      await card.selectApplication(AID);
      await card.authenticate(scheme, 1, new FixedKeyCustody(zero), ref(1));
      const data = Buffer.from(Array.from({ length: 150 }, (_, i) => i));
      await card.writeData(2, 10, data, mode);
      expect(await card.readData(2, 10, 150, mode)).toEqual(data);
      const writes = t.log.slice(t.log.findIndex(([c]) => c.startsWith('903D')));
      // The write left in several frames, each within the limit, the card asking for the next with 91AF.
      expect(writes[0]![1]).toBe('91AF');
      expect(writes[1]![0].startsWith('90AF')).toBe(true);
      for (const [c] of t.log) expect(c.length / 2 - 6).toBeLessThanOrEqual(EMU_MAX_COMMAND_FRAME);
      const read = t.log.findIndex(([c]) => c.startsWith('90BD'));
      expect(t.log[read]![1].endsWith('91AF')).toBe(true);
      expect(t.log[read]![1].length / 2 - 2).toBe(EMU_MAX_RESPONSE_FRAME);
      expect(t.log[read + 1]![0]).toBe('90AF000000');
    }
  });

  it('a frame over 54 data bytes is a length error', () => {
    const emu = new DesfireEmulator();
    expect(H(emu.process(Buffer.concat([h('903D000037'), Buffer.alloc(55), h('00')])))).toBe('917E');
  });
});
