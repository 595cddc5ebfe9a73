// Where the agent keeps its secrets at rest (the workstation's registration: its software key, or the PIN
// of its TPM token): an OS-protected store behind one small asynchronous interface. The desktop app seals
// with Electron's safeStorage (DPAPI, Keychain, libsecret/kwallet; electron/shell/secret-store.ts);
// headless mode, a development tool, has only the clearly labelled plain-file store below.
import fs from 'node:fs';
import path from 'node:path';

/**
 * What protects sealed secrets on this machine. `basic-text` is Chromium's Linux fallback without a
 * keyring (a fixed password: anyone who copies the file can open it), refused unless the
 * AllowBasicTextSecretStorage policy allows it.
 */
export type SecretProtection =
  | { available: true; level: 'os' | 'basic-text' | 'development'; detail: string }
  | { available: false; detail: string };

export interface SecretStore {
  /** Shown in the diagnostic and the audit trail: which protection the secrets have. */
  readonly kind: string;
  protection(): Promise<SecretProtection>;
  seal(plain: string): Promise<Buffer>;
  /** `reseal`: the OS rotated its key; seal the secret again. */
  open(sealed: Buffer): Promise<{ plain: string; reseal: boolean }>;
}

/**
 * DEVELOPMENT ONLY (headless mode): no protection beyond the file's 0600 mode in the state directory.
 * The packaged app never uses it (its secrets are sealed by the OS through safeStorage).
 */
export const developmentPlainStore: SecretStore = {
  kind: 'development-plain-file',
  protection: async () => ({ available: true, level: 'development', detail: 'fichier en clair (développement)' }),
  seal: async (plain) => Buffer.from(plain, 'utf8'),
  open: async (sealed) => ({ plain: sealed.toString('utf8'), reseal: false }),
};

/** Writes a sealed blob readable by this account only (atomic: a crash never leaves half a key). */
export function writeSealed(file: string, sealed: Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, sealed, { mode: 0o600 });
  fs.renameSync(tmp, file);
}
