// Command-line and environment options shared by `npm run server` and the admin CLI.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Db } from './db';
import { pgliteDb, postgresDb } from './db';
import { kekFromText, newKekText } from './secrets';
import type { Kek } from './secrets';
import type { Log } from './log';
import type { DataDirHolder } from './pglite-lock';

export function argValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
}

export function argValues(argv: string[], name: string): string[] {
  const out: string[] = [];
  argv.forEach((a, i) => {
    if (a === name && argv[i + 1]) out.push(argv[i + 1]!);
    else if (a.startsWith(`${name}=`)) out.push(a.slice(name.length + 1));
  });
  return out;
}

/**
 * Splits a command line by its usage text: `--name VALUE` (or `--name on|off`) there takes a value, a bare
 * `--name` is a flag (`--help` and `-h` always are). The other words are returned in order; the first option
 * the usage does not name is `unknown` — a typo such as `--data-dirr` would otherwise run on the default
 * database.
 */
export function splitArgs(argv: string[], usage: string): { words: string[]; unknown: string | null } {
  const values = new Set([...usage.matchAll(/(--[a-z0-9-]+) (?:[A-Z]|[a-z]+\|)/g)].map((m) => m[1]!));
  const flags = new Set([
    '--help',
    '-h',
    ...[...usage.matchAll(/(--[a-z0-9-]+)(?![a-z0-9-]| [A-Z]| [a-z]+\|)/g)].map((m) => m[1]!),
  ]);
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.split('=')[0]!;
    if (values.has(name)) {
      if (!a.includes('=')) i++;
    } else if (flags.has(name)) continue;
    else if (a.startsWith('-')) return { words, unknown: a };
    else words.push(a);
  }
  return { words, unknown: null };
}

export const defaultDataDir = () =>
  path.join(process.env.XDG_DATA_HOME ?? path.join(os.homedir(), '.local', 'share'), 'sillage-server');

const databaseUrl = (argv: string[]) => argValue(argv, '--database-url') ?? process.env.DATABASE_URL;
const pgliteDir = (argv: string[]) =>
  argValue(argv, '--data-dir') ?? process.env.SILLAGE_SERVER_DATA ?? defaultDataDir();

/** PostgreSQL when DATABASE_URL / --database-url is given (production), else PGlite in a data directory. */
export async function openDb(argv: string[], holder: DataDirHolder, log?: Log): Promise<Db> {
  const url = databaseUrl(argv);
  if (url) {
    const pool = argValue(argv, '--db-pool-size') ?? process.env.DATABASE_POOL_SIZE;
    const n = pool === undefined ? undefined : Number(pool);
    if (n !== undefined && !(Number.isInteger(n) && n >= 1 && n <= 100))
      throw new Error(`--db-pool-size must be a whole number from 1 to 100 (got ${pool})`);
    const prepared = argValue(argv, '--db-prepared-statements') ?? process.env.DATABASE_PREPARED_STATEMENTS ?? 'on';
    if (prepared !== 'on' && prepared !== 'off')
      throw new Error(`--db-prepared-statements must be on or off (got ${prepared})`);
    return postgresDb(url, n, {
      preparedStatements: prepared === 'on',
      onFallback: (reason) =>
        log?.error('named statements refused by the connection pooler: sending them unnamed from now on', {
          reason,
          fix: 'PgBouncer >= 1.21 with max_prepared_statements, or --db-prepared-statements off',
        }),
    });
  }
  return pgliteDb(pgliteDir(argv), holder);
}

/** Where PGlite keeps the key-encryption key it makes for itself (inside its data directory). */
export const PGLITE_KEK_FILE = 'sillage-secrets.key';

/**
 * The key-encryption key of the server's secrets: --secrets-key-file FILE (or SILLAGE_SECRETS_KEY_FILE),
 * readable by the server's account only, or SILLAGE_SECRETS_KEY. Without either, PGlite (the embedded
 * server) makes its own in its data directory (0600) on first start, after the database opened it;
 * PostgreSQL then runs with its secrets in clear (and says so in its log).
 */
export function secretsKey(argv: string[]): Kek | null {
  const file = argValue(argv, '--secrets-key-file') ?? process.env.SILLAGE_SECRETS_KEY_FILE;
  if (file) return kekFromFile(file);
  if (process.env.SILLAGE_SECRETS_KEY) return kekFromText(process.env.SILLAGE_SECRETS_KEY, 'SILLAGE_SECRETS_KEY');
  if (databaseUrl(argv)) return null;
  const own = path.join(pgliteDir(argv), PGLITE_KEK_FILE);
  try {
    fs.writeFileSync(own, newKekText() + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  return kekFromFile(own);
}

export function kekFromFile(file: string): Kek {
  let text: string;
  try {
    // A KEK others can read opens every secret it seals: refused, as the DESFire key file is.
    if (process.platform !== 'win32' && fs.statSync(file).mode & 0o077)
      throw new Error(`${file}: readable by others, chmod 600 it`);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${file}: no such key-encryption key file`);
    throw e;
  }
  return kekFromText(text, file);
}
