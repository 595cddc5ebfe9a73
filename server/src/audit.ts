// Append-only, hash-chained audit of every decision. Each row's hash covers its content and the previous
// row's hash, so a modified, inserted or deleted row breaks the chain from there on. Two instances
// append to one chain: the append takes a transaction-scoped advisory lock.
import { createHash } from 'node:crypto';
import type { Db, Queryable } from './db';

export interface AuditEntry {
  action: string;
  outcome: 'ok' | 'refused' | 'error';
  accountId?: string | null;
  workstation?: string | null;
  factor?: string | null;
  reason?: string | null;
  details?: Record<string, unknown> | null;
}

export interface AuditRow extends Required<Omit<AuditEntry, 'details'>> {
  seq: number;
  at: string;
  details: Record<string, unknown> | null;
  prevHash: string;
  hash: string;
}

const GENESIS = '0'.repeat(64);

function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
}

function rowHash(r: Omit<AuditRow, 'hash'>): string {
  const { seq, at, action, outcome, accountId, workstation, factor, reason, details, prevHash } = r;
  return createHash('sha256').update(canonical({ seq, at, action, outcome, accountId, workstation, factor, reason, details, prevHash })).digest('hex');
}

export class Audit {
  constructor(private readonly db: Db, private readonly now: () => Date = () => new Date()) {}

  private queue: { e: AuditEntry; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private flushing: Promise<void> | null = null;

  /**
   * Appends one record and resolves once it is committed. Records arriving while a write is under way
   * are committed together by the next one (group commit): one lock and one round trip for a burst of
   * decisions, the shift-change case, and still one chain in arrival order.
   */
  append(e: AuditEntry): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ e, resolve, reject });
      if (!this.flushing) this.flushing = this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue.splice(0, 200);
      try {
        await this.db.tx((t) => this.write(t, batch.map((b) => b.e)));
        batch.forEach((b) => b.resolve());
      } catch (err) {
        batch.forEach((b) => b.reject(err));
      }
    }
    this.flushing = null;
  }

  private async write(t: Queryable, entries: AuditEntry[]): Promise<void> {
    await t.query('SELECT pg_advisory_xact_lock(727275)');
    const { rows } = await t.query<{ seq: string; hash: string }>('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1');
    let seq = rows[0] ? Number(rows[0].seq) : 0;
    let prevHash = rows[0]?.hash ?? GENESIS;
    const params: unknown[] = [];
    const tuples: string[] = [];
    for (const e of entries) {
      const row = {
        seq: ++seq,
        at: this.now().toISOString(),
        action: e.action,
        outcome: e.outcome,
        accountId: e.accountId ?? null,
        workstation: e.workstation ?? null,
        factor: e.factor ?? null,
        reason: e.reason ?? null,
        details: e.details ?? null,
        prevHash,
      };
      const hash = rowHash(row);
      const base = params.length;
      params.push(row.seq, row.at, row.action, row.outcome, row.accountId, row.workstation, row.factor, row.reason, row.details === null ? null : JSON.stringify(row.details), row.prevHash, hash);
      tuples.push(`(${Array.from({ length: 11 }, (_, i) => `$${base + i + 1}`).join(',')})`);
      prevHash = hash;
    }
    await t.query(`INSERT INTO audit (seq, at, action, outcome, account_id, workstation, factor, reason, details, prev_hash, hash) VALUES ${tuples.join(',')}`, params);
  }

  async query(filter: { accountId?: string; action?: string; limit?: number } = {}): Promise<AuditRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.accountId) where.push(`account_id = $${params.push(filter.accountId)}`);
    if (filter.action) where.push(`action = $${params.push(filter.action)}`);
    const sql = `SELECT * FROM audit ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq DESC LIMIT $${params.push(filter.limit ?? 100)}`;
    const { rows } = await this.db.query<Record<string, unknown>>(sql, params);
    return rows.map(toRow).reverse();
  }

  /** Walks the whole chain; returns the first broken sequence number, or null when intact. */
  async verify(): Promise<{ ok: true; rows: number } | { ok: false; brokenAt: number; reason: string }> {
    const { rows } = await this.db.query<Record<string, unknown>>('SELECT * FROM audit ORDER BY seq');
    let prev = GENESIS;
    let expectedSeq = 1;
    for (const raw of rows) {
      const r = toRow(raw);
      if (r.seq !== expectedSeq) return { ok: false, brokenAt: r.seq, reason: `sequence gap before ${r.seq}` };
      if (r.prevHash !== prev) return { ok: false, brokenAt: r.seq, reason: 'previous hash does not match' };
      const { hash, ...rest } = r;
      if (rowHash(rest) !== hash) return { ok: false, brokenAt: r.seq, reason: 'row content does not match its hash' };
      prev = hash;
      expectedSeq++;
    }
    return { ok: true, rows: rows.length };
  }
}

function toRow(r: Record<string, unknown>): AuditRow {
  const at = r.at instanceof Date ? r.at.toISOString() : new Date(String(r.at)).toISOString();
  return {
    seq: Number(r.seq),
    at,
    action: String(r.action),
    outcome: r.outcome as AuditRow['outcome'],
    accountId: (r.account_id as string | null) ?? null,
    workstation: (r.workstation as string | null) ?? null,
    factor: (r.factor as string | null) ?? null,
    reason: (r.reason as string | null) ?? null,
    details: (r.details as Record<string, unknown> | null) ?? null,
    prevHash: String(r.prev_hash),
    hash: String(r.hash),
  };
}
