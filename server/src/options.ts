// Command-line and environment options shared by `npm run server` and the admin CLI.
import os from 'node:os';
import path from 'node:path';
import type { Db } from './db';
import { pgliteDb, postgresDb } from './db';

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

export const defaultDataDir = () =>
  path.join(process.env.XDG_DATA_HOME ?? path.join(os.homedir(), '.local', 'share'), 'sillage-server');

/** PostgreSQL when DATABASE_URL / --database-url is given (production), else PGlite in a data directory. */
export async function openDb(argv: string[]): Promise<Db> {
  const url = argValue(argv, '--database-url') ?? process.env.DATABASE_URL;
  if (url) {
    const pool = argValue(argv, '--db-pool-size') ?? process.env.DATABASE_POOL_SIZE;
    const n = pool === undefined ? undefined : Number(pool);
    if (n !== undefined && !(Number.isInteger(n) && n >= 1 && n <= 100))
      throw new Error(`--db-pool-size must be a whole number from 1 to 100 (got ${pool})`);
    return postgresDb(url, n);
  }
  return pgliteDb(argValue(argv, '--data-dir') ?? process.env.SILLAGE_SERVER_DATA ?? defaultDataDir());
}
