// A private PostgreSQL cluster for tests: initdb in a temporary directory, pg_ctl on a free port, unix
// socket in the same directory. As root (CI), the cluster runs as the `postgres` user (initdb refuses
// root). The tests talk to it over TCP with node-postgres, exactly as the server does in production.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';

export interface PostgresHandle {
  url(database?: string): string;
  createDatabase(name: string): void;
  /** Stops the server abruptly (as a crash would), keeping its data: "database down". */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same data (without blocking: load keeps running meanwhile). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function binDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base)
    ? fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, 'bin', 'pg_ctl')))
    : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions[0])
    throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql: apt-get install postgresql');
  return path.join(base, versions[0], 'bin');
}

export async function startPostgres(): Promise<PostgresHandle> {
  const bin = binDir();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-pg-'));
  const data = path.join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    fs.chmodSync(dir, 0o755);
    execFileSync('chown', ['postgres:postgres', dir]);
  }
  // runuser keeps the environment minimal and never asks for a password.
  const command = (cmd: string, args: string[]): [string, string[]] => {
    const full = path.join(bin, cmd);
    return asRoot ? ['runuser', ['-u', 'postgres', '--', full, ...args]] : [full, args];
  };
  const runAsync = (cmd: string, args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const [file, argv] = command(cmd, args);
      const child = spawn(file, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} failed: ${err}`))));
    });
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(...command(cmd, args), { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'sillage', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  const startArgs = [
    '-D',
    data,
    '-l',
    path.join(dir, 'log'),
    '-w',
    '-t',
    '30',
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
    'start',
  ];
  run('pg_ctl', startArgs);
  let running = true;
  const handle: PostgresHandle = {
    url: (db = 'postgres') => `postgres://sillage@127.0.0.1:${port}/${db}`,
    createDatabase(name) {
      if (!/^[a-z0-9_]+$/.test(name)) throw new Error('database name');
      run('psql', ['-h', dir, '-p', String(port), '-U', 'sillage', '-d', 'postgres', '-c', `CREATE DATABASE ${name}`]);
    },
    async kill() {
      await runAsync('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      running = false;
    },
    async restart() {
      await runAsync('pg_ctl', startArgs);
      running = true;
    },
    async stop() {
      try {
        if (running) run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  return handle;
}
