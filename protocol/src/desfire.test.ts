import { describe, expect, it } from 'vitest';
import { aesCmac, aesEncryptBlock, an10922TokenMessage, cmacSubkeys, diversifyAes128 } from './desfire';
import type { Diversification } from './desfire';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const H = (b: Buffer) => b.toString('hex').toUpperCase();

describe('AES-CMAC — RFC 4493 §4 test vectors', () => {
  const key = h('2b7e1516 28aed2a6 abf71588 09cf4f3c');
  const msg = h(`6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51
                 30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710`);
  it.each([
    [0, 'bb1d6929 e9593728 7fa37d12 9b756746'],
    [16, '070a16b4 6b4d4144 f79bdd9d d04a287c'],
    [40, 'dfa66747 de9ae630 30ca3261 1497c827'],
    [64, '51f0bebf 7e3b9d92 fc497417 79363cfe'],
  ])('message of %i bytes', (len, mac) => {
    expect(H(aesCmac(key, msg.subarray(0, len as number)))).toBe(H(h(mac as string)));
  });

  it('subkeys of RFC 4493 §4 and of AN10922 §2.2.1 (as transcribed by Proxmark3 desfiretest.c)', () => {
    const rfc = cmacSubkeys(aesEncryptBlock(key, Buffer.alloc(16)));
    expect(H(rfc.k1)).toBe('FBEED618357133667C85E08F7236A8DE');
    expect(H(rfc.k2)).toBe('F7DDAC306AE266CCF90BC11EE46D513B');
    const an = cmacSubkeys(aesEncryptBlock(h('00112233445566778899AABBCCDDEEFF'), Buffer.alloc(16)));
    expect(H(an.k1)).toBe('FBC9F75C9413C041DFEE452D3F0706D1');
    expect(H(an.k2)).toBe('F793EEB928278083BFDC8A5A7E0E0D25');
  });
});

describe('AN10922 AES-128 diversification', () => {
  // AN10922 §2.2.1: UID 04782E21801D80, AID 3042F5, system identifier "NXP Abu" (M = 17 bytes);
  // the same vector is in libfreefare test_mifare_key_deriver_an10922.c and Proxmark3 desfiretest.c.
  const long = { master: h('00112233445566778899AABBCCDDEEFF'), m: h('04782E21801D80 3042F5 4E585020416275') };
  // AN10957 pp. 13-14 (M = 7 bytes), the short-input vector libfreefare adopted when fixing its issue 91
  // (PR 118); its AN10922_FLAG_EMULATE_ISSUE_91 result is the unpadded CMAC.
  const short = { master: h('F3F9377698707B688EAF84ABE39E3791'), m: h('04DEADBEEFFEED') };

  it('long input (AN10922 §2.2.1): both schemes agree, as RFC 4493 padding is AN10922 padding there', () => {
    expect(H(diversifyAes128(long.master, long.m, 'an10922'))).toBe('A8DD63A3B89D54B37CA802473FDA9175');
    expect(H(diversifyAes128(long.master, long.m, 'legacy-unpadded'))).toBe('A8DD63A3B89D54B37CA802473FDA9175');
  });

  it('short input (AN10957): padded to 32 bytes; the legacy scheme gives libfreefare’s pre-fix result', () => {
    expect(H(diversifyAes128(short.master, short.m, 'an10922'))).toBe('0BB408BAFF98B6EE9F2E1585777F6A51');
    expect(H(diversifyAes128(short.master, short.m))).toBe('0BB408BAFF98B6EE9F2E1585777F6A51');
    expect(H(diversifyAes128(short.master, short.m, 'legacy-unpadded'))).toBe('721E2C01E81AF85D815633969CEA2607');
  });

  it('Sillage’s own layout (UID 7 || AID 3 || system id 3 = 13 bytes) is a short input', () => {
    const m = h('04112233445566 3012F5 434855');
    expect(diversifyAes128(long.master, m, 'an10922')).not.toEqual(diversifyAes128(long.master, m, 'legacy-unpadded'));
  });

  it('refuses inputs AN10922 does not define', () => {
    expect(() => diversifyAes128(long.master, Buffer.alloc(0))).toThrow(RangeError);
    expect(() => diversifyAes128(long.master, Buffer.alloc(32))).toThrow(RangeError);
  });

  it('a token’s RFC 4493 CMAC of an10922TokenMessage equals the diversified key, for every length and scheme', () => {
    const master = h('A1B2C3D4E5F60718293A4B5C6D7E8F90');
    for (const scheme of ['an10922', 'legacy-unpadded'] as Diversification[])
      for (let n = 1; n <= 31; n++) {
        const m = Buffer.alloc(n, n * 7 + 1);
        let asked = 0;
        const msg = an10922TokenMessage(m, scheme, () => {
          asked++;
          return aesEncryptBlock(master, Buffer.alloc(16));
        });
        expect(H(aesCmac(master, msg)), `${scheme}, ${n} bytes`).toBe(H(diversifyAes128(master, m, scheme)));
        // The subkeys (one token encryption) are needed only where the two paddings differ.
        expect(asked).toBe(scheme === 'an10922' && n <= 15 ? 1 : 0);
      }
  });
});
