// Typed loader for Sillage's CNG addon (native/ncrypt, Windows only): keys in the TPM through the
// Microsoft Platform Crypto Provider. Null where the addon is not built (every other OS, a build
// without it).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NcryptAddon {
  /** The platform provider opens and offers ECDSA P-256: a usable TPM 2.0. */
  available(): boolean;
  /** A new persisted, non-exportable P-256 key; its public point (04 || X || Y). */
  createKey(name: string): Buffer;
  /** The public point of an existing key; throws when it is gone. */
  openKey(name: string): Buffer;
  /** ECDSA of a SHA-256 digest by the key, r || s. */
  sign(name: string, digest: Buffer): Promise<Buffer>;
}

let addon: NcryptAddon | null | undefined;

export function loadNcrypt(): NcryptAddon | null {
  if (addon !== undefined) return addon;
  // fileURLToPath, not URL.pathname: a Windows path (C:\Program Files) is neither '/C:/' nor '%20'.
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ncrypt', 'build', 'Release', 'ncrypt.node');
  try {
    addon =
      process.platform === 'win32' && fs.existsSync(file)
        ? (createRequire(import.meta.url)(file) as NcryptAddon)
        : null;
  } catch {
    addon = null;
  }
  return addon;
}
