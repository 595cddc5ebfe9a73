// CPS card proof: a JWT-bearer assertion (RFC 7523) signed by the card's key, its certificate chain in
// `x5c`, a server-issued nonce. Checked here: chain to a configured trust anchor (IGC-Santé in production,
// the test PKI in tests), validity at `now`, key usage, signature, audience, lifetime, single use.
import { createHmac, randomBytes, timingSafeEqual, X509Certificate } from 'node:crypto';
import { compactVerify, decodeProtectedHeader } from 'jose';
import { parseSubject } from '@sillage/protocol';
import type { SillageError } from '@sillage/protocol';

export class ProofError extends Error {
  constructor(
    readonly code: Extract<
      SillageError,
      'invalid_assertion' | 'untrusted_certificate' | 'expired_certificate' | 'replayed_nonce' | 'clock_skew'
    >,
    message: string,
  ) {
    super(message);
  }
}

export interface CpsSubject {
  idNat: string;
  lastName: string;
  firstName: string;
  profession: string;
  /** 'auth': the PIN-protected authentication key (2 factors); 'tech': the contactless technical key (1). */
  keyKind: 'auth' | 'tech';
  serialNumber: string;
  issuer: string;
}

const SMARTCARD_LOGON = '1.3.6.1.4.1.311.20.2.2';

/**
 * Whether keyUsage (2.5.29.15) allows digitalSignature. Node exposes extended key usages but not this
 * bit string, so the extension is read from the DER: OID 55 1D 0F, optional critical flag, then an
 * OCTET STRING wrapping a BIT STRING whose first content byte's top bit is digitalSignature.
 */
export function allowsDigitalSignature(der: Buffer): boolean | null {
  const oid = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x0f]);
  let i = der.indexOf(oid);
  if (i < 0) return null;
  i += oid.length;
  if (der[i] === 0x01 && der[i + 1] === 0x01) i += 3; // BOOLEAN critical
  if (der[i] !== 0x04) return false;
  i += 2; // OCTET STRING, short length
  if (der[i] !== 0x03) return false;
  const len = der[i + 1]!;
  if (len < 2) return false;
  return (der[i + 3]! & 0x80) !== 0;
}

export class TrustStore {
  private readonly anchors: X509Certificate[];
  private readonly intermediates: X509Certificate[];

  /**
   * `anchorPems`: the roots trusted (IGC-Santé roots in production). `intermediatePems`: issuing CAs used
   * to build paths when the card does not send them (CPS cards hold only their own certificates); they
   * are trusted only through an anchor.
   */
  constructor(anchorPems: string[], intermediatePems: string[] = []) {
    this.anchors = anchorPems.map((p) => new X509Certificate(p));
    this.intermediates = intermediatePems.map((p) => new X509Certificate(p));
    if (![...this.anchors, ...this.intermediates].every((a) => a.ca))
      throw new Error('every trust anchor and intermediate must be a CA certificate');
  }

  get size(): number {
    return this.anchors.length;
  }

  /** Verifies leaf → intermediates (from x5c) → anchor, each valid at `now`. Returns the leaf. */
  verifyChain(x5c: string[], now: Date): X509Certificate {
    if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > 5)
      throw new ProofError('invalid_assertion', 'x5c must hold 1 to 5 certificates');
    let chain: X509Certificate[];
    try {
      chain = x5c.map((b64) => new X509Certificate(Buffer.from(b64, 'base64')));
    } catch {
      throw new ProofError('invalid_assertion', 'x5c holds a malformed certificate');
    }
    const leaf = chain[0]!;
    const t = now.getTime();
    let cert = leaf;
    for (let depth = 0; depth < 6; depth++) {
      if (t < Date.parse(cert.validFrom))
        throw new ProofError(
          'expired_certificate',
          `certificate not yet valid (from ${cert.validFrom}): ${cert.subject.replace(/\n/g, ', ')}`,
        );
      if (t > Date.parse(cert.validTo))
        throw new ProofError(
          'expired_certificate',
          `certificate expired on ${cert.validTo}: ${cert.subject.replace(/\n/g, ', ')}`,
        );
      const anchor = this.anchors.find((a) => cert.checkIssued(a) && cert.verify(a.publicKey));
      if (anchor) {
        if (t > Date.parse(anchor.validTo) || t < Date.parse(anchor.validFrom))
          throw new ProofError('expired_certificate', 'trust anchor outside its validity');
        return leaf;
      }
      const next = [...chain, ...this.intermediates].find(
        (c) => c !== cert && c.ca && cert.checkIssued(c) && cert.verify(c.publicKey),
      );
      if (!next)
        throw new ProofError('untrusted_certificate', `no trusted issuer for ${cert.issuer.replace(/\n/g, ', ')}`);
      cert = next;
    }
    throw new ProofError('untrusted_certificate', 'certificate chain too long');
  }

  subjectOf(leaf: X509Certificate): CpsSubject {
    const s = parseSubject(leaf.subject);
    if (!s.CN) throw new ProofError('invalid_assertion', 'certificate without CN (idNat)');
    if (leaf.ca) throw new ProofError('invalid_assertion', 'a CA certificate cannot authenticate a person');
    if (allowsDigitalSignature(leaf.raw) === false)
      throw new ProofError('invalid_assertion', 'certificate key usage does not allow digitalSignature');
    const eku = leaf.keyUsage ?? [];
    return {
      idNat: s.CN,
      lastName: s.SN ?? '',
      firstName: s.GN ?? '',
      profession: s.title ?? '',
      keyKind: eku.includes(SMARTCARD_LOGON) ? 'auth' : 'tech',
      serialNumber: leaf.serialNumber,
      issuer: leaf.issuer.replace(/\n/g, ', '),
    };
  }
}

/**
 * Nonces: stateless to issue (HMAC over expiry + randomness with a key shared by all instances),
 * single use when redeemed (the caller records them in the database).
 */
export class NonceIssuer {
  constructor(
    private readonly key: Buffer,
    private readonly ttlMs = 120_000,
    private readonly now: () => Date = () => new Date(),
  ) {}

  issue(): { nonce: string; expiresAt: Date } {
    const exp = this.now().getTime() + this.ttlMs;
    const body = `${exp.toString(36)}.${randomBytes(16).toString('base64url')}`;
    const mac = createHmac('sha256', this.key).update(body).digest('base64url');
    return { nonce: `${body}.${mac}`, expiresAt: new Date(exp) };
  }

  /** Checks the MAC and expiry; returns the expiry to keep the used nonce until. */
  check(nonce: unknown): Date {
    if (typeof nonce !== 'string') throw new ProofError('invalid_assertion', 'nonce missing');
    const parts = nonce.split('.');
    if (parts.length !== 3) throw new ProofError('invalid_assertion', 'nonce malformed');
    const body = `${parts[0]}.${parts[1]}`;
    const want = createHmac('sha256', this.key).update(body).digest();
    const got = Buffer.from(parts[2]!, 'base64url');
    if (got.length !== want.length || !timingSafeEqual(got, want))
      throw new ProofError('invalid_assertion', 'nonce not issued by this server');
    const exp = parseInt(parts[0]!, 36);
    if (!(exp > this.now().getTime())) throw new ProofError('invalid_assertion', 'nonce expired: ask for a new one');
    return new Date(exp);
  }
}

export interface VerifiedAssertion {
  subject: CpsSubject;
  nonce: string;
  nonceExpiresAt: Date;
  alg: string;
}

/** Verifies a card assertion (everything but single use of the nonce, which needs the database). */
export async function verifyCardAssertion(
  assertion: string,
  opts: { trust: TrustStore; nonces: NonceIssuer; audience: string; now: Date; skewS: number },
): Promise<VerifiedAssertion> {
  let header;
  try {
    header = decodeProtectedHeader(assertion);
  } catch {
    throw new ProofError('invalid_assertion', 'assertion is not a JWS');
  }
  const alg = String(header.alg ?? '');
  if (!['RS256', 'PS256', 'ES256'].includes(alg))
    throw new ProofError('invalid_assertion', `algorithm ${alg || '(none)'} not accepted`);
  const leaf = opts.trust.verifyChain(header.x5c as string[], opts.now);
  const subject = opts.trust.subjectOf(leaf);
  let payload: Record<string, unknown>;
  try {
    const r = await compactVerify(assertion, leaf.publicKey, { algorithms: [alg] });
    payload = JSON.parse(Buffer.from(r.payload).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new ProofError('invalid_assertion', 'assertion signature does not verify with the certificate key');
  }
  const now = Math.floor(opts.now.getTime() / 1000);
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (!aud.includes(opts.audience)) throw new ProofError('invalid_assertion', 'assertion audience is not this server');
  if (payload.sub !== subject.idNat)
    throw new ProofError('invalid_assertion', 'assertion subject differs from the certificate idNat');
  if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number' || payload.exp - payload.iat > 300)
    throw new ProofError('invalid_assertion', 'assertion lifetime invalid (at most 5 minutes)');
  // The workstation dates the assertion with its own clock: drift within the accepted skew is fine.
  if (payload.exp <= now - opts.skewS)
    throw new ProofError('clock_skew', 'assertion expired: workstation clock behind');
  if (payload.iat > now + opts.skewS)
    throw new ProofError('clock_skew', 'assertion issued in the future: workstation clock ahead');
  const nonceExpiresAt = opts.nonces.check(payload.nonce);
  return { subject, nonce: payload.nonce as string, nonceExpiresAt, alg };
}
