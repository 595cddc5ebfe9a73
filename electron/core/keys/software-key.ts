// A software workstation key: generated in the agent's memory, kept sealed by the OS secret store. The
// fallback where the machine has no TPM (and the policy allows it), and the key of tests and the demo.
import { createPrivateKey, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { joseSignature } from './workstation-key';
import type { KeyProvider, KeyRecord, WorkstationKey } from './workstation-key';

export class SoftwareKey implements WorkstationKey {
  readonly kind = 'software' as const;
  readonly publicJwk: JWK;
  private readonly key: KeyObject;

  private constructor(
    readonly privateJwk: JWK,
    readonly kid: string,
  ) {
    this.key = createPrivateKey({ key: privateJwk as never, format: 'jwk' });
    const { kty, crv, x, y } = privateJwk;
    this.publicJwk = { kty, crv, x, y, kid, alg: 'ES256', use: 'sig' };
  }

  static generate(): SoftwareKey {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = randomUUID();
    return new SoftwareKey({ ...(privateKey.export({ format: 'jwk' }) as JWK), kid, alg: 'ES256' }, kid);
  }

  static fromJwk(jwk: JWK): SoftwareKey {
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.d || !jwk.kid) throw new Error('not a P-256 private JWK');
    return new SoftwareKey(jwk, jwk.kid);
  }

  async sign(input: Buffer): Promise<Buffer> {
    // node:crypto answers DER: the same conversion a DER-speaking token would need.
    return joseSignature(sign('sha256', input, this.key));
  }
}

export const softwareKeys: KeyProvider = {
  kind: 'software',
  description: 'clé logicielle scellée par le système / software key sealed by the OS',
  async create() {
    const key = SoftwareKey.generate();
    return { key, record: { kind: 'software', privateJwk: key.privateJwk } };
  },
  async open(record: KeyRecord) {
    if (record.kind !== 'software') throw new Error(`not a software key record (${record.kind})`);
    return SoftwareKey.fromJwk(record.privateJwk);
  },
  async close() {},
};
