// The workstation's signing key (ES256, P-256): what authenticates the PC to the session server in every
// private_key_jwt assertion (registration is proven by the enrolment token, grants and relay calls by this
// key). Where the machine has a TPM the key is generated inside it and never leaves it (tpm2-pkcs11 on
// Linux, the CNG Platform Crypto Provider on Windows); elsewhere it is a software key the OS seals.
import { createPublicKey } from 'node:crypto';
import type { JWK } from 'jose';

export type KeyKind = 'tpm' | 'software';

export interface WorkstationKey {
  readonly kind: KeyKind;
  readonly kid: string;
  /** The public half as registered with the server (kid, alg ES256, use sig). */
  readonly publicJwk: JWK;
  /** ES256 signature of a JWS signing input, in JOSE form (r || s, 64 bytes). */
  sign(input: Buffer): Promise<Buffer>;
}

/**
 * How to find the key again after a restart, stored with the registration (sealed by the OS secret store).
 * A TPM record holds no key material: the key blob stays in the TPM's store and works only with this TPM.
 */
export type KeyRecord =
  | { kind: 'software'; privateJwk: JWK }
  | { kind: 'pkcs11'; kid: string; token: string; id: string; pin: string }
  | { kind: 'cng'; kid: string; name: string };

/** A place workstation keys are made and found again: one per kind of key storage. */
export interface KeyProvider {
  readonly kind: KeyKind;
  /** What holds the keys, for the diagnostic (e.g. "TPM 2.0 — tpm2-pkcs11 1.9"). */
  readonly description: string;
  create(): Promise<{ key: WorkstationKey; record: KeyRecord }>;
  /** The key of a record this provider made; throws when it is gone (TPM cleared, store deleted). */
  open(record: KeyRecord): Promise<WorkstationKey>;
  /** After the signatures under way; the keys it gave refuse to sign afterwards. */
  close(): Promise<void>;
}

/** ES256 signature in JOSE form: PKCS#11 and CNG already give r || s; OpenSSL and node:crypto give DER. */
export function joseSignature(sig: Buffer): Buffer {
  if (sig.length === 64) return sig;
  // SEQUENCE { INTEGER r, INTEGER s }, short DER lengths (a P-256 signature is at most 72 bytes).
  const fail = () => new Error('ECDSA signature is neither r||s (64 bytes) nor DER');
  if (sig.length < 8 || sig[0] !== 0x30 || sig[1] !== sig.length - 2) throw fail();
  let at = 2;
  const int = (): Buffer => {
    if (sig[at] !== 0x02) throw fail();
    const len = sig[at + 1]!;
    const start = at + 2;
    if (len < 1 || len > 33 || start + len > sig.length) throw fail();
    at = start + len;
    let v = sig.subarray(start, start + len);
    // A leading zero keeps a high bit from reading as negative; a negative or over-long value is not ECDSA.
    if (v[0]! & 0x80) throw fail();
    if (len === 33) {
      if (v[0] !== 0) throw fail();
      v = v.subarray(1);
    }
    return Buffer.concat([Buffer.alloc(32 - v.length), v]);
  };
  const r = int();
  const s = int();
  if (at !== sig.length) throw fail();
  return Buffer.concat([r, s]);
}

/** Public JWK of an uncompressed P-256 point (04 || X || Y), e.g. a PKCS#11 CKA_EC_POINT's content. */
export function p256PublicJwk(point: Buffer, kid: string): JWK {
  if (point.length !== 65 || point[0] !== 0x04) throw new Error('not an uncompressed P-256 point');
  const spki = Buffer.concat([Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'), point]);
  const jwk = createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ format: 'jwk' }) as JWK;
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid, alg: 'ES256', use: 'sig' };
}
