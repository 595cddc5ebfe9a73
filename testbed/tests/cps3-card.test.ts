// The CPS3 emulator at the APDU level: the IAS-ECC commands both middlewares send (OpenSC's iasecc driver,
// the Cryptolib's cps3 driver), answered as the card's datasheet behaviour says. The whole-stack tests are
// cps-opensc, cps-contactless and cps-long-reader-name.
import { createHash, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Cps3Card } from '../cards/cps3-card';
import { sha256Resume, sha256State } from '../cards/sha256-resume';

const holder = { lastName: 'BERNARD', firstName: 'Louis', idNat: '899999000029', profession: 'Médecin' };
const keyPair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKey, publicKey, certDer: Buffer.from('30', 'hex') };
};
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const sw = (r: Buffer) => r.subarray(-2).toString('hex');

async function send(card: Cps3Card, apdu: string | Buffer): Promise<Buffer> {
  return card.handler(typeof apdu === 'string' ? hex(apdu) : apdu);
}

describe('SHA-256 resumed from an intermediate state (PSO HASH)', () => {
  it('finishes what the host started to the same digest', () => {
    for (const n of [64, 128, 1000, 4096 + 7]) {
      const msg = randomBytes(n);
      const done = Math.floor(n / 64) * 64;
      const state = sha256State(msg.subarray(0, done));
      expect(sha256Resume(state, BigInt(done), msg.subarray(done))).toEqual(createHash('sha256').update(msg).digest());
    }
  });
});

describe('CPS3 emulator', () => {
  it('keeps a real retry counter: 63Cx on VERIFY without data, 6983 once blocked, reset by the right PIN', async () => {
    const auth = keyPair();
    const card = new Cps3Card({ auth, holder });
    const pin = (p: string) => Buffer.concat([hex('0020000108'), Buffer.from(p.padEnd(8, '\xff'), 'latin1')]);
    expect(sw(await send(card, '00200001'))).toBe('63c3');
    expect(sw(await send(card, pin('0000')))).toBe('63c2');
    expect(sw(await send(card, '00200001'))).toBe('63c2');
    expect(sw(await send(card, pin('1234')))).toBe('9000');
    expect(sw(await send(card, '00200001'))).toBe('9000');
    card.reset();
    expect(sw(await send(card, '00200001'))).toBe('63c3');
    for (const expected of ['63c2', '63c1', '6983']) expect(sw(await send(card, pin('9999')))).toBe(expected);
    expect(sw(await send(card, pin('1234')))).toBe('6983');
    expect(sw(await send(card, '00200001'))).toBe('6983');
    // The PIN SDO as the Cryptolib reads it: tries left 9B (and no maximum 9A).
    const docp = await send(card, '00CB3FFF0A4D087006BF810102A080');
    expect(sw(docp)).toBe('9000');
    expect(docp.includes(hex('9B0100'))).toBe(true);
    expect(docp.includes(hex('9A01'))).toBe(false);
  });

  it('holds EF.SN.ICC with the ANS issuer number, the serial and its Luhn digit', async () => {
    const card = new Cps3Card({ auth: keyPair(), holder, serial: '12345678' });
    const sn = await send(card, '00B09C0000');
    // 5A 0A | 80 25 00 00 01 | 12 34 56 78 | Luhn digit of 802500000112345678 (9), then F.
    expect(sn.toString('hex')).toBe('5a0a80250000011234567' + '89f' + '9000');
  });

  it('signs with the authentication key by INTERNAL AUTHENTICATE only after the PIN', async () => {
    const auth = keyPair();
    const card = new Cps3Card({ auth, holder });
    const msg = Buffer.from('challenge');
    const di = Buffer.concat([
      hex('3031300d060960864801650304020105000420'),
      createHash('sha256').update(msg).digest(),
    ]);
    const intAuth = Buffer.concat([hex('00880000'), Buffer.from([di.length]), di, hex('00')]);
    expect(sw(await send(card, '002241A4068401818001 02'))).toBe('9000');
    expect(sw(await send(card, intAuth))).toBe('6982');
    expect(sw(await send(card, Buffer.concat([hex('0020000104'), Buffer.from('1234')])))).toBe('9000');
    const res = await send(card, intAuth);
    expect(sw(res)).toBe('9000');
    expect(verify('sha256', msg, auth.publicKey, res.subarray(0, -2))).toBe(true);
    expect(card.signCount).toBe(1);
  });

  it('finishes the host hash on card and signs with the non-repudiation key (PSO HASH, PSO CDS)', async () => {
    const auth = keyPair();
    const sign = keyPair();
    const card = new Cps3Card({ auth, sign, holder });
    await send(card, Buffer.concat([hex('0020000104'), Buffer.from('1234')]));
    const msg = randomBytes(300);
    const state = sha256State(msg.subarray(0, 256));
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64BE(256n * 8n);
    const body = Buffer.concat([hex('9028'), state, counter, hex('80'), Buffer.from([44]), msg.subarray(256)]);
    expect(sw(await send(card, '002241B6068401828001 42'))).toBe('9000');
    expect(sw(await send(card, Buffer.concat([hex('002A90A0'), Buffer.from([body.length]), body])))).toBe('9000');
    const res = await send(card, '002A9E9A00');
    expect(sw(res)).toBe('9000');
    expect(verify('sha256', msg, sign.publicKey, res.subarray(0, -2))).toBe(true);
  });

  it('contactless: no PIN, no authentication key, the technical key signs', async () => {
    const tech = keyPair();
    const card = new Cps3Card({ auth: keyPair(), tech, holder, iface: 'contactless' });
    expect(sw(await send(card, '00200001'))).toBe('6985');
    expect(sw(await send(card, '002241A4068401818001 02'))).toBe('6a88');
    expect(sw(await send(card, '002241A4068401838001 02'))).toBe('9000');
    const di = Buffer.concat([hex('3031300d060960864801650304020105000420'), randomBytes(32)]);
    const res = await send(card, Buffer.concat([hex('00880000'), Buffer.from([di.length]), di, hex('00')]));
    expect(sw(res)).toBe('9000');
    // The authentication certificate stays behind the contact interface.
    expect(sw(await send(card, '00A4090C063F000001C000'))).toBe('9000');
    expect(sw(await send(card, '00B0000010'))).toBe('6982');
  });
});
