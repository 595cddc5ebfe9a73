// OS-protected storage for secrets (workstation key, DESFire keys): DPAPI on Windows, Keychain on macOS,
// libsecret/kwallet on Linux, through Electron's safeStorage. Never a plain file.
import type { SecretStore } from '../core/app/secret-store';
import type { ShellElectron } from './electron-api';

export function safeStorageStore(safeStorage: ShellElectron['safeStorage']): SecretStore {
  return {
    kind: 'safeStorage',
    isAvailable: () => safeStorage.isEncryptionAvailable(),
    seal(plain) {
      if (!safeStorage.isEncryptionAvailable())
        throw new Error('OS-protected storage unavailable: refusing to store a secret in clear');
      return safeStorage.encryptString(plain);
    },
    open: (sealed) => safeStorage.decryptString(sealed),
  };
}
