// The session server's key paths against published vectors, without a network: the configuration keys
// (relayKeysFrom) against AN10922 §2.2.1 and AN10957 pp. 13-14, and the relay's two steps (DesfireRelay
// begin/finish, the shared-key path: NXP's keys are not diversified) against NXP's AN12196 rev. 2.0
// EV2First transcripts (Table 14, key 0; Table 19, key 3), the relay's RndA fixed to NXP's. The PKCS#11
// path is in desfire-relay-hsm.test.ts.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DesfireRelay, RelayError, relayKeysFrom } from '../../server/src/desfire-relay';
import type { WorkstationAssertions } from '../../server/src/assertions';
import type { SingleUse } from '../../server/src/single-use';
import { fixedRandom16 } from '../fixed-random';

vi.mock('node:crypto', async (orig) => (await import('../fixed-random')).withFixedRandom16(await orig()));
afterEach(() => {
  fixedRandom16.length = 0;
});

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const H = (b: Buffer) => b.toString('hex').toUpperCase();
const b64 = (s: string) => h(s).toString('base64url');
const unb64 = (s: unknown) => H(Buffer.from(String(s), 'base64url'));

describe('configuration keys (relayKeysFrom)', () => {
  const keys = relayKeysFrom({
    'A10922/0': '00112233445566778899AABBCCDDEEFF',
    'A10957/0': 'F3F9377698707B688EAF84ABE39E3791',
  });
  it('AN10922 §2.2.1, long input', () => {
    expect(H(keys.derive('A10922/0', h('04782E21801D803042F54E585020416275'), 'an10922')!)).toBe(
      'A8DD63A3B89D54B37CA802473FDA9175',
    );
  });
  it('AN10957, short input: the spec, and the legacy scheme only when asked', () => {
    expect(H(keys.derive('A10957/0', h('04DEADBEEFFEED'), 'an10922')!)).toBe('0BB408BAFF98B6EE9F2E1585777F6A51');
    expect(H(keys.derive('A10957/0', h('04DEADBEEFFEED'), 'legacy-unpadded')!)).toBe(
      '721E2C01E81AF85D815633969CEA2607',
    );
    expect(keys.derive('A10957/1', h('04DEADBEEFFEED'), 'an10922')).toBeNull();
  });
});

describe('relay steps (DesfireRelay) against AN12196 EV2First transcripts', () => {
  const relay = new DesfireRelay(
    relayKeysFrom({ 'F51230/0': '00'.repeat(16), 'F51230/3': '00'.repeat(16) }),
    Buffer.alloc(32, 7),
    {} as WorkstationAssertions,
    { claim: async () => true } as unknown as SingleUse,
    () => new Date(),
  );
  const begin = (keyNo: number, encRndB: string, extra: Record<string, unknown> = {}) =>
    relay.begin('ws-1', {
      scheme: 'ev2',
      aid: h('3012F5').toString('base64url'),
      keyNo,
      encRndB: b64(encRndB),
      ...extra,
    });

  // AN12196: the card's random (the relay's RndA here), its encrypted RndB, the relay's answer, the card's
  // answer, and the session keys of the table. Table 19's key 3 is diversified the legacy way.
  it.each([
    {
      table: 'Table 14 (key 0): the relay’s answer and session keys are NXP’s',
      keyNo: 0,
      rndA: '13C5DB8A5930439FC3DEF9A4C675360F',
      encRndB: 'A04C124213C186F22399D33AC2A30215',
      reply: '35C3E05A752E0144BAC0DE51C1F22C56B34408A23D8AEA266CAB947EA8E0118D',
      cardReply: '3FA64DB5446D1F34CD6EA311167F5E4985B89690C04A05F17FA7AB2F08120663',
      keys: { ti: '9D00C4DF', enc: '1309C877509E5A215007FF0ED19CA564', mac: '4C6626F5E72EA694202139295C7A7FC7' },
      diversification: 'an10922',
    },
    {
      table: 'Table 19 (key 3)',
      keyNo: 3,
      rndA: 'B98F4C50CF1C2E084FD150E33992B048',
      encRndB: 'B875CEB0E66A6C5CD00898DC371F92D1',
      reply: 'FF0306E47DFBC50087C4D8A78E88E62DE1E8BE457AA477C707E2F0874916A8B1',
      cardReply: '0CC9A8094A8EEA683ECAAC5C7BF20584206D0608D477110FC6B3D5D3F65C3A6A',
      keys: { ti: '7614281A', enc: '7A93D6571E4B180FCA6AC90C9A7488D4', mac: 'FC4AF159B62E549B5812394CAB1918CC' },
      diversification: 'legacy-unpadded',
    },
  ])('$table', async (v) => {
    fixedRandom16.push(h(v.rndA));
    const b = begin(v.keyNo, v.encRndB, v.diversification === 'an10922' ? {} : { diversification: v.diversification });
    expect(unb64(b.reply)).toBe(v.reply);
    const f = await relay.finish('ws-1', { handle: b.handle, cardReply: b64(v.cardReply) });
    expect(f.keys.scheme === 'ev2' && { ti: unb64(f.keys.ti), enc: unb64(f.keys.enc), mac: unb64(f.keys.mac) }).toEqual(
      v.keys,
    );
    expect(f.diversification).toBe(v.diversification);
  });

  it('a card answer one bit off is refused as not genuine; an unknown diversification is a bad request', async () => {
    fixedRandom16.push(h('13C5DB8A5930439FC3DEF9A4C675360F'));
    const b = begin(0, 'A04C124213C186F22399D33AC2A30215');
    await expect(
      relay.finish('ws-1', {
        handle: b.handle,
        cardReply: b64('3FA64DB5446D1F34CD6EA311167F5E4985B89690C04A05F17FA7AB2F08120662'),
      }),
    ).rejects.toMatchObject({ status: 403, error: 'invalid_grant', code: 'badge_not_genuine' });
    expect(() => begin(0, 'A04C124213C186F22399D33AC2A30215', { diversification: 'an10957' })).toThrow(RelayError);
  });
});
