// DESFire AES cryptography on node:crypto's AES (no home-made cipher): CMAC (RFC 4493, NIST SP 800-38B),
// AN10922 key diversification, EV2 session keys and IVs, and the byte rotations of the mutual
// authentication. Checked against RFC 4493 and NXP's published vectors in crypto.test.ts.
import { createCipheriv, createDecipheriv, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';

const BLOCK = 16;
const ZERO_IV = Buffer.alloc(BLOCK);

function assertKey(key: Buffer) {
  if (key.length !== 16) throw new RangeError('AES-128 key must be 16 bytes');
}

/** AES-128 single block encryption (ECB of one block). */
export function aesEncryptBlock(key: Buffer, block: Buffer): Buffer {
  assertKey(key);
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

/** AES-128-CBC without padding (DESFire pads itself). */
export function aesCbcEncrypt(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  assertKey(key);
  if (data.length % BLOCK) throw new RangeError('CBC data must be a multiple of 16 bytes');
  const c = createCipheriv('aes-128-cbc', key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

export function aesCbcDecrypt(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  assertKey(key);
  if (data.length % BLOCK) throw new RangeError('CBC data must be a multiple of 16 bytes');
  const d = createDecipheriv('aes-128-cbc', key, iv);
  d.setAutoPadding(false);
  return Buffer.concat([d.update(data), d.final()]);
}

/** Doubling in GF(2^128) used to derive the CMAC subkeys. */
function dbl(b: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i++) out[i] = ((b[i]! << 1) | (i + 1 < BLOCK ? b[i + 1]! >> 7 : 0)) & 0xff;
  if (b[0]! & 0x80) out[BLOCK - 1]! ^= 0x87;
  return out;
}

/**
 * AES-CMAC (RFC 4493). `iv` is for DESFire EV1 sessions only, whose MAC chains from the previous
 * command's CMAC instead of a zero block; RFC 4493 is iv = 0.
 */
export function aesCmac(key: Buffer, msg: Buffer, iv: Buffer = ZERO_IV): Buffer {
  const l = aesEncryptBlock(key, ZERO_IV);
  const k1 = dbl(l);
  const k2 = dbl(k1);
  const n = Math.max(1, Math.ceil(msg.length / BLOCK));
  const complete = msg.length > 0 && msg.length % BLOCK === 0;
  const last = Buffer.alloc(BLOCK);
  const tail = msg.subarray((n - 1) * BLOCK);
  if (complete) {
    for (let i = 0; i < BLOCK; i++) last[i] = tail[i]! ^ k1[i]!;
  } else {
    tail.copy(last);
    last[tail.length] = 0x80;
    for (let i = 0; i < BLOCK; i++) last[i]! ^= k2[i]!;
  }
  const body = Buffer.concat([msg.subarray(0, (n - 1) * BLOCK), last]);
  const enc = aesCbcEncrypt(key, iv, body);
  return enc.subarray(enc.length - BLOCK);
}

/** EV2 secure messaging MACs are truncated to the odd bytes of the CMAC (NXP: MACt). */
export function truncateMac(mac: Buffer): Buffer {
  const out = Buffer.alloc(8);
  for (let i = 0; i < 8; i++) out[i] = mac[2 * i + 1]!;
  return out;
}

/** AN10922 AES-128 diversification: AES-CMAC(master, 0x01 || M), M = UID || AID || system identifier. */
export function diversifyAes128(master: Buffer, input: Buffer): Buffer {
  if (input.length < 1 || input.length > 31) throw new RangeError('diversification input must be 1-31 bytes');
  return aesCmac(master, Buffer.concat([Buffer.from([0x01]), input]));
}

/** Rotate left by one byte (RndB' = rot(RndB)). */
export function rotl(b: Buffer): Buffer {
  return Buffer.concat([b.subarray(1), b.subarray(0, 1)]);
}

export function rotr(b: Buffer): Buffer {
  return Buffer.concat([b.subarray(b.length - 1), b.subarray(0, b.length - 1)]);
}

/** EV2 session key derivation (SV1 for ENC, SV2 for MAC) from RndA and RndB (16 bytes each). */
export function ev2SessionKeys(key: Buffer, rndA: Buffer, rndB: Buffer): { enc: Buffer; mac: Buffer } {
  if (rndA.length !== 16 || rndB.length !== 16) throw new RangeError('RndA and RndB must be 16 bytes');
  const mix = Buffer.alloc(6);
  for (let i = 0; i < 6; i++) mix[i] = rndA[2 + i]! ^ rndB[i]!;
  const ctx = Buffer.concat([rndA.subarray(0, 2), mix, rndB.subarray(6, 16), rndA.subarray(8, 16)]);
  const sv = (label: number[]) => Buffer.concat([Buffer.from(label), ctx]);
  return {
    enc: aesCmac(key, sv([0xa5, 0x5a, 0x00, 0x01, 0x00, 0x80])),
    mac: aesCmac(key, sv([0x5a, 0xa5, 0x00, 0x01, 0x00, 0x80])),
  };
}

/** IV for EV2 encrypted messaging: E(SesENC, label || TI || CmdCtr(LE) || zero padding). */
export function ev2Iv(sesEnc: Buffer, ti: Buffer, cmdCtr: number, fromCard: boolean): Buffer {
  const block = Buffer.alloc(BLOCK);
  block[0] = fromCard ? 0x5a : 0xa5;
  block[1] = fromCard ? 0xa5 : 0x5a;
  ti.copy(block, 2);
  block.writeUInt16LE(cmdCtr & 0xffff, 6);
  return aesEncryptBlock(sesEnc, block);
}

/** ISO/IEC 9797-1 padding method 2 (0x80 then zeros), as DESFire EV2 uses for encrypted data. */
export function pad80(data: Buffer): Buffer {
  const len = (Math.floor(data.length / BLOCK) + 1) * BLOCK;
  const out = Buffer.alloc(len);
  data.copy(out);
  out[data.length] = 0x80;
  return out;
}

export function unpad80(data: Buffer): Buffer {
  for (let i = data.length - 1; i >= 0; i--) {
    if (data[i] === 0x80) return data.subarray(0, i);
    if (data[i] !== 0x00) break;
  }
  throw new Error('bad padding');
}

export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** DESFire's CRC32 (ChangeKey): IEEE 802.3 polynomial, preset 0xFFFFFFFF, no final inversion, LSB first. */
export function desfireCrc32(data: Buffer): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(~crc32(data) >>> 0);
  return out;
}

/** EV1 (legacy AuthenticateAES) session key: RndA[0..3] || RndB[0..3] || RndA[12..15] || RndB[12..15]. */
export function ev1SessionKey(rndA: Buffer, rndB: Buffer): Buffer {
  return Buffer.concat([rndA.subarray(0, 4), rndB.subarray(0, 4), rndA.subarray(12, 16), rndB.subarray(12, 16)]);
}
