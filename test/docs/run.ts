// Runs documented command lines as a reader would: bash in the repository, on a fresh account (its own
// HOME, no XDG directories, no database settings), nothing of the tester's environment leaking in.
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './markdown';

export interface Account {
  home: string;
  env: NodeJS.ProcessEnv;
}

export function freshAccount(extra: Record<string, string> = {}): Account {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-home-'));
  const run = path.join(home, 'run');
  fs.mkdirSync(run, { mode: 0o700 });
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_RUNTIME_DIR: run, ...extra };
  for (const k of ['XDG_DATA_HOME', 'XDG_STATE_HOME', 'XDG_CONFIG_HOME', 'SILLAGE_SERVER_DATA', 'DATABASE_URL'])
    delete env[k];
  // npm's once-a-day registry check would otherwise run from the new HOME.
  env.npm_config_update_notifier = 'false';
  return { home, env };
}

export interface Ran {
  code: number | null;
  out: string;
}

/** Runs one command line to its end, with `input` on standard input. */
export function runLine(account: Account, line: string, input = ''): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', line], { cwd: ROOT, env: account.env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.stdin.end(input);
    child.on('close', (code) => resolve({ code, out }));
  });
}

export interface Running {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  /** Resolves with the first match of re in the output (stdout and stderr). */
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** SIGTERM to the whole process group (npm, tsx and node under it), then its exit. */
  stop(): Promise<void>;
}

// Process groups still running when this process ends (a test that timed out): stopped with it.
const groups = new Set<number>();
process.once('exit', () => {
  for (const g of groups)
    try {
      process.kill(-g, 'SIGTERM');
    } catch {
      // already gone
    }
});

/** Starts a long-running command line (a server, the agent) in its own process group. */
export function startLine(account: Account, line: string): Running {
  const child = spawn('bash', ['-c', line], { cwd: ROOT, env: account.env, detached: true });
  groups.add(child.pid!);
  child.once('exit', () => groups.delete(child.pid!));
  let out = '';
  const waiters = new Set<() => void>();
  const feed = (d: Buffer) => {
    out += d.toString();
    waiters.forEach((w) => w());
  };
  child.stdout.on('data', feed);
  child.stderr.on('data', feed);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    output: () => out,
    waitFor(re, ms = 90_000) {
      return new Promise((resolve, reject) => {
        const done = (f: () => void) => {
          waiters.delete(check);
          clearTimeout(timer);
          f();
        };
        const check = () => {
          const m = re.exec(out);
          if (m) done(() => resolve(m));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no ${re} within ${ms} ms in:\n${out}`))), ms);
        waiters.add(check);
        void exited.then(() => done(() => reject(new Error(`exited before ${re}:\n${out}`))));
        check();
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        return;
      }
      await exited;
    },
  };
}

/** A Node.js stack trace: what a reader must never get instead of a sentence. */
export const STACK_TRACE = /^\s+at .+:\d+:\d+\)?$|node:internal|^Node\.js v\d+/m;
