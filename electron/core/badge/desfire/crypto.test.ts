import { describe, expect, it } from 'vitest';
import { aesCmac, diversifyAes128, ev2SessionKeys, pad80, rotl, rotr, truncateMac, unpad80 } from './crypto';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('AES-CMAC — RFC 4493 test vectors', () => {
  const key = h('2b7e1516 28aed2a6 abf71588 09cf4f3c');
  const msg = h(`6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51
                 30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710`);
  it.each([
    [0, 'bb1d6929 e9593728 7fa37d12 9b756746'],
    [16, '070a16b4 6b4d4144 f79bdd9d d04a287c'],
    [40, 'dfa66747 de9ae630 30ca3261 1497c827'],
    [64, '51f0bebf 7e3b9d92 fc497417 79363cfe'],
  ])('message of %i bytes', (len, mac) => {
    expect(aesCmac(key, msg.subarray(0, len as number)).toString('hex')).toBe(h(mac as string).toString('hex'));
  });
});

describe('NXP vectors (domain.md §5)', () => {
  it('AN10922 AES-128 diversification', () => {
    const master = h('00112233445566778899AABBCCDDEEFF');
    const m = h('04782E21801D80 3042F5 4E585020416275');
    expect(diversifyAes128(master, m).toString('hex').toUpperCase()).toBe('A8DD63A3B89D54B37CA802473FDA9175');
  });

  it('EV2 session keys from RndA/RndB with the all-zero key', () => {
    const keys = ev2SessionKeys(
      Buffer.alloc(16),
      h('B04D0787C93EE0CC8CACC8E86F16C6FE'),
      h('FA659AD0DCA738DD65DC7DC38612AD81'),
    );
    expect(keys.enc.toString('hex').toUpperCase()).toBe('63DC07286289A7A6C0334CA31C314A04');
    expect(keys.mac.toString('hex').toUpperCase()).toBe('774F26743ECE6AF5033B6AE8522946F6');
  });
});

describe('helpers', () => {
  it('rotates, truncates and pads', () => {
    expect(rotl(h('010203')).toString('hex')).toBe('020301');
    expect(rotr(h('010203')).toString('hex')).toBe('030102');
    expect(truncateMac(h('00112233445566778899aabbccddeeff')).toString('hex')).toBe('1133557799bbddff');
    const p = pad80(h('aabb'));
    expect(p.length).toBe(16);
    expect(unpad80(p).toString('hex')).toBe('aabb');
    expect(pad80(Buffer.alloc(16)).length).toBe(32);
    expect(() => unpad80(Buffer.alloc(16))).toThrow();
  });
});
