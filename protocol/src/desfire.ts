// DESFire key diversification (NXP AN10922 §2.2, AES-128) and the AES-CMAC it is built on (RFC 4493,
// NIST SP 800-38B), on node:crypto's AES. The agent (local key custody, encoding tool) and the session
// server (keys in configuration) derive badge keys with these functions; a server whose masters sit in
// a PKCS#11 token computes the same construction with the token's CMAC (`an10922TokenMessage`).
import { createCipheriv } from 'node:crypto';

const BLOCK = 16;
const ZERO = Buffer.alloc(BLOCK);

/**
 * How a badge key was derived from its application master key:
 * - `an10922`: AN10922 as published: CMAC input 0x01 || M padded to 32 bytes (0x80 then zeros, last block
 *   masked with the CMAC subkey K2 when padded). What SAMs and key-management systems compute.
 * - `legacy-unpadded`: a plain RFC 4493 CMAC of 0x01 || M, as Sillage badges encoded before the
 *   `diversification` profile field were keyed (and libfreefare before its fix, AN10922_FLAG_EMULATE_ISSUE_91).
 *   Equal to `an10922` when M is 16 to 31 bytes, different for M of 15 bytes or less.
 */
export type Diversification = 'an10922' | 'legacy-unpadded';

export const DIVERSIFICATIONS: readonly Diversification[] = ['an10922', 'legacy-unpadded'];

export const isDiversification = (v: unknown): v is Diversification =>
  typeof v === 'string' && (DIVERSIFICATIONS as readonly string[]).includes(v);

function assertKey(key: Buffer) {
  if (key.length !== BLOCK) throw new RangeError('AES-128 key must be 16 bytes');
}

/** AES-128 encryption of one block (ECB of one block). */
export function aesEncryptBlock(key: Buffer, block: Buffer): Buffer {
  assertKey(key);
  if (block.length !== BLOCK) throw new RangeError('one 16-byte block expected');
  const c = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

function cbcMacLastBlock(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const c = createCipheriv('aes-128-cbc', key, iv).setAutoPadding(false);
  const out = Buffer.concat([c.update(data), c.final()]);
  return out.subarray(out.length - BLOCK);
}

/** Doubling in GF(2^128): K1 = dbl(L), K2 = dbl(K1) with L = E(K, 0^128). */
function dbl(b: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i++) out[i] = ((b[i]! << 1) | (i + 1 < BLOCK ? b[i + 1]! >> 7 : 0)) & 0xff;
  if (b[0]! & 0x80) out[BLOCK - 1]! ^= 0x87;
  return out;
}

/** The CMAC subkeys from L = E(K, 0^128). */
export function cmacSubkeys(l: Buffer): { k1: Buffer; k2: Buffer } {
  const k1 = dbl(l);
  return { k1, k2: dbl(k1) };
}

const xorInto = (dst: Buffer, src: Buffer, at: number) => {
  for (let i = 0; i < BLOCK; i++) dst[at + i]! ^= src[i]!;
};

/**
 * AES-CMAC (RFC 4493). `iv` is for DESFire EV1 sessions only, whose MAC chains from the previous
 * command's CMAC instead of a zero block; RFC 4493 is iv = 0.
 */
export function aesCmac(key: Buffer, msg: Buffer, iv: Buffer = ZERO): Buffer {
  const { k1, k2 } = cmacSubkeys(aesEncryptBlock(key, ZERO));
  const complete = msg.length > 0 && msg.length % BLOCK === 0;
  const len = complete ? msg.length : (Math.floor(msg.length / BLOCK) + 1) * BLOCK;
  const body = Buffer.alloc(len);
  msg.copy(body);
  if (!complete) body[msg.length] = 0x80;
  xorInto(body, complete ? k1 : k2, len - BLOCK);
  return cbcMacLastBlock(key, iv, body);
}

function checkInput(m: Buffer) {
  if (m.length < 1 || m.length > 31) throw new RangeError('diversification input must be 1-31 bytes');
}

/**
 * AN10922 AES-128 key diversification: the badge key for diversification input M (UID || AID || system
 * identifier). Vectors in desfire.test.ts: AN10922 §2.2.1 (long M) and AN10957 pp. 13-14 (short M).
 */
export function diversifyAes128(master: Buffer, m: Buffer, scheme: Diversification = 'an10922'): Buffer {
  checkInput(m);
  const d = Buffer.concat([Buffer.from([0x01]), m]);
  if (scheme === 'legacy-unpadded') return aesCmac(master, d);
  // AN10922 §2.2 step 3-5: D is always 32 bytes; padded (0x80 0x00...) and masked with K2 when shorter,
  // masked with K1 when 0x01 || M fills it.
  const { k1, k2 } = cmacSubkeys(aesEncryptBlock(master, ZERO));
  const padded = Buffer.alloc(2 * BLOCK);
  d.copy(padded);
  if (d.length < padded.length) padded[d.length] = 0x80;
  xorInto(padded, d.length < padded.length ? k2 : k1, BLOCK);
  const key = cbcMacLastBlock(master, ZERO, padded);
  k1.fill(0);
  k2.fill(0);
  padded.fill(0);
  return key;
}

/**
 * For a token that computes RFC 4493 AES-CMAC with the master inside it (PKCS#11 CKM_AES_CMAC): the
 * message whose CMAC is the diversified key. Where RFC 4493's padding is AN10922's (0x01 || M of 17 to
 * 32 bytes, and every legacy input) it is 0x01 || M itself; for shorter inputs AN10922 pads to 32
 * bytes with K2 while a 32-byte CMAC input is masked with K1, so the second block carries K1 xor K2,
 * computed from `l` = E(master, 0^128) (the caller gets it from the token and wipes it).
 */
export function an10922TokenMessage(m: Buffer, scheme: Diversification, l: () => Buffer): Buffer {
  checkInput(m);
  const d = Buffer.concat([Buffer.from([0x01]), m]);
  if (scheme === 'legacy-unpadded' || d.length > BLOCK) return d;
  const padded = Buffer.alloc(2 * BLOCK);
  d.copy(padded);
  padded[d.length] = 0x80;
  const zeroBlock = l();
  const { k1, k2 } = cmacSubkeys(zeroBlock);
  xorInto(padded, k1, BLOCK);
  xorInto(padded, k2, BLOCK);
  zeroBlock.fill(0);
  k1.fill(0);
  k2.fill(0);
  return padded;
}
