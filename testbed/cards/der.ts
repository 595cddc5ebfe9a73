// Just enough BER/DER for card emulators: definite-length TLVs, the ASN.1 primitives PKCS#15 uses, and a
// reader for the TLVs cards receive.

/** A TLV with definite length; `tag` is one or two bytes (0x7F48, 0xBF90...). */
export function tlv(tag: number | Buffer, value: Buffer): Buffer {
  const t = typeof tag === 'number' ? (tag > 0xff ? Buffer.from([tag >> 8, tag & 0xff]) : Buffer.from([tag])) : tag;
  const n = value.length;
  const len = n < 0x80 ? Buffer.from([n]) : n <= 0xff ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([t, len, value]);
}

export const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
export const octets = (b: Buffer) => tlv(0x04, b);
export const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
export const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
export const nul = () => Buffer.from([0x05, 0x00]);

export function int(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return tlv(0x02, Buffer.from(bytes));
}

/** An ASN.1 BIT STRING holding the named bit positions (bit 0 = most significant bit of the first byte). */
export function bits(...positions: number[]): Buffer {
  const top = positions.length ? Math.max(...positions) : 0;
  const body = Buffer.alloc(Math.floor(top / 8) + 1);
  for (const p of positions) body[p >> 3]! |= 0x80 >> (p & 7);
  const unused = positions.length ? 7 - (top & 7) : 0;
  return tlv(0x03, Buffer.concat([Buffer.from([unused]), body]));
}

/** A PKCS#15 Path: SEQUENCE { path OCTET STRING }. */
export const path = (hex: string) => seq(octets(Buffer.from(hex, 'hex')));

export interface Tlv {
  tag: number;
  value: Buffer;
  next: number;
}

/** One TLV at `off` (one- or two-byte tag, lengths up to 0x82 xx xx); null when it runs past the buffer. */
export function readTlv(buf: Buffer, off: number): Tlv | null {
  if (off >= buf.length) return null;
  let tag = buf[off]!;
  let p = off + 1;
  if ((tag & 0x1f) === 0x1f) {
    if (p >= buf.length) return null;
    tag = (tag << 8) | buf[p++]!;
  }
  if (p >= buf.length) return null;
  let len = buf[p++]!;
  if (len === 0x81) {
    if (p >= buf.length) return null;
    len = buf[p++]!;
  } else if (len === 0x82) {
    if (p + 1 >= buf.length) return null;
    len = buf.readUInt16BE(p);
    p += 2;
  } else if (len > 0x82) return null;
  if (p + len > buf.length) return null;
  return { tag, value: buf.subarray(p, p + len), next: p + len };
}

/** Every TLV of a concatenation; null when one is malformed. */
export function readAll(buf: Buffer): Tlv[] | null {
  const out: Tlv[] = [];
  for (let off = 0; off < buf.length;) {
    const t = readTlv(buf, off);
    if (!t) return null;
    out.push(t);
    off = t.next;
  }
  return out;
}
