// What every database command of `server:admin` works with, opened once by runAdmin.
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
