// A private pcscd with vsmartcard-vpcd virtual readers, for tests and benchmarks.
// Debian's pcscd (1.9.9) always uses /run/pcscd for its socket and pid file, so a second daemon (or one
// beside the system's) runs in a private mount namespace where /run/pcscd is a bind mount of a temp
// directory. Clients reach it with PCSCLITE_CSOCK_NAME (honoured by libpcsclite, not by the daemon).
// Needs root (unshare -m), as in CI.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { PcscMonitor } from '../electron/core/devices/pcsc';
import type { VirtualCard } from './vpcd-client';

const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so';

const accepts = (socket: string) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(socket);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

export interface PcscdHandle {
  pid: number;
  /** Environment a pcsclite client needs to reach this daemon. */
  env: { PCSCLITE_CSOCK_NAME: string };
  /** vpcd TCP ports, one per virtual reader ("Virtual PCD 00 00", "... 00 01"). */
  ports: number[];
  readerNames: string[];
  dir: string;
  stop(): Promise<void>;
  /** Kill and start again with the same socket and ports (pcscd restart scenarios). */
  restart(): Promise<void>;
}

export function requireBinary(bin: string, pkg: string) {
  if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0)
    throw new Error(`${bin} not found: install the Debian package ${pkg}`);
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

/** vpcd opens its first port at the configured base and the next ones above it. */
export async function freeBase(count: number): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const base = 30000 + Math.floor(Math.random() * 25000);
    const checks = await Promise.all(Array.from({ length: count }, (_, k) => portFree(base + k)));
    if (checks.every(Boolean)) return base;
  }
  throw new Error('no free port range for vpcd');
}

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  // On the monotonic clock: tests move Date (a PC whose clock is off).
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Takes a card off `reader` once pcscd saw it there, and waits until pcscd (through `monitor`) saw it go:
 * the next card on that reader is then a new insertion, never one pcscd's polling missed.
 */
export async function takeOff(card: VirtualCard, monitor: PcscMonitor, reader: string): Promise<void> {
  const seen = () => monitor.list().some((r) => r.name === reader && r.atr);
  await waitFor(seen, 5000, `a card seen on ${reader}`);
  await card.remove();
  await waitFor(() => !seen(), 5000, `${reader} empty`);
}

export async function startPcscd(
  opts: {
    basePort?: number;
    /** vpcd's FRIENDLYNAME: the readers are named "<name> 00 00" and "<name> 00 01". */
    friendlyName?: string;
  } = {},
): Promise<PcscdHandle> {
  requireBinary('pcscd', 'pcscd');
  requireBinary('unshare', 'util-linux');
  if (!fs.existsSync(VPCD_DRIVER))
    throw new Error(`${VPCD_DRIVER} missing: install the Debian package vsmartcard-vpcd`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-pcscd-'));
  const conf = path.join(dir, 'reader.conf.d');
  const run = path.join(dir, 'run');
  fs.mkdirSync(conf);
  fs.mkdirSync(run);
  fs.mkdirSync('/run/pcscd', { recursive: true });
  const base = opts.basePort ?? (await freeBase(2));
  const friendlyName = opts.friendlyName ?? 'Virtual PCD';
  if (/["\n]/.test(friendlyName)) throw new Error('vpcd reader name: no quotes or new lines');
  const hex = `0x${base.toString(16).toUpperCase()}`;
  fs.writeFileSync(
    path.join(conf, 'vpcd'),
    `FRIENDLYNAME "${friendlyName}"\nDEVICENAME /dev/null:${hex}\nLIBPATH ${VPCD_DRIVER}\nCHANNELID ${hex}\n`,
  );
  const socket = path.join(run, 'pcscd.comm');
  let child: ChildProcess | null = null;

  const launch = async () => {
    fs.rmSync(socket, { force: true });
    const log = fs.openSync(path.join(dir, 'pcscd.log'), 'a');
    child = spawn(
      'unshare',
      ['-m', '--propagation', 'private', 'sh', '-c', `mount --bind "${run}" /run/pcscd && exec pcscd -f -c "${conf}"`],
      {
        stdio: ['ignore', log, log],
      },
    );
    fs.closeSync(log);
    const c = child;
    await waitFor(() => fs.existsSync(socket) || c.exitCode !== null, 5000, 'pcscd socket');
    if (c.exitCode !== null)
      throw new Error(
        `pcscd exited (${c.exitCode}): ${fs.readFileSync(path.join(dir, 'pcscd.log'), 'utf8').slice(-500)}`,
      );
    // The socket file exists from bind(), before pcscd listens: a client that comes in between is told
    // "service not available". Ready once a connection is accepted.
    const end = performance.now() + 5000;
    while (!(await accepts(socket))) {
      if (c.exitCode !== null || performance.now() > end) throw new Error('pcscd does not accept connections');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const kill = async () => {
    const c = child as ChildProcess | null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(t);
  };

  await launch();
  return {
    get pid() {
      return (child as ChildProcess | null)?.pid ?? -1;
    },
    env: { PCSCLITE_CSOCK_NAME: socket },
    ports: [base, base + 1],
    readerNames: [`${friendlyName} 00 00`, `${friendlyName} 00 01`],
    dir,
    async stop() {
      await kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await kill();
      await launch();
    },
  };
}
