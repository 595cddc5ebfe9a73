// Re-open grant (badge tap within the roaming window) against two session-server processes on one
// PostgreSQL behind a round-robin balancer, the shift-change case: latency at 32 concurrent clients
// and grants per second at 1, 8 and 32. Floor: the same path's /healthz round trip (transport alone).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { registerWorkstation, SessionServerClient } from '../../electron/core/oidc/server-client';
import { postgresDb } from '../../server/src/db';
import { migrate } from '../../server/src/db';
import { Directory } from '../../server/src/directory';
import { startLoadBalancer } from '../../testbed/lb';
import { startPostgres } from '../../testbed/postgres';
import type { Benchmark } from '../harness';

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, '..', '..');

async function runFor(clients: SessionServerClient[], badges: string[], concurrency: number, total: number, latencies?: number[]): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      const client = clients[w % clients.length]!;
      while (next < total) {
        const i = next++;
        const t0 = performance.now();
        await client.badge(badges[i % badges.length]!, 'desfire-aes-diversified');
        latencies?.push(performance.now() - t0);
      }
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

const bench: Benchmark = {
  name: 'server-reopen',
  unit: 'ms',
  description: 're-open grant latency at 32 clients and grants/s at 1, 8, 32 (two instances, PostgreSQL)',
  async run() {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-bench-'));
    const pg = await startPostgres();
    pg.createDatabase('bench');
    const lb = await startLoadBalancer();
    const issuer = `http://127.0.0.1:${lb.port}`;
    const db = postgresDb(pg.url('bench'));
    await migrate(db);
    // Any CA certificate will do as anchor: no card login here.
    const { makeTestPki } = await import('../../testbed/pki');
    const pki = makeTestPki(path.join(tmp, 'pki'));
    const children: ChildProcess[] = [];
    try {
      // The balancer needs each instance's port before it starts: explicit ports.
      const ports = [0, 0].map(() => 20000 + Math.floor(Math.random() * 20000));
      for (const port of ports) {
        // SILLAGE_BENCH_PROF=DIR writes a CPU profile of each instance there.
        const prof = process.env.SILLAGE_BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.SILLAGE_BENCH_PROF] : [];
        const child = spawn(process.execPath, [...prof, '--import', 'tsx', path.join(root, 'server', 'src', 'main.ts'), '--port', String(port), '--issuer', issuer, '--trust-anchor', pki.root.certFile, '--log-level', 'warn'], {
          env: { ...process.env, DATABASE_URL: pg.url('bench') },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        children.push(child);
        await new Promise<void>((resolve, reject) => {
          child.stdout!.on('data', (d: Buffer) => {
            if (d.toString().includes('Sillage session server:')) resolve();
          });
          child.once('exit', (c) => reject(new Error(`session server exited with ${c}`)));
        });
        // Request logs would cost the instances more than the grants: discard them.
        child.stdout!.resume();
      }
      lb.setBackends(ports);

      const dir = new Directory(db);
      const badges: string[] = [];
      for (let i = 0; i < 64; i++) {
        const a = await dir.addAccount({ idNat: `8999990${String(i).padStart(5, '0')}`, adLogin: `bench${i}`, lastName: `BENCH${i}`, firstName: 'Test', profession: 'Infirmier', secret: '2468' });
        await dir.bindBadge(`desfire:bench-${i}`, a.id);
        badges.push(`desfire:bench-${i}`);
      }
      const clients: SessionServerClient[] = [];
      for (let i = 0; i < 32; i++) {
        const creds = await registerWorkstation(issuer, await dir.createEnrolmentToken(`bench-${i}`), `BENCH-PC-${i}`);
        // Half the workstations on each instance, as a balancer would spread them; requests go straight
        // to the instance so the load generator does not also pay for a balancer in its own process.
        const port = ports[i % ports.length]!;
        const direct: typeof fetch = (url, init) => fetch(String(url instanceof Request ? url.url : url).replace(issuer, `http://127.0.0.1:${port}`), init);
        clients.push(await SessionServerClient.connect(issuer, creds, { allowHttp: true, fetch: direct }));
      }
      // Start of the shift: every badge's 2-factor login opens its roaming session.
      for (const [i, b] of badges.entries()) await clients[i % clients.length]!.badge(b, 'desfire-aes-diversified', '2468');

      const floor: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t0 = performance.now();
        await (await fetch(`http://127.0.0.1:${ports[i % 2]}/healthz`)).arrayBuffer();
        floor.push(performance.now() - t0);
      }
      await runFor(clients, badges, 8, 200); // warm-up (JIT, connection pools)
      const grantsPerSecond: Record<string, number> = {};
      for (const c of [1, 8]) grantsPerSecond[String(c)] = Math.round(await runFor(clients, badges, c, c === 1 ? 300 : 1500));
      const samples: number[] = [];
      grantsPerSecond['32'] = Math.round(await runFor(clients, badges, 32, 3000, samples));
      return { samples, floor, extra: { grantsPerSecond, instances: 2, database: 'postgresql', concurrency: 32 } };
    } finally {
      for (const c of children) c.kill('SIGTERM');
      await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)));
      await db.close();
      await lb.close();
      await pg.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
};

export default bench;
