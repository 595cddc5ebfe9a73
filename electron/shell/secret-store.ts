// OS-protected storage for the agent's secrets through Electron's asynchronous safeStorage: DPAPI of the
// OS account on Windows, the Keychain on macOS, the desktop keyring on Linux (what each OS adds is in its
// sibling file, secret-store.<platform>.ts). Never a plain file.
import type { SecretProtection, SecretStore } from '../core/keys/secret-store';
import type { ShellElectron } from './electron-api';
import { linuxProtection } from './secret-store.linux';

type SafeStorage = ShellElectron['safeStorage'];

const OS_PROTECTION: Partial<Record<NodeJS.Platform, string>> = {
  win32: 'DPAPI (compte Windows)',
  darwin: 'Trousseau macOS',
};

export function safeStorageStore(safeStorage: SafeStorage, platform: NodeJS.Platform = process.platform): SecretStore {
  const protection = async (): Promise<SecretProtection> => {
    if (!(await safeStorage.isAsyncEncryptionAvailable()))
      return { available: false, detail: 'safeStorage indisponible / unavailable' };
    if (platform === 'linux') return linuxProtection(safeStorage.getSelectedStorageBackend());
    return { available: true, level: 'os', detail: OS_PROTECTION[platform] ?? platform };
  };
  return {
    kind: 'safeStorage',
    protection,
    async seal(plain) {
      if (!(await protection()).available)
        throw new Error('OS-protected storage unavailable: refusing to store a secret in clear');
      return safeStorage.encryptStringAsync(plain);
    },
    async open(sealed) {
      const r = await safeStorage.decryptStringAsync(sealed);
      return { plain: r.result, reseal: r.shouldReEncrypt };
    },
  };
}
