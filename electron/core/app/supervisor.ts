// Fail closed: on a ward PC the agent runs under a small supervisor process, so an agent that dies for any
// reason (an exception, a native crash, out of memory, SIGKILL) never leaves the desktop open.
// - The agent reports to the supervisor over a local socket: whether a session is open and the LockMode,
//   and "stopping" before a deliberate exit (Quit allowed by policy, another instance already running).
// - Any other end is a crash: the supervisor locks the OS session at once when the agent was guarding a
//   user's own session (LockMode os with a session open), and restarts the agent, which starts locked with
//   its overlay up (LockMode overlay: the generic ward session is covered again). Too many crashes in a
//   short time lock the OS session whatever the mode, and restarts slow down.
// - The restarted agent is told why and records it in the audit trail.
// Plain Node: the desktop app's main process runs it (a second copy of itself as the agent), and tests
// run it around a headless agent and kill that agent.
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { LockMode } from '../session/lock-mode';

export const SUPERVISOR_ENV = 'SILLAGE_SUPERVISOR';
export const SUPERVISOR_TOKEN_ENV = 'SILLAGE_SUPERVISOR_TOKEN';
export const RESTARTED_ENV = 'SILLAGE_RESTARTED_AFTER';

export type AgentReport =
  | { type: 'hello'; token: string }
  | { type: 'state'; open: boolean; lockMode: LockMode }
  | { type: 'stopping'; reason: string }
  /** A new composition is needed (settings changed): not a crash, start a fresh agent. */
  | { type: 'restart'; reason: string };

export interface SupervisorOptions {
  /** Starts one agent with these extra environment variables (its channel to this supervisor). */
  spawn(env: Record<string, string>): ChildProcess;
  lockOperatingSystem(): Promise<void>;
  log(message: string): void;
  /** Crashes within `crashWindowMs` that lock the OS session whatever the mode (default 3 in 60 s). */
  maxCrashes?: number;
  crashWindowMs?: number;
  /** Delay before a restart after a crash loop; doubled up to 30 s (default 1 s). */
  backoffMs?: number;
  now?: () => number;
}

export interface Supervisor {
  /** The running agent's pid. */
  pid(): number | undefined;
  /** What the running agent last reported. */
  report(): { open: boolean; lockMode: LockMode };
  /** Resolves with the agent's exit code once it stopped deliberately (or `stop()` was called). */
  done: Promise<number>;
  /** Each start of an agent (the first one, then each restart), with why it was started. */
  onStart(listener: (pid: number, reason: string | null) => void): void;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

function channelPath(): string {
  const id = `${process.pid}-${randomBytes(6).toString('hex')}`;
  if (process.platform === 'win32') return `\\\\.\\pipe\\sillage-supervisor-${id}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-supervisor-'));
  return path.join(dir, `${id}.sock`);
}

/**
 * The supervisor's end of the channel: JSON lines, the first one the hello with the per-launch token (only
 * the agent this supervisor started knows it); anything else, or a malformed line, closes the connection.
 */
async function listenForReports(
  socketPath: string,
  token: string,
  onReport: (msg: Exclude<AgentReport, { type: 'hello' }>) => void,
): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let trusted = false;
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > 64 * 1024) return socket.destroy();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let msg: AgentReport;
        try {
          msg = JSON.parse(line) as AgentReport;
        } catch {
          return socket.destroy();
        }
        if (!trusted) {
          if (msg.type !== 'hello' || msg.token !== token) return socket.destroy();
          trusted = true;
        } else if (msg.type !== 'hello') onReport(msg);
      }
    });
  });
  if (process.platform !== 'win32') fs.chmodSync(path.dirname(socketPath), 0o700);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return server;
}

export async function startSupervisor(opts: SupervisorOptions): Promise<Supervisor> {
  const now = opts.now ?? Date.now;
  const token = randomBytes(24).toString('base64url');
  const socketPath = channelPath();
  let child: ChildProcess | null = null;
  let report: { open: boolean; lockMode: LockMode } = { open: false, lockMode: 'overlay' };
  let stopping: string | null = null;
  let restarting: string | null = null;
  let shuttingDown = false;
  let crashes: number[] = [];
  let backoff = opts.backoffMs ?? 1000;
  const startListeners: ((pid: number, reason: string | null) => void)[] = [];
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((r) => (resolveDone = r));

  const server = await listenForReports(socketPath, token, (msg) => {
    if (msg.type === 'state') report = { open: msg.open === true, lockMode: msg.lockMode === 'os' ? 'os' : 'overlay' };
    else if (msg.type === 'stopping') stopping = String(msg.reason);
    else if (msg.type === 'restart') restarting = String(msg.reason);
  });

  const lockOs = (why: string) =>
    opts.lockOperatingSystem().then(
      () => opts.log(`OS session locked: ${why}`),
      (e: Error) => opts.log(`OS session lock failed (${why}): ${e.message}`),
    );

  const launch = (reason: string | null) => {
    stopping = null;
    restarting = null;
    report = { open: false, lockMode: report.lockMode };
    const c = opts.spawn({
      [SUPERVISOR_ENV]: socketPath,
      [SUPERVISOR_TOKEN_ENV]: token,
      ...(reason ? { [RESTARTED_ENV]: reason } : {}),
    });
    child = c;
    c.once('exit', (code, signal) => void ended(c, code, signal));
    for (const l of startListeners) l(c.pid!, reason);
  };

  const finish = (code: number) => {
    server.close();
    if (process.platform !== 'win32') fs.rmSync(path.dirname(socketPath), { recursive: true, force: true });
    resolveDone(code);
  };

  const ended = async (c: ChildProcess, code: number | null, signal: NodeJS.Signals | null) => {
    if (child !== c) return;
    child = null;
    if (shuttingDown || stopping !== null) {
      opts.log(`agent stopped (${stopping ?? 'supervisor stopping'}), exit ${code ?? signal}`);
      return finish(code ?? 0);
    }
    if (restarting !== null) {
      opts.log(`agent restarting: ${restarting}`);
      return launch(null);
    }
    const why = signal ? `killed by ${signal}` : `exited with code ${code}`;
    const t = now();
    crashes = [...crashes.filter((x) => t - x < (opts.crashWindowMs ?? 60_000)), t];
    const loop = crashes.length >= (opts.maxCrashes ?? 3);
    opts.log(`agent ${why}${report.open ? ' with a session open' : ''}: restarting it locked`);
    if (loop) await lockOs(`${crashes.length} agent crashes in a row`);
    else if (report.open && report.lockMode === 'os') await lockOs('agent ended with a session open (LockMode os)');
    if (shuttingDown) return finish(code ?? 1);
    if (loop) {
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 30_000);
    }
    launch(`previous agent ${why}`);
  };

  launch(null);
  return {
    pid: () => child?.pid,
    report: () => ({ ...report }),
    done,
    onStart(listener) {
      startListeners.push(listener);
      if (child) listener(child.pid!, null);
    },
    async stop(signal = 'SIGTERM') {
      shuttingDown = true;
      if (child) child.kill(signal);
      else finish(0);
      return done;
    },
  };
}

/** The agent's side: connects to its supervisor when it has one, and reports. */
export interface SupervisorLink {
  state(open: boolean, lockMode: LockMode): void;
  /** Before a deliberate exit; resolves once the supervisor has it. */
  stopping(reason: string): Promise<void>;
  /** Before exiting to be composed again: the supervisor starts a fresh agent at once. */
  restart(reason: string): Promise<void>;
  close(): void;
}

export function connectSupervisor(env: NodeJS.ProcessEnv = process.env): SupervisorLink | null {
  const where = env[SUPERVISOR_ENV];
  const token = env[SUPERVISOR_TOKEN_ENV];
  if (!where || !token) return null;
  const socket = net.connect(where);
  socket.on('error', () => {});
  const send = (m: AgentReport) =>
    new Promise<void>((r) => (socket.destroyed ? r() : socket.write(JSON.stringify(m) + '\n', () => r())));
  void send({ type: 'hello', token });
  // The channel must not keep an agent that is otherwise done alive.
  socket.unref();
  return {
    state: (open, lockMode) => void send({ type: 'state', open, lockMode }),
    stopping: (reason) => send({ type: 'stopping', reason }),
    restart: (reason) => send({ type: 'restart', reason }),
    close: () => socket.end(),
  };
}
