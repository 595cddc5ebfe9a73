// The attacking side of the listener tests and fuzzers: starts agent-host.ts as its own process (a
// listener that throws kills that process, which the tests see) and speaks raw bytes to its listeners.
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import type { HostAddresses } from './agent-host';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

export interface HostStats {
  handedOut: string[];
  auditBytes: number;
  sessionKind: string;
}

export interface Host {
  addresses: HostAddresses;
  /** The process is still running (no listener killed it). */
  alive(): boolean;
  stderr(): string;
  stats(): Promise<HostStats>;
  stop(): Promise<void>;
}

export async function startHost(): Promise<Host> {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'test/listeners/agent-host.ts')],
    { cwd: ROOT, env: { ...process.env } },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // How it ended, for the failure message of a test that finds it dead.
  child.on('exit', (code, sig) => (stderr += `\n[agent host exited: ${sig ?? code}]`));
  const waiting: ((s: HostStats) => void)[] = [];
  const addresses = await new Promise<HostAddresses>((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).on('line', (l) => {
      const m = JSON.parse(l) as { ready?: HostAddresses; stats?: HostStats };
      if (m.ready) resolve(m.ready);
      if (m.stats) waiting.shift()?.(m.stats);
    });
    child.once('exit', (code) => reject(new Error(`agent host exited (${code}): ${stderr}`)));
  });
  return {
    addresses,
    alive: () => child.exitCode === null && child.signalCode === null,
    stderr: () => stderr,
    stats: () =>
      new Promise<HostStats>((resolve) => {
        waiting.push(resolve);
        child.stdin.write('stats\n');
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}

export interface RawAnswer {
  /** Everything the listener sent before closing or going quiet. */
  data: Buffer;
  /** HTTP status of the first answer, if it was one. */
  status: number | null;
  closed: boolean;
}

/**
 * Opens a connection (TCP port or socket path), writes `chunks`, optionally half-closes, and collects
 * what comes back until the listener closes or stays quiet for `quietMs` once something came.
 */
export function raw(
  to: number | string,
  chunks: (Buffer | string)[],
  opts: { halfClose?: boolean; quietMs?: number; maxMs?: number } = {},
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const s = typeof to === 'number' ? net.connect(to, '127.0.0.1') : net.connect(to);
    const parts: Buffer[] = [];
    let quiet: NodeJS.Timeout | null = null;
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(max);
      if (quiet) clearTimeout(quiet);
      s.destroy();
      const data = Buffer.concat(parts);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(data.subarray(0, 16).toString('latin1'));
      resolve({ data, status: m ? Number(m[1]) : null, closed });
    };
    const max = setTimeout(() => finish(false), opts.maxMs ?? 5000);
    s.on('data', (d: Buffer) => {
      parts.push(d);
      if (quiet) clearTimeout(quiet);
      quiet = setTimeout(() => finish(false), opts.quietMs ?? 150);
    });
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
    s.on('connect', () => {
      for (const c of chunks) s.write(c);
      if (opts.halfClose) s.end();
    });
  });
}

/** A plain HTTP/1.1 request as bytes (nothing normalised: the point is to send what clients would not). */
export function httpRequest(
  method: string,
  target: string,
  headers: Record<string, string>,
  body: Buffer | string = '',
): Buffer {
  const head = `${method} ${target} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}${body.length ? `content-length: ${Buffer.byteLength(body)}\r\n` : ''}connection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]);
}
