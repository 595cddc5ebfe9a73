// Linux: safeStorage seals with a key kept by the desktop keyring (libsecret, KWallet). Without one
// Chromium falls back to basic_text, a fixed password compiled into every copy: a sealed file copied off
// the PC opens anywhere. Reported as such, so the agent refuses it unless policy allows it (as Signal
// Desktop does).
import type { SecretProtection } from '../core/keys/secret-store';
import type { ShellElectron } from './electron-api';

export type LinuxBackend = ReturnType<ShellElectron['safeStorage']['getSelectedStorageBackend']>;

export function linuxProtection(backend: LinuxBackend): SecretProtection {
  switch (backend) {
    case 'gnome_libsecret':
    case 'kwallet':
    case 'kwallet5':
    case 'kwallet6':
      return { available: true, level: 'os', detail: `trousseau ${backend}` };
    case 'basic_text':
      return {
        available: true,
        level: 'basic-text',
        detail: 'basic_text (aucun trousseau : mot de passe fixe) / basic_text (no keyring: fixed password)',
      };
    default:
      return { available: false, detail: `moteur de stockage inconnu (${backend}) / unknown storage backend` };
  }
}
