// The agent at rest, as a ward PC spends most of its day: the headless agent process (its own Node,
// not this one) with real PC/SC readers on pcscd + vpcd, registered with a session server on
// PostgreSQL, its UI server up, nobody tapping. Over 2 idle minutes: CPU seconds (user + system, from
// /proc) and resident memory. Samples are the CPU seconds of each 10-second slice.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../../server/src/app';
import { postgresDb } from '../../server/src/db';
import { jsonLog } from '../../server/src/log';
import { startPcscd } from '../../testbed/pcscd';
import { startPostgres } from '../../testbed/postgres';
import type { Benchmark } from '../harness';

const IDLE_S = 120;
const SLICE_S = 10;
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  return (Number(f[11]) + Number(f[12])) / ticks;
}

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const bench: Benchmark = {
  name: 'agent-idle',
  unit: 's',
  description: `idle agent process over ${IDLE_S} s: CPU seconds per ${SLICE_S} s slice, total CPU and resident memory`,
  async run() {
    if (process.platform !== 'linux') throw new Error('agent-idle reads /proc: Linux only');
    if (!fs.existsSync(path.join(root, 'renderer', 'dist', 'index.html')))
      execFileSync('npm', ['run', 'build:ui', '--silent'], { cwd: root, stdio: 'inherit' });
    const pcscd = await startPcscd();
    const pg = await startPostgres();
    pg.createDatabase('bench');
    const db = postgresDb(pg.url('bench'));
    const server = await startServer({ db, port: 0, trustAnchorsPem: [], log: jsonLog(() => {}, 'silent') });
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-bench-idle-'));
    fs.writeFileSync(
      path.join(dataDir, 'policy.json'),
      JSON.stringify({
        BadgeProfiles: [{ name: 'chu', aid: 'F51230', keyNo: 1, fileNo: 1, length: 16, mode: 'full' }],
      }),
    );
    const token = await server.directory.createEnrolmentToken('idle');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'electron/core/headless/main.ts',
        '--no-demo',
        '--pcsc',
        '--port',
        '0',
        '--no-control',
        '--data-dir',
        dataDir,
        '--policy-file',
        path.join(dataDir, 'policy.json'),
        '--server',
        server.issuer,
      ],
      {
        cwd: root,
        env: { ...process.env, PCSCLITE_CSOCK_NAME: pcscd.env.PCSCLITE_CSOCK_NAME, SILLAGE_ENROLMENT_TOKEN: token },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    try {
      const end = Date.now() + 30_000;
      while (!/ouvrez \/ open/.test(out)) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`agent did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // Settle: module loading and registration are start-up, not idle.
      await new Promise((r) => setTimeout(r, 5000));
      const pid = child.pid!;
      const start = cpuSeconds(pid);
      const samples: number[] = [];
      let last = start;
      let peak = rssMB(pid);
      for (let t = 0; t < IDLE_S; t += SLICE_S) {
        await new Promise((r) => setTimeout(r, SLICE_S * 1000));
        const now = cpuSeconds(pid);
        samples.push(Math.round((now - last) * 1000) / 1000);
        last = now;
        peak = Math.max(peak, rssMB(pid));
      }
      const total = Math.round((last - start) * 1000) / 1000;
      return {
        samples,
        floor: null,
        extra: {
          cpuSeconds: total,
          rssMB: Math.round(peak * 10) / 10,
          idleSeconds: IDLE_S,
          readers: 'pcscd + 2 vpcd readers',
          server: 'registered, PostgreSQL',
        },
      };
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      await server.close();
      await db.close();
      await pg.stop();
      await pcscd.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  },
};

export default bench;
