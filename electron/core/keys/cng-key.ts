// Windows workstation keys in the TPM through CNG's Microsoft Platform Crypto Provider (native/ncrypt):
// created under a name of this user's key store, never exportable, signing SHA-256 digests. Written
// against the documented NCrypt API; no Windows machine runs the tests of this repository.
import { createHash, randomUUID } from 'node:crypto';
import { loadNcrypt } from '../../../native/ncrypt';
import type { NcryptAddon } from '../../../native/ncrypt';
import { p256PublicJwk } from './workstation-key';
import type { KeyProvider, KeyRecord, WorkstationKey } from './workstation-key';

export type CngProbe = { ok: true; provider: CngKeyProvider } | { ok: false; reason: string };

export class CngKeyProvider implements KeyProvider {
  readonly kind = 'tpm' as const;
  readonly description = 'TPM 2.0 — Microsoft Platform Crypto Provider (CNG)';

  private constructor(private readonly ncrypt: NcryptAddon) {}

  static probe(ncrypt: NcryptAddon | null = loadNcrypt()): CngProbe {
    if (!ncrypt) return { ok: false, reason: 'module CNG absent de cette version / CNG addon not in this build' };
    if (!ncrypt.available())
      return { ok: false, reason: 'aucun TPM 2.0 utilisable (Platform Crypto Provider) / no usable TPM 2.0' };
    return { ok: true, provider: new CngKeyProvider(ncrypt) };
  }

  async create(): Promise<{ key: WorkstationKey; record: KeyRecord }> {
    const kid = randomUUID();
    const name = `Sillage workstation ${kid}`;
    const point = this.ncrypt.createKey(name);
    return { key: this.key(kid, name, point), record: { kind: 'cng', kid, name } };
  }

  async open(record: KeyRecord): Promise<WorkstationKey> {
    if (record.kind !== 'cng') throw new Error(`not a CNG key record (${record.kind})`);
    return this.key(record.kid, record.name, this.ncrypt.openKey(record.name));
  }

  async close(): Promise<void> {}

  private key(kid: string, name: string, point: Buffer): WorkstationKey {
    return {
      kind: 'tpm',
      kid,
      publicJwk: p256PublicJwk(point, kid),
      sign: (input) => this.ncrypt.sign(name, createHash('sha256').update(input).digest()),
    };
  }
}
