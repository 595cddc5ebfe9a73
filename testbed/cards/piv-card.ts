// A PIV-style card emulator that OpenSC's PKCS#11 module drives over pcscd + vpcd (its PIV-II driver),
// standing in for a CPS card where the Cryptolib is not available: a real PIN retry counter (3 tries,
// 63Cx, 6983 blocked), the authentication certificate (slot 9A) and RSA signing with its key.
// OpenSC does the PKCS#1 / PSS padding and the card the raw RSA operation, as real cards do.
// Fault injection: `onSign` lets a test pull the card in the middle of a signature.
import { constants, privateDecrypt } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { ApduHandler } from '../vpcd-client';

const PIV_AID = Buffer.from('A000000308000010000100', 'hex');
const OK = Buffer.from([0x90, 0x00]);
const sw = (a: number, b: number) => Buffer.from([a, b]);

/** BER-TLV with definite length. */
export function tlv(tag: number | Buffer, value: Buffer): Buffer {
  const t = typeof tag === 'number' ? (tag > 0xff ? Buffer.from([tag >> 8, tag & 0xff]) : Buffer.from([tag])) : tag;
  const n = value.length;
  const len = n < 0x80 ? Buffer.from([n]) : n <= 0xff ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([t, len, value]);
}

function readTlv(buf: Buffer, off: number): { tag: number; value: Buffer; next: number } {
  let tag = buf[off]!;
  let p = off + 1;
  if ((tag & 0x1f) === 0x1f) tag = (tag << 8) | buf[p++]!;
  let len = buf[p++]!;
  if (len === 0x81) len = buf[p++]!;
  else if (len === 0x82) {
    len = (buf[p]! << 8) | buf[p + 1]!;
    p += 2;
  }
  return { tag, value: buf.subarray(p, p + len), next: p + len };
}

export interface PivCardOptions {
  certDer: Buffer;
  privateKey: KeyObject;
  pin?: string;
  maxTries?: number;
}

export class PivCard {
  triesLeft: number;
  private verified = false;
  private chain = Buffer.alloc(0);
  private pending: Buffer = Buffer.alloc(0);
  private readonly pin: string;
  private readonly maxTries: number;
  /** Called before answering a signature; return false to answer nothing (card pulled). */
  onSign: (() => Promise<boolean> | boolean) | null = null;
  signCount = 0;

  constructor(private readonly opts: PivCardOptions) {
    this.pin = opts.pin ?? '1234';
    this.maxTries = opts.maxTries ?? 3;
    this.triesLeft = this.maxTries;
  }

  get blocked(): boolean {
    return this.triesLeft === 0;
  }

  /** Power cycle: the PIN must be presented again, the counter stays (it lives in the chip). */
  reset(): void {
    this.verified = false;
    this.chain = Buffer.alloc(0);
    this.pending = Buffer.alloc(0);
  }

  readonly handler: ApduHandler = async (apdu) => {
    if (apdu.length < 4) return sw(0x67, 0x00);
    const [cla, ins, p1, p2] = apdu;
    let data: Buffer = Buffer.alloc(0);
    let le = 0;
    if (apdu.length > 5 && apdu[4] === 0 && apdu.length >= 7) {
      const lc = apdu.readUInt16BE(5);
      data = apdu.subarray(7, 7 + lc);
    } else if (apdu.length > 5) {
      data = apdu.subarray(5, 5 + apdu[4]!);
    } else if (apdu.length === 5) {
      le = apdu[4]! || 256;
    }
    if (ins === 0xc0) return this.getResponse(le || 256);
    this.pending = Buffer.alloc(0);
    if (cla! & 0x10) {
      // Command chaining: keep the pieces until the last one.
      this.chain = Buffer.concat([this.chain, data]);
      return OK;
    }
    if (this.chain.length) {
      data = Buffer.concat([this.chain, data]);
      this.chain = Buffer.alloc(0);
    }
    switch (ins) {
      case 0xa4:
        if (p1 === 0x04 && PIV_AID.subarray(0, data.length).equals(data) && data.length >= 5) {
          const apt = tlv(
            0x61,
            Buffer.concat([
              tlv(0x4f, Buffer.from('000010000100', 'hex')),
              tlv(0x79, tlv(0x4f, Buffer.from('A000000308', 'hex'))),
            ]),
          );
          return this.respond(apt);
        }
        return sw(0x6a, 0x82);
      case 0xcb:
        return this.getData(data);
      case 0x20:
        return this.verify(p2!, data);
      case 0x87:
        return this.generalAuthenticate(p1!, p2!, data);
      default:
        return sw(0x6d, 0x00);
    }
  };

  private getData(data: Buffer): Buffer {
    const tag = readTlv(data, 0);
    if (tag.tag !== 0x5c) return sw(0x6a, 0x80);
    const id = tag.value.toString('hex').toUpperCase();
    if (id === '5FC105') {
      return this.respond(
        tlv(
          0x53,
          Buffer.concat([tlv(0x70, this.opts.certDer), tlv(0x71, Buffer.from([0x00])), tlv(0xfe, Buffer.alloc(0))]),
        ),
      );
    }
    if (id === '5FC102') {
      const fascn = Buffer.from('D4E739DA739CED39CE739D836858210842108421C84210C3EB', 'hex');
      const guid = Buffer.from('53494c4c41474554455354504956303131', 'hex').subarray(0, 16);
      const chuid = Buffer.concat([
        tlv(0x30, fascn),
        tlv(0x34, guid),
        tlv(0x35, Buffer.from('20301231')),
        tlv(0x3e, Buffer.alloc(0)),
        tlv(0xfe, Buffer.alloc(0)),
      ]);
      return this.respond(tlv(0x53, chuid));
    }
    return sw(0x6a, 0x82);
  }

  private verify(ref: number, data: Buffer): Buffer {
    if (ref !== 0x80) return sw(0x6a, 0x88);
    if (this.blocked) return sw(0x69, 0x83);
    if (data.length === 0) return this.verified ? OK : sw(0x63, 0xc0 | this.triesLeft);
    let end = data.length;
    while (end > 0 && data[end - 1] === 0xff) end--;
    if (data.subarray(0, end).toString('latin1') === this.pin) {
      this.triesLeft = this.maxTries;
      this.verified = true;
      return OK;
    }
    this.verified = false;
    this.triesLeft -= 1;
    return this.triesLeft === 0 ? sw(0x69, 0x83) : sw(0x63, 0xc0 | this.triesLeft);
  }

  private async generalAuthenticate(alg: number, keyRef: number, data: Buffer): Promise<Buffer> {
    if (keyRef !== 0x9a) return sw(0x6a, 0x88);
    if (alg !== 0x07) return sw(0x6a, 0x80);
    if (!this.verified) return sw(0x69, 0x82);
    const outer = readTlv(data, 0);
    if (outer.tag !== 0x7c) return sw(0x6a, 0x80);
    let challenge: Buffer | null = null;
    for (let p = 0; p < outer.value.length;) {
      const t = readTlv(outer.value, p);
      if (t.tag === 0x81) challenge = t.value;
      p = t.next;
    }
    if (!challenge || challenge.length !== 256) return sw(0x6a, 0x80);
    if (this.onSign && !(await this.onSign())) return new Promise<Buffer>(() => {}); // never answers: pulled
    this.signCount += 1;
    const sig = privateDecrypt({ key: this.opts.privateKey, padding: constants.RSA_NO_PADDING }, challenge);
    return this.respond(tlv(0x7c, tlv(0x82, sig)));
  }

  /** Long answers go out in 256-byte pieces with 61xx, fetched by GET RESPONSE. */
  private respond(body: Buffer): Buffer {
    this.pending = body;
    return this.getResponse(256);
  }

  private getResponse(le: number): Buffer {
    const part = this.pending.subarray(0, le);
    this.pending = this.pending.subarray(part.length);
    const left = this.pending.length;
    return Buffer.concat([part, left ? sw(0x61, left > 0xff ? 0x00 : left) : OK]);
  }
}
