// DESFire AES cryptography on node:crypto's AES (no home-made cipher): EV2 session keys and IVs, the
// byte rotations of the mutual authentication, padding and CRC32. AES-CMAC and the AN10922 key
// diversification are @sillage/protocol's, shared with the session server. Checked against NXP's
// published vectors in crypto.test.ts and protocol.test.ts.
import { createCipheriv, createDecipheriv, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { aesCmac, aesEncryptBlock } from '@sillage/protocol';

export { aesCmac, aesEncryptBlock, diversifyAes128 } from '@sillage/protocol';
export type { Diversification } from '@sillage/protocol';

const BLOCK = 16;

function assertKey(key: Buffer) {
  if (key.length !== 16) throw new RangeError('AES-128 key must be 16 bytes');
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

/** EV2 secure messaging MACs are truncated to the odd bytes of the CMAC (NXP: MACt). */
export function truncateMac(mac: Buffer): Buffer {
  const out = Buffer.alloc(8);
  for (let i = 0; i < 8; i++) out[i] = mac[2 * i + 1]!;
  return out;
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
