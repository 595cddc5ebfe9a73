// A demo certificate authority for the simulated CPS cards: real X.509 certificates (CPS subject
// layout, keyUsage digitalSignature, smart-card logon EKU) so the demo cards log in through the same
// session-server grant as real ones. Node has no certificate builder; the DER below is the minimum
// RFC 5280 needs, ECDSA P-256 signatures from node:crypto. Demo only: never a production trust anchor.
import { createHash, generateKeyPairSync, randomBytes, sign as cryptoSign, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

const len = (n: number): Buffer => {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
};
const tlv = (tag: number, content: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), len(content.length), content]);
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat([...items].sort(Buffer.compare)));
const int = (b: Buffer) => tlv(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
const explicit = (n: number, content: Buffer) => tlv(0xa0 + n, content);
const bitString = (b: Buffer, unused = 0) => tlv(0x03, Buffer.concat([Buffer.from([unused]), b]));
const octets = (b: Buffer) => tlv(0x04, b);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const printable = (s: string) => tlv(0x13, Buffer.from(s, 'ascii'));

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [];
    let v = p;
    do {
      chunk.unshift(v & 0x7f);
      v = Math.floor(v / 128);
    } while (v > 0);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i]! |= 0x80;
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
  // UTCTime up to 2049, as RFC 5280 requires.
  const s = d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  return tlv(0x17, Buffer.from(s, 'ascii'));
}

const OID = {
  CN: '2.5.4.3',
  SN: '2.5.4.4',
  GN: '2.5.4.42',
  title: '2.5.4.12',
  C: '2.5.4.6',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  smartcardLogon: '1.3.6.1.4.1.311.20.2.2',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

type Rdn = [keyof typeof OID, string][];

function name(rdns: Rdn[]): Buffer {
  return seq(...rdns.map((rdn) => set(...rdn.map(([k, v]) => seq(oid(OID[k]), k === 'C' ? printable(v) : utf8(v))))));
}

const ext = (id: string, critical: boolean, value: Buffer) =>
  seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));

function certificate(opts: {
  subject: Rdn[];
  issuer: Rdn[];
  publicKey: KeyObject;
  signer: KeyObject;
  ca: boolean;
  notBefore: Date;
  notAfter: Date;
}): X509Certificate {
  const alg = seq(oid(OID.ecdsaSha256));
  const exts = opts.ca
    ? [ext(OID.basicConstraints, true, seq(bool(true))), ext(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1))]
    : [
        ext(OID.basicConstraints, true, seq()),
        ext(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)),
        ext(OID.extKeyUsage, false, seq(oid(OID.smartcardLogon), oid(OID.clientAuth))),
      ];
  const serial = randomBytes(12);
  // Positive and minimal DER: OpenSSL refuses a leading zero byte (1 certificate in 128 otherwise).
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  const tbs = seq(
    explicit(0, int(Buffer.from([2]))),
    int(serial),
    alg,
    name(opts.issuer),
    seq(time(opts.notBefore), time(opts.notAfter)),
    name(opts.subject),
    opts.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...exts)),
  );
  const sig = cryptoSign('sha256', tbs, opts.signer);
  return new X509Certificate(seq(tbs, alg, bitString(sig)));
}

export interface DemoCardCredential {
  certificate: X509Certificate;
  privateKey: KeyObject;
}

export interface DemoPerson {
  idNat: string;
  lastName: string;
  firstName: string;
  profession: string;
}

/** One CA per agent start; its certificate is what the embedded demo server trusts. */
export class DemoPki {
  private readonly caKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  private readonly caName: Rdn[] = [
    [['C', 'FR']],
    [['O', 'SILLAGE DEMO']],
    [['CN', 'AC DEMO SILLAGE (non valable en production)']],
  ];
  readonly ca: X509Certificate;

  constructor(private readonly now: () => Date = () => new Date()) {
    const t = now().getTime();
    this.ca = certificate({
      subject: this.caName,
      issuer: this.caName,
      publicKey: this.caKey.publicKey,
      signer: this.caKey.privateKey,
      ca: true,
      notBefore: new Date(t - 86400_000),
      notAfter: new Date(t + 5 * 365 * 86400_000),
    });
  }

  get caPem(): string {
    return this.ca.toString();
  }

  issue(p: DemoPerson): DemoCardCredential {
    const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const t = this.now().getTime();
    const certificate_ = certificate({
      subject: [
        [
          ['CN', p.idNat],
          ['SN', p.lastName],
          ['GN', p.firstName],
        ],
        [['title', p.profession]],
        [['C', 'FR']],
      ],
      issuer: this.caName,
      publicKey: keys.publicKey,
      signer: this.caKey.privateKey,
      ca: false,
      notBefore: new Date(t - 86400_000),
      notAfter: new Date(t + 3 * 365 * 86400_000),
    });
    return { certificate: certificate_, privateKey: keys.privateKey };
  }

  /** Short fingerprint for diagnostics (which demo CA this agent run uses). */
  get fingerprint(): string {
    return createHash('sha256').update(this.ca.raw).digest('hex').slice(0, 16);
  }
}
