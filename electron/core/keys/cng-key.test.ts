// The CNG provider's side of native/ncrypt, on a stand-in for the addon (no Windows TPM here): the key's
// public point becomes the registered JWK, its r || s signatures verify as ES256, a missing addon or TPM
// says why.
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compactVerify, importJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import type { NcryptAddon } from '../../../native/ncrypt';
import { CngKeyProvider } from './cng-key';
import { joseSignature } from './workstation-key';

function standIn(available = true): NcryptAddon & { keys: Map<string, KeyObject> } {
  const keys = new Map<string, KeyObject>();
  const point = (k: KeyObject) => createPublicKey(k).export({ format: 'der', type: 'spki' }).subarray(-65);
  return {
    keys,
    available: () => available,
    createKey(name) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      keys.set(name, privateKey);
      return point(privateKey);
    },
    openKey(name) {
      const k = keys.get(name);
      if (!k) throw new Error('NCryptOpenKey failed (0x80090016)');
      return point(k);
    },
    async sign(name, digest) {
      expect(digest).toHaveLength(32);
      // ECDSA over the digest itself, as NCryptSignHash does (OpenSSL's pkeyutl; DER turned into r || s).
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-cng-'));
      try {
        const pem = path.join(dir, 'key.pem');
        fs.writeFileSync(pem, keys.get(name)!.export({ format: 'pem', type: 'pkcs8' }));
        return joseSignature(execFileSync('openssl', ['pkeyutl', '-sign', '-inkey', pem], { input: digest }));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

describe('CNG Platform Crypto Provider keys (stand-in addon)', () => {
  it('says why when the addon or the TPM is missing', () => {
    expect(CngKeyProvider.probe(null)).toMatchObject({ ok: false, reason: expect.stringMatching(/CNG/) });
    expect(CngKeyProvider.probe(standIn(false))).toMatchObject({ ok: false, reason: expect.stringMatching(/TPM/) });
  });

  it('registers the public point as a JWK and signs JWS that verify, again after a restart', async () => {
    const addon = standIn();
    const probe = CngKeyProvider.probe(addon);
    if (!probe.ok) throw new Error(probe.reason);
    const { key, record } = await probe.provider.create();
    expect(record).toEqual({ kind: 'cng', kid: key.kid, name: `Sillage workstation ${key.kid}` });
    const reopened = await probe.provider.open(record);
    expect(reopened.publicJwk).toEqual(key.publicJwk);
    const input = `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}`;
    const jws = `${input}.${(await reopened.sign(Buffer.from(input))).toString('base64url')}`;
    await expect(compactVerify(jws, await importJWK(key.publicJwk, 'ES256'))).resolves.toBeTruthy();
    addon.keys.clear();
    await expect(probe.provider.open(record)).rejects.toThrow(/NCryptOpenKey/);
  });
});
