// Which TPM provider this OS has: tpm2-pkcs11 on Linux (its store in the agent's data directory), CNG's
// Platform Crypto Provider on Windows. None on macOS (its Secure Enclave is not used).
import path from 'node:path';
import { CngKeyProvider } from './cng-key';
import { Pkcs11KeyProvider } from './pkcs11-key';
import type { KeyProvider } from './workstation-key';

/** The machine's key storage: its TPM's provider, or why there is none. */
export type HardwareKeys = { ok: true; provider: KeyProvider } | { ok: false; reason: string };

export function probeHardwareKeys(platform: NodeJS.Platform, dataDir: string): HardwareKeys {
  if (platform === 'linux') return Pkcs11KeyProvider.probe({ storeDir: path.join(dataDir, 'tpm2-pkcs11') });
  if (platform === 'win32') return CngKeyProvider.probe();
  return { ok: false, reason: `pas de fournisseur TPM sur ${platform} / no TPM provider on ${platform}` };
}
