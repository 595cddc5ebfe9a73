// What every database command of `server:admin` works with, opened once by runAdmin.
import fs from 'node:fs';
import path from 'node:path';
import type { Audit } from '../audit';
import type { CheckpointKeys } from '../audit';
import type { Db } from '../db';
import type { Account, Directory } from '../directory';
import type { SecretStore } from '../secrets';
import type { Sessions } from '../sessions';

export interface AdminContext {
  /** The whole command line, for its options (argValue). */
  argv: string[];
  /** The command's positional arguments. */
  args: string[];
  out: (s: string) => void;
  db: Db;
  dir: Directory;
  audit: Audit;
  sessions: Sessions;
  /** The store of the server's secrets, opened on first use (with --secrets-key-file). */
  secrets(): SecretStore;
  /** The checkpoint keys of the moment, or null before the server's first start. */
  auditKeys(): Promise<CheckpointKeys | null>;
  /** The account of a login; throws when there is none. */
  who(login: string): Promise<Account>;
}

/** A command: its exit status (0 done, 1 refused or failed). */
export type AdminCommand = (c: AdminContext) => Promise<number>;

/** Who acts, in the audit records of admin commands. */
export const ADMIN = { workstation: 'admin-cli' } as const;

/**
 * The text of a file a command names. A path that names no readable file is said in a sentence, French then
 * English, with where it was looked for (npm runs the command in the repository, not where it was typed) and
 * what to do, never as Node's ENOENT.
 */
export function readNamedFile(file: string, what: { fr: string; en: string }): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'EISDIR' && code !== 'EACCES') throw e;
    const where = path.resolve(file) === file ? file : `${file} (${path.resolve(file)})`;
    const [fr, en] =
      code === 'ENOENT'
        ? ['fichier introuvable', 'file not found']
        : code === 'EISDIR'
          ? ['ceci est un dossier, pas un fichier', 'this is a folder, not a file']
          : ['lecture refusée', 'permission denied'];
    throw new Error(`${fr} : ${where} — ${what.fr} / ${en}: ${where} — ${what.en}`);
  }
}

/** A revocation: audited as done or refused (nothing active under that identifier), said, exit status. */
export async function revoked(
  c: AdminContext,
  done: boolean,
  action: string,
  details: Record<string, unknown>,
  said: { done: string; refused: string },
): Promise<number> {
  await c.audit.append({ ...ADMIN, action, outcome: done ? 'ok' : 'refused', details });
  c.out(done ? said.done : said.refused);
  return done ? 0 : 1;
}
