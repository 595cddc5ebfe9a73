// PGlite runs inside one process and works on that process's copy of the database: a second process
// opening the same directory (the admin CLI beside a running server) would write its own copy, and the
// last writer silently wins — admin changes and audit records lost. So a PGlite directory belongs to
// one process at a time, named with its PID in a lock file; a lock whose process is gone is taken over.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const LOCK_FILE = 'sillage.lock';

export type DataDirHolder = 'server' | 'admin';

interface LockOwner {
  pid: number;
  host: string;
  holder: DataDirHolder;
  since: string;
}

export class DataDirInUse extends Error {
  constructor(
    readonly dir: string,
    /** Null when the lock changed hands while this process was taking it. */
    readonly owner: LockOwner | null,
  ) {
    const server = owner?.holder !== 'admin';
    super(
      [
        (server ? 'base utilisée par un serveur en marche' : 'base utilisée par une autre commande d’administration') +
          ` ${owner ? `(PID ${owner.pid} sur ${owner.host}, depuis ${owner.since}) ` : ''}: ${dir}`,
        `  PGlite ne sert qu’un processus à la fois : arrêtez-le, lancez cette commande, puis redémarrez-le ;`,
        `  sur PostgreSQL (--database-url), l’administration se fait serveur en marche.`,
        `  Si aucun processus Sillage ne tourne plus, supprimez ${path.join(dir, LOCK_FILE)}.`,
        `  (database in use by ${server ? 'a running server' : 'another admin command'})`,
      ].join('\n'),
    );
  }
}

function readOwner(file: string): LockOwner | null {
  try {
    const o = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LockOwner>;
    return typeof o.pid === 'number' && typeof o.host === 'string' ? (o as LockOwner) : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, under another account.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the directory (created if missing, as `npm run server` does on a fresh account) for this
 * process, or throws DataDirInUse. Returns the release function (also run at process exit).
 */
export function lockDataDir(dir: string, holder: DataDirHolder): () => void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, host: os.hostname(), holder, since: new Date().toISOString() };
  // Written whole under another name, then linked: a reader never sees a half-written lock, and the
  // link fails if another process holds the name.
  const tmp = `${file}.${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(me) + '\n', { mode: 0o600 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(tmp, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const owner = readOwner(file);
        // Another host's process cannot be checked from here: its lock stands.
        const stale = owner === null || (owner.host === me.host && !alive(owner.pid));
        if (!stale || attempt > 0) throw new DataDirInUse(dir, owner);
        fs.rmSync(file, { force: true });
      }
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  const release = () => {
    process.off('exit', release);
    if (readOwner(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  };
  process.on('exit', release);
  return release;
}
