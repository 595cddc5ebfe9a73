// OS-protected storage for secrets (workstation key, DESFire keys): DPAPI on Windows, Keychain on macOS,
// libsecret/kwallet on Linux, through Electron's safeStorage. Never a plain file.
import { safeStorage } from 'electron';

export interface SecretStore {
  isAvailable(): boolean;
  seal(plain: string): Buffer;
  open(sealed: Buffer): string;
}

export const safeStorageStore: SecretStore = {
  isAvailable: () => safeStorage.isEncryptionAvailable(),
  seal(plain) {
    if (!safeStorage.isEncryptionAvailable())
      throw new Error('OS-protected storage unavailable: refusing to store a secret in clear');
    return safeStorage.encryptString(plain);
  },
  open: (sealed) => safeStorage.decryptString(sealed),
};
