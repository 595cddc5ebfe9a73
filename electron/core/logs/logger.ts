// Agent log: JSON lines in the machine's log location, rotated by size, secrets redacted by field name
// and by shape (JWT-like and bearer values) whatever the caller passes. The audit trail is separate.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };
const SECRET_FIELD = /pin|secret|password|token|authorization|cookie|key|assertion|sessioncode/i;
const SECRET_SHAPE = /\b(eyJ[\w-]+\.[\w-]+\.[\w-]*|Bearer\s+\S+)/g;

export function redact(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return v.replace(SECRET_SHAPE, '[redacted]');
  if (!v || typeof v !== 'object' || depth > 4) return v;
  if (Array.isArray(v)) return v.map((x) => redact(x, depth + 1));
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>).map(([k, x]) => [
      k,
      SECRET_FIELD.test(k) ? '[redacted]' : redact(x, depth + 1),
    ]),
  );
}

/** An exception no boundary mapped, as log fields: its kind and its text (the log redacts it as any field). */
export function exceptionFields(e: unknown): { error: string; message: string } {
  const err = e as Error | null | undefined;
  return { error: err?.name ?? typeof e, message: err?.message ?? String(e) };
}

export class Logger {
  private size = 0;
  private fd: number | null = null;

  constructor(
    private readonly opts: { dir: string; level: () => LogLevel; maxBytes?: number; keep?: number; name?: string },
  ) {}

  private get file(): string {
    return path.join(this.opts.dir, `${this.opts.name ?? 'sillage'}.log`);
  }

  log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (RANK[level] > RANK[this.opts.level()]) return;
    const line =
      JSON.stringify({ t: new Date().toISOString(), level, msg: redact(msg), ...(redact(fields) as object) }) + '\n';
    this.open();
    if (this.size + line.length > (this.opts.maxBytes ?? 5 * 1024 * 1024)) this.rotate();
    fs.writeSync(this.fd!, line);
    this.size += Buffer.byteLength(line);
  }

  error(msg: string, f?: Record<string, unknown>) {
    this.log('error', msg, f);
  }
  warn(msg: string, f?: Record<string, unknown>) {
    this.log('warn', msg, f);
  }
  info(msg: string, f?: Record<string, unknown>) {
    this.log('info', msg, f);
  }
  debug(msg: string, f?: Record<string, unknown>) {
    this.log('debug', msg, f);
  }

  /** The current log's last lines (for the diagnostic export). */
  tail(lines = 200): string[] {
    try {
      return fs.readFileSync(this.file, 'utf8').trimEnd().split('\n').slice(-lines);
    } catch {
      return [];
    }
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  private open(): void {
    if (this.fd !== null) return;
    fs.mkdirSync(this.opts.dir, { recursive: true });
    this.fd = fs.openSync(this.file, 'a', 0o640);
    this.size = fs.fstatSync(this.fd).size;
  }

  private rotate(): void {
    this.close();
    const keep = this.opts.keep ?? 5;
    fs.rmSync(`${this.file}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--)
      if (fs.existsSync(`${this.file}.${i}`)) fs.renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`);
    if (fs.existsSync(this.file)) fs.renameSync(this.file, `${this.file}.1`);
    this.open();
  }
}

/**
 * Where the agent's log goes on a managed PC: the machine's log location when this account may write
 * there (%ProgramData%\Sillage\logs, created by the MSI; /var/log/sillage), else the user's own
 * (~/Library/Logs/Sillage on macOS, the profile's state directory elsewhere).
 */
export function machineLogDir(
  opts: {
    platform?: NodeJS.Platform;
    env?: NodeJS.ProcessEnv;
    home?: string;
    writable?: (dir: string) => boolean;
  } = {},
): string {
  const platform = opts.platform ?? process.platform;
  const env = opts.env ?? process.env;
  const home = opts.home ?? os.homedir();
  const writable =
    opts.writable ??
    ((dir: string) => {
      try {
        fs.mkdirSync(dir, { recursive: true });
        fs.accessSync(dir, fs.constants.W_OK);
        return true;
      } catch {
        return false;
      }
    });
  const pj = platform === 'win32' ? path.win32 : path.posix;
  const machine =
    platform === 'win32'
      ? pj.join(env.ProgramData ?? 'C:\\ProgramData', 'Sillage', 'logs')
      : platform === 'linux'
        ? '/var/log/sillage'
        : null;
  if (machine && writable(machine)) return machine;
  if (platform === 'win32') return pj.join(env.LOCALAPPDATA ?? pj.join(home, 'AppData', 'Local'), 'Sillage', 'logs');
  if (platform === 'darwin') return pj.join(home, 'Library', 'Logs', 'Sillage');
  return pj.join(env.XDG_STATE_HOME ?? pj.join(home, '.local', 'state'), 'sillage', 'logs');
}
