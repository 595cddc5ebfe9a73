// The agent's DESFire cryptography against NXP's published values. AES-CMAC (RFC 4493) and the AN10922
// vectors of the shared implementation are in protocol/src/desfire.test.ts; the full transcripts
// (AN12196) run through the protocol in protocol.test.ts.
import { describe, expect, it } from 'vitest';
import {
  aesCmac,
  desfireCrc32,
  diversifyAes128,
  ev2Iv,
  ev2SessionKeys,
  pad80,
  rotl,
  rotr,
  truncateMac,
  unpad80,
} from './crypto';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const H = (b: Buffer) => b.toString('hex').toUpperCase();

describe('NXP vectors', () => {
  it('AN10922 §2.2.1 (long input) and AN10957 pp. 13-14 (short input) through the agent’s import', () => {
    expect(H(diversifyAes128(h('00112233445566778899AABBCCDDEEFF'), h('04782E21801D80 3042F5 4E585020416275')))).toBe(
      'A8DD63A3B89D54B37CA802473FDA9175',
    );
    expect(H(diversifyAes128(h('F3F9377698707B688EAF84ABE39E3791'), h('04DEADBEEFFEED'), 'an10922'))).toBe(
      '0BB408BAFF98B6EE9F2E1585777F6A51',
    );
  });

  it('EV2 session keys from RndA/RndB with the all-zero key (AN12343 pp. 33-34, Proxmark3 desfiretest.c)', () => {
    const keys = ev2SessionKeys(
      Buffer.alloc(16),
      h('B04D0787C93EE0CC8CACC8E86F16C6FE'),
      h('FA659AD0DCA738DD65DC7DC38612AD81'),
    );
    expect(H(keys.enc)).toBe('63DC07286289A7A6C0334CA31C314A04');
    expect(H(keys.mac)).toBe('774F26743ECE6AF5033B6AE8522946F6');
  });

  it('AN12343 p. 54: MAC-mode WriteData and ReadData, command and answer MACs (Proxmark3 desfiretest.c)', () => {
    const mac = h('9366FA195EB566F5BD2BAD4020B83002');
    const ti = h('E2D3AF69');
    const macT = (code: number, ctr: number, data: Buffer) => {
      const c = Buffer.alloc(2);
      c.writeUInt16LE(ctr);
      return H(truncateMac(aesCmac(mac, Buffer.concat([Buffer.from([code]), c, ti, data]))));
    };
    // WriteData (8D) file 0, offset 0, 25 bytes of 0x22, CmdCtr 0; its answer (status only) at CmdCtr 1.
    expect(macT(0x8d, 0, Buffer.concat([h('00 000000 190000'), Buffer.alloc(25, 0x22)]))).toBe('68F2C28C575A1628');
    expect(macT(0x00, 1, Buffer.alloc(0))).toBe('0820F68898C2A7F1');
    // ReadData (AD) of 48 bytes at CmdCtr 1; the answer (25 × 0x22 then zeros) at CmdCtr 2.
    expect(macT(0xad, 1, h('00 000000 300000'))).toBe('0D9BE191D5960834');
    expect(macT(0x00, 2, Buffer.concat([Buffer.alloc(25, 0x22), Buffer.alloc(23)]))).toBe('A49A44222D926666');
  });

  it('EV2 IV for encrypted data (AN12196 rev. 2.0 Table 26, CmdCtr 3; as transcribed by pylibsdm)', () => {
    expect(H(ev2Iv(h('4CF3CB41A22583A61E89B158D252FC53'), h('7614281A'), 3, false))).toBe(
      '01602D579423B2797BE8B478B0B4D27B',
    );
  });

  it('CRC32 of a new key (ChangeKey, AN12196 Table 25: 789DFADC)', () => {
    expect(H(desfireCrc32(h('F3847D627727ED3BC9C4CC050489B966')))).toBe('789DFADC');
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
