// NXP's published command transcripts replayed through the agent's own DESFire code (DesfireCard +
// LocalKeyCustody), byte for byte: AN12196 rev. 2.0 (NTAG 424 DNA features and hints, whose EV2 secure
// messaging is DESFire EV2's) §5.6 Table 14 AuthenticateEV2First, §5.8.2 Table 17 WriteData in full mode,
// §5.9 Table 18 ChangeFileSettings; §5.10 Table 19 AuthenticateEV2First with key 3, Tables 21-22
// WriteData (full, plain), §5.14 Table 23 AuthenticateEV2NonFirst, §5.16 Tables 25-26 ChangeKey (another
// key, with CRC32, then the authenticated key). Values as transcribed by pylibsdm (tests/test_ntag424dna.py)
// and other public implementations, cross-checked against each other. The only thing fixed by the test
// is the reader's random RndA, which NXP prints.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LocalKeyCustody } from './custody';
import { DesfireCard } from './protocol';
import { fixedRandom16 } from '../../../../../testbed/fixed-random';
import type { ApduTransport } from '../../types';

vi.mock('node:crypto', async (orig) =>
  (await import('../../../../../testbed/fixed-random')).withFixedRandom16(await orig()),
);

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const H = (b: Buffer) => b.toString('hex').toUpperCase();

/**
 * A card that answers exactly NXP's transcript. Each exchange is the whole command APDU as NXP prints
 * it and the answer; the agent may send a long command in frames (0xAF continuation, at most 54 data
 * bytes each), reassembled here before the comparison.
 */
function transcript(exchanges: [string, string][]): ApduTransport & { frames: number[]; left: () => number } {
  let i = 0;
  let pending: { ins: number; data: Buffer } | null = null;
  const frames: number[] = [];
  return {
    frames,
    left: () => exchanges.length - i,
    async transmit(apdu: Buffer) {
      const [cmd, resp] = exchanges[i] ?? ['', ''];
      if (!cmd) throw new Error(`APDU after the end of the transcript: ${H(apdu)}`);
      const want = h(cmd);
      const data = apdu.length > 5 ? apdu.subarray(5, apdu.length - 1) : Buffer.alloc(0);
      frames.push(data.length);
      pending = pending ? { ins: pending.ins, data: Buffer.concat([pending.data, data]) } : { ins: apdu[1]!, data };
      const wantData = want.length > 5 ? want.subarray(5, want.length - 1) : Buffer.alloc(0);
      if (pending.data.length < wantData.length && pending.data.equals(wantData.subarray(0, pending.data.length)))
        return h('91AF');
      expect(H(Buffer.concat([want.subarray(0, 2), pending.data])), `exchange ${i + 1}`).toBe(
        H(Buffer.concat([Buffer.from([0x90, pending.ins]), wantData])),
      );
      pending = null;
      i++;
      return h(resp);
    },
  };
}

const zeroKeyCustody = () => new LocalKeyCustody(() => Buffer.alloc(16));
const ref = (keyNo: number) => ({ aid: Buffer.alloc(3), keyNo, uid: null, systemId: Buffer.alloc(0) });

afterEach(() => {
  fixedRandom16.length = 0;
});

describe('AN12196 transcripts through the agent', () => {
  it('Tables 14, 17, 18: EV2First (key 0), WriteData full (159 bytes, in frames), ChangeFileSettings', async () => {
    fixedRandom16.push(h('13C5DB8A5930439FC3DEF9A4C675360F'));
    const t = transcript([
      ['9071000002000000', 'A04C124213C186F22399D33AC2A3021591AF'],
      [
        '90AF000020 35C3E05A752E0144BAC0DE51C1F22C56 B34408A23D8AEA266CAB947EA8E0118D 00',
        '3FA64DB5446D1F34CD6EA311167F5E49 85B89690C04A05F17FA7AB2F08120663 9100',
      ],
      [
        `908D00009F 02000000800000
         421C73A27D827658AF481FDFF20A5025B559D0E3AA21E58D347F343CFFC768BF
         E596C706BC00F2176781D4B0242642A0FF5A42C461AAF894D9A1284B8C76BCFA
         658ACD40555D362E08DB15CF421B51283F9064BCBE20E96CAE545B407C9D651A
         3315B27373772E5DA2367D2064AE054AF996C6F1F669170FA88CE8C4E3A4A7BB
         BEF0FD971FF532C3A802AF745660F2B4 D1D9A8499661EBF3 00`,
        'FC222E5F7A542452 9100',
      ],
      ['905F000019 02 61B6D97903566E84C3AE5274467E89EA D799B7C1A0EF7A04 00', '57BFF87B1241E93D 9100'],
    ]);
    const card = new DesfireCard(t);
    await card.authenticate('ev2', 0, zeroKeyCustody(), ref(0));
    const ndef = h(`0051D1014D550463686F6F73652E75726C2E636F6D2F6E7461673432343F653D
                    3030303030303030303030303030303030303030303030303030303030303030
                    26633D3030303030303030303030303030303000000000000000000000000000
                    0000000000000000000000000000000000000000000000000000000000000000`);
    // NXP's header says 128 bytes (0x80) of data: the plain length, as the MAC of step 13 requires.
    expect(await card.command(0x8d, h('02000000800000'), ndef, 'full', 'WriteData')).toEqual(Buffer.alloc(0));
    expect(
      await card.command(0x5f, h('02'), h('4000E0C1F121200000430000430000'), 'full', 'ChangeFileSettings'),
    ).toEqual(Buffer.alloc(0));
    expect(t.left()).toBe(0);
    // 159 data bytes went in frames of at most 54.
    expect(Math.max(...t.frames)).toBeLessThanOrEqual(54);
  });

  it('Tables 19, 21-23, 25-26: EV2First key 3, 2 writes, EV2NonFirst key 0 (TI, counter kept), ChangeKey', async () => {
    fixedRandom16.push(h('B98F4C50CF1C2E084FD150E33992B048'), h('60BE759EDA560250AC57CDDC11743CF6'));
    const t = transcript([
      ['9071000002030000', 'B875CEB0E66A6C5CD00898DC371F92D191AF'],
      [
        '90AF000020 FF0306E47DFBC50087C4D8A78E88E62D E1E8BE457AA477C707E2F0874916A8B1 00',
        '0CC9A8094A8EEA683ECAAC5C7BF20584 206D0608D477110FC6B3D5D3F65C3A6A 9100',
      ],
      ['908D00001F 030000000A0000 6B5E6804909962FC4E3FF5522CF0F843 6C0C53315B9C73AA 00', 'C26D236E4A7C046D 9100'],
      ['908D000019 010E0000120000 FF0506E1050080828300000000000000000000 00', '9100'],
      ['90770000010000', 'A6A2B3C572D06C097BB8DB70463E22DC91AF'],
      [
        '90AF000020 BE7D45753F2CAB85F34BC60CE58B9407 63FE969658A532DF6D95EA2773F6E991 00',
        'B888349C24B315EAB5B589E279C8263E 9100',
      ],
      [
        '90C4000029 02 2CF362B7BF4311FF3BE1DAA295E8C68D E09050560D19B9E16C2393AE9CD1FAC7 5D0CE20BCD1D06E6 00',
        '203BB55D1089D587 9100',
      ],
      ['90C4000029 00 C0EB4DEEFEDDF0B513A03A95A7549181 8580503190D4D05053FF75668A01D6FD A6610234BDED6432 00', '9100'],
    ]);
    const card = new DesfireCard(t);
    const custody = zeroKeyCustody();
    await card.authenticate('ev2', 3, custody, ref(3));
    await card.command(0x8d, h('030000000A0000'), h('0102030405060708090A'), 'full', 'WriteData');
    await card.command(0x8d, h('010E0000120000'), h('FF0506E1050080828300000000000000000000'), 'plain', 'WriteData');
    await card.authenticate('ev2', 0, custody, ref(0), { nonFirst: true });
    await card.changeKey(2, h('F3847D627727ED3BC9C4CC050489B966'), Buffer.alloc(16), 1);
    await card.changeKey(0, h('5004BF991F408672B1EF00F08F9E8647'), Buffer.alloc(16), 1);
    expect(t.left()).toBe(0);
    // Changing the authenticated key ends the session.
    expect(card.authenticated).toBe(false);
  });

  it('a card answer that differs from the transcript by one bit fails the authentication', async () => {
    fixedRandom16.push(h('13C5DB8A5930439FC3DEF9A4C675360F'));
    const t = transcript([
      ['9071000002000000', 'A04C124213C186F22399D33AC2A3021591AF'],
      [
        '90AF000020 35C3E05A752E0144BAC0DE51C1F22C56 B34408A23D8AEA266CAB947EA8E0118D 00',
        '3FA64DB5446D1F34CD6EA311167F5E49 85B89690C04A05F17FA7AB2F08120662 9100',
      ],
    ]);
    await expect(new DesfireCard(t).authenticate('ev2', 0, zeroKeyCustody(), ref(0))).rejects.toMatchObject({
      code: 'auth-failed',
    });
  });
});
