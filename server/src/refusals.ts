// Refusals of requests nobody authenticated (a malformed request, a failed client authentication, a
// registration without a valid token, a token for another audience) are audited without letting a flood
// grow the audit without bound. Per window (one minute by default), each action and source (the client the
// request claims, else the address it came from) has its first few refusals recorded in full, and all
// sources together at most `maxRecorded`; the rest are counted and written as one record per action and
// source when the window ends (or the server stops). Sources beyond `maxSources` share one, so a caller
// varying the client it claims neither escapes the count nor multiplies the records.
import type { AuditEntry } from './audit';

export interface RefusalLimits {
  /** Refusals recorded in full per action, source and window. */
  perSource: number;
  /** Refusals recorded in full per window, all sources and actions together. */
  maxRecorded: number;
  /** Sources counted apart per window and action; beyond them, refusals share one source. */
  maxSources: number;
  windowMs: number;
}

export const DEFAULT_REFUSAL_LIMITS: RefusalLimits = {
  perSource: 10,
  maxRecorded: 200,
  maxSources: 100,
  windowMs: 60_000,
};

export const OTHER_SOURCES = 'other sources';

/** Where a refusal came from: the client it names (authenticated or not), else its peer's address. */
export function refusalSource(client: string | null | undefined, address: string | null | undefined): string {
  return client ? `client ${client.slice(0, 128)}` : `address ${address ?? 'unknown'}`;
}

interface Tally {
  action: string;
  source: string;
  firstAt: Date;
  lastAt: Date;
  recorded: number;
  counted: number;
}

export class RefusalAudit {
  private tallies = new Map<string, Tally>();
  private sources = new Map<string, number>();
  private recorded = 0;
  private start: number;
  private readonly sweep: NodeJS.Timeout;
  private readonly monotonic: () => number;

  constructor(
    private readonly append: (e: AuditEntry) => Promise<void>,
    private readonly now: () => Date,
    private readonly limits: RefusalLimits = DEFAULT_REFUSAL_LIMITS,
    private readonly hooks: {
      /** Monotonic milliseconds: windows do not follow a wall clock set back or forth. */
      monotonic?: () => number;
      /** Each refusal counted without a record of its own (the metrics still count it). */
      counted?: (e: AuditEntry) => void;
    } = {},
  ) {
    this.monotonic = hooks.monotonic ?? (() => performance.now());
    this.start = this.monotonic();
    this.sweep = setInterval(
      () => {
        if (this.monotonic() - this.start >= this.limits.windowMs) void this.endWindow();
      },
      Math.max(1000, limits.windowMs / 4),
    );
    this.sweep.unref();
  }

  /** Records the refusal in full, or counts it when its source (or every source) had its share. */
  async record(source: string, entry: AuditEntry): Promise<void> {
    // The window's counts are handed over before this refusal joins the next window (no await between).
    const ended = this.monotonic() - this.start >= this.limits.windowMs ? this.endWindow() : null;
    const seen = this.sources.get(entry.action) ?? 0;
    let key = `${entry.action}\u0000${source}`;
    let t = this.tallies.get(key);
    if (!t && seen >= this.limits.maxSources) {
      source = OTHER_SOURCES;
      key = `${entry.action}\u0000${source}`;
      t = this.tallies.get(key);
    }
    const at = this.now();
    if (!t) {
      t = { action: entry.action, source, firstAt: at, lastAt: at, recorded: 0, counted: 0 };
      this.tallies.set(key, t);
      if (source !== OTHER_SOURCES) this.sources.set(entry.action, seen + 1);
    }
    t.lastAt = at;
    const full = t.recorded < this.limits.perSource && this.recorded < this.limits.maxRecorded;
    if (full) {
      t.recorded++;
      this.recorded++;
    } else {
      t.counted++;
      this.hooks.counted?.(entry);
    }
    await Promise.all([ended, full ? this.append({ ...entry, details: { ...entry.details, source } }) : null]);
  }

  /** Writes the counts of this window and opens the next one. */
  endWindow(): Promise<void> {
    const counted = [...this.tallies.values()].filter((t) => t.counted > 0);
    this.tallies = new Map();
    this.sources = new Map();
    this.recorded = 0;
    this.start = this.monotonic();
    const seconds = Math.round(this.limits.windowMs / 1000);
    return Promise.all(
      counted.map((t) =>
        this.append({
          action: t.action,
          outcome: 'refused',
          reason: `${t.counted} more refusals within ${seconds} s, counted, not recorded one by one`,
          details: { source: t.source, count: t.counted, from: t.firstAt.toISOString(), to: t.lastAt.toISOString() },
        }),
      ),
    ).then(() => undefined);
  }

  /** The server stops: the counts not written yet are. */
  close(): Promise<void> {
    clearInterval(this.sweep);
    return this.endWindow();
  }
}
