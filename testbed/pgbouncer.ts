// A private PgBouncer (Debian's `pgbouncer`) in front of a test PostgreSQL, in transaction pooling mode as
// a hospital group would run it: clients share a few server connections, each transaction (or lone
// statement) may run on a different one. As root it runs as the `postgres` user (it refuses root).
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';

export interface PgBouncerHandle {
  url(database: string): string;
  /** The version line of the binary ("PgBouncer 1.18.0"). */
  version: string;
  stop(): Promise<void>;
}

export const PGBOUNCER = '/usr/sbin/pgbouncer';

async function listening(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`pgbouncer did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `upstream` is a PostgreSQL URL without password (trust authentication, as the test cluster uses);
 * `options` are more `[pgbouncer]` settings (`max_prepared_statements = 200` on PgBouncer ≥ 1.21).
 */
export async function startPgBouncer(
  upstream: string,
  opts: { poolMode?: 'transaction' | 'session'; poolSize?: number; options?: Record<string, string> } = {},
): Promise<PgBouncerHandle> {
  if (!fs.existsSync(PGBOUNCER)) throw new Error(`${PGBOUNCER} not found: apt-get install pgbouncer`);
  const u = new URL(upstream);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-pgbouncer-'));
  const port = await freePort();
  const user = decodeURIComponent(u.username);
  fs.writeFileSync(path.join(dir, 'users.txt'), `"${user}" ""\n`);
  const settings: Record<string, string> = {
    listen_addr: '127.0.0.1',
    listen_port: String(port),
    unix_socket_dir: '',
    auth_type: 'trust',
    auth_file: path.join(dir, 'users.txt'),
    pool_mode: opts.poolMode ?? 'transaction',
    default_pool_size: String(opts.poolSize ?? 4),
    max_client_conn: '500',
    logfile: path.join(dir, 'pgbouncer.log'),
    pidfile: path.join(dir, 'pgbouncer.pid'),
    ...opts.options,
  };
  fs.writeFileSync(
    path.join(dir, 'pgbouncer.ini'),
    `[databases]\n* = host=${u.hostname} port=${u.port}\n\n[pgbouncer]\n${Object.entries(settings)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n')}\n`,
  );
  const asRoot = process.getuid?.() === 0;
  if (asRoot) spawnSync('chown', ['-R', 'postgres:postgres', dir]);
  const ini = path.join(dir, 'pgbouncer.ini');
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const child: ChildProcess = spawn(PGBOUNCER, [ini], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(asRoot ? { uid: id('-u'), gid: id('-g') } : {}),
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await Promise.race([
      listening(port, 10_000),
      new Promise((_, reject) => child.once('exit', (c) => reject(new Error(`pgbouncer exited (${c}): ${stderr}`)))),
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const version = spawnSync(PGBOUNCER, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]!.trim();
  return {
    url: (database) => `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${database}`,
    version,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        // SIGTERM: immediate shutdown (SIGINT would wait for every client to leave).
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
