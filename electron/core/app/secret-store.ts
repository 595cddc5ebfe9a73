// Where the agent keeps its secrets at rest (the workstation's private key): an OS-protected store behind
// one small interface. The desktop app seals with Electron's safeStorage (DPAPI, Keychain, libsecret);
// headless mode, a development tool, has only the clearly labelled plain-file store below.
import fs from 'node:fs';
import path from 'node:path';

export interface SecretStore {
  /** Shown in the diagnostic and the audit trail: which protection the secrets have. */
  readonly kind: string;
  isAvailable(): boolean;
  seal(plain: string): Buffer;
  open(sealed: Buffer): string;
}

/**
 * DEVELOPMENT ONLY (headless mode): no protection beyond the file's 0600 mode in the state directory.
 * The packaged app never uses it (its secrets are sealed by the OS through safeStorage).
 */
export const developmentPlainStore: SecretStore = {
  kind: 'development-plain-file',
  isAvailable: () => true,
  seal: (plain) => Buffer.from(plain, 'utf8'),
  open: (sealed) => sealed.toString('utf8'),
};

/** Writes a sealed blob readable by this account only (atomic: a crash never leaves half a key). */
export function writeSealed(file: string, sealed: Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, sealed, { mode: 0o600 });
  fs.renameSync(tmp, file);
}
