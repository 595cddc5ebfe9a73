// ES256 in JOSE form from any ECDSA encoding, and the P-256 point → JWK bridge of PKCS#11 keys.
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { compactVerify, importJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { SoftwareKey } from './software-key';
import { joseSignature, p256PublicJwk } from './workstation-key';

describe('workstation key encodings', () => {
  it('turns DER ECDSA signatures into r || s, short r and s included', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const lengths = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const data = Buffer.from(`input ${i}`);
      const der = sign('sha256', data, privateKey);
      lengths.add(der.length);
      const jose = joseSignature(der);
      expect(jose).toHaveLength(64);
      expect(verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, jose)).toBe(true);
    }
    // 300 signatures give 72-byte DER (both integers 33 bytes) and shorter ones (a leading zero dropped).
    expect(lengths.has(72) && [...lengths].some((l) => l < 71)).toBe(true);
    const raw = Buffer.alloc(64, 7);
    expect(joseSignature(raw)).toBe(raw);
  });

  it('refuses what is not an ECDSA signature', () => {
    for (const bad of [
      Buffer.alloc(0),
      Buffer.alloc(63),
      Buffer.from('3006020101020101ff', 'hex'), // trailing byte
      Buffer.from('3006020181020101', 'hex'), // negative r
      Buffer.from('3007020101020201', 'hex'), // s runs past the end
      Buffer.from('3106020101020101', 'hex'), // not a SEQUENCE
      Buffer.concat([Buffer.from('3026022201', 'hex'), Buffer.alloc(33, 1), Buffer.from('020101', 'hex')]), // r > 33
    ])
      expect(() => joseSignature(bad)).toThrow(/neither/);
  });

  it('gives the JWK of an uncompressed P-256 point, and a software key signs JWS the server can verify', async () => {
    const key = SoftwareKey.generate();
    const spki = createPublicKey({ key: key.publicJwk as never, format: 'jwk' }).export({
      format: 'der',
      type: 'spki',
    });
    expect(p256PublicJwk(spki.subarray(-65), key.kid)).toEqual(key.publicJwk);
    expect(() => p256PublicJwk(spki.subarray(-64), key.kid)).toThrow(/uncompressed/);
    const input = `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}`;
    const jws = `${input}.${(await key.sign(Buffer.from(input))).toString('base64url')}`;
    await expect(compactVerify(jws, await importJWK(key.publicJwk, 'ES256'))).resolves.toBeTruthy();
    expect(SoftwareKey.fromJwk(key.privateJwk).publicJwk).toEqual(key.publicJwk);
    expect(() => SoftwareKey.fromJwk(key.publicJwk)).toThrow(/private/);
  });
});
