// The session server's state, all of it in the database: migrated schema, directory, roaming sessions,
// the provider's secrets and the audit chain (with the metrics counting its decisions, when enabled).
import { Audit } from '../audit';
import type { Db } from '../db';
import { migrate } from '../db';
import { DEFAULT_DIRECTORY_POLICY, Directory } from '../directory';
import type { DirectoryPolicy } from '../directory';
import type { Log } from '../log';
import { Metrics } from '../metrics';
import type { Kek } from '../secrets';
import { SecretStore } from '../secrets';
import { Sessions } from '../sessions';
import { ServerKeys } from './keys';

export interface StorageOptions {
  db: Db;
  directoryPolicy?: DirectoryPolicy;
  mfaWindowMs?: number;
  secretsKey?: Kek | null;
  accessTokenTtlS: number;
  metrics: boolean;
  now: () => Date;
  log: Log;
}

export interface Storage {
  directory: Directory;
  sessions: Sessions;
  store: SecretStore;
  keys: ServerKeys;
  audit: Audit;
  metrics: Metrics | null;
  /** The server-wide secret (shared by every instance) that seals what the server hands out. */
  nonceKey: Buffer;
}

export async function openStorage(opts: StorageOptions): Promise<Storage> {
  const { db, now } = opts;
  await migrate(db);
  const directory = new Directory(db, opts.directoryPolicy ?? DEFAULT_DIRECTORY_POLICY, now);
  const sessions = new Sessions(db, opts.mfaWindowMs ?? 4 * 3600_000, now);
  const store = new SecretStore(db, opts.secretsKey ?? null);
  const keys = await ServerKeys.open(store, opts.accessTokenTtlS, now, opts.log);
  const metrics = opts.metrics ? new Metrics({ db, activeSessions: () => sessions.countActive() }) : null;
  const audit = new Audit(db, now, async () => keys.checkpointKeys(), metrics ? (e) => metrics.decision(e) : undefined);
  const nonceKey = Buffer.from(keys.secrets.nonceKey, 'base64url');
  return { directory, sessions, store, keys, audit, metrics, nonceKey };
}
