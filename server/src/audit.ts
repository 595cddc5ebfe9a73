// Append-only, hash-chained audit of every decision. Each row's hash covers its content and the previous
// row's hash, so a modified, inserted or deleted row breaks the chain from there on. Two instances
// append to one chain: the append takes a transaction-scoped advisory lock.
import { createHash } from 'node:crypto';
import { Batcher } from './batch';
import type { Db } from './db';

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
  /** Which hashing rule the row follows (1: before migration 2; 2: content here, chain in the database). */
  hashV: number;
}

const GENESIS = '0'.repeat(64);

function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}

/** v1 rows (before migration 2): one hash over the content, sequence number and previous hash. */
function rowHashV1(r: Omit<AuditRow, 'hash' | 'hashV'>): string {
  const { seq, at, action, outcome, accountId, workstation, factor, reason, details, prevHash } = r;
  return createHash('sha256')
    .update(canonical({ seq, at, action, outcome, accountId, workstation, factor, reason, details, prevHash }))
    .digest('hex');
}

type Content = Pick<
  AuditRow,
  'at' | 'action' | 'outcome' | 'accountId' | 'workstation' | 'factor' | 'reason' | 'details'
>;

/** v2: the content is hashed here, the chain link by the database (sillage_audit_append, migration 2). */
function contentHash(c: Content): string {
  const { at, action, outcome, accountId, workstation, factor, reason, details } = c;
  return createHash('sha256')
    .update(canonical({ at, action, outcome, accountId, workstation, factor, reason, details }))
    .digest('hex');
}

function chainHashV2(prevHash: string, seq: number, content: string): string {
  return createHash('sha256').update(`${prevHash}:${seq}:${content}`).digest('hex');
}

export class Audit {
  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Appends one record and resolves once it is committed. Records arriving while a write is under way
   * are committed together by the next one (group commit): one statement for a burst of decisions, the
   * shift-change case, and still one chain in arrival order.
   */
  private readonly writes = new Batcher<AuditEntry, void>(async (entries) => {
    await this.write(entries);
    return entries.map(() => undefined);
  });

  append(e: AuditEntry): Promise<void> {
    return this.writes.add(e);
  }

  /** One statement: the database function locks the chain, numbers and links the rows (migration 2). */
  private async write(entries: AuditEntry[]): Promise<void> {
    const rows = entries.map((e) => {
      const c: Content = {
        at: this.now().toISOString(),
        action: e.action,
        outcome: e.outcome,
        accountId: e.accountId ?? null,
        workstation: e.workstation ?? null,
        factor: e.factor ?? null,
        reason: e.reason ?? null,
        details: e.details ?? null,
      };
      return {
        at: c.at,
        action: c.action,
        outcome: c.outcome,
        account_id: c.accountId,
        workstation: c.workstation,
        factor: c.factor,
        reason: c.reason,
        details: c.details,
        content_hash: contentHash(c),
      };
    });
    await this.db.query('SELECT sillage_audit_append($1::jsonb)', [JSON.stringify(rows)], { prepare: 'audit-append' });
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
      const { hash, hashV, ...rest } = r;
      const expected = hashV === 1 ? rowHashV1(rest) : chainHashV2(rest.prevHash, rest.seq, contentHash(rest));
      if (expected !== hash) return { ok: false, brokenAt: r.seq, reason: 'row content does not match its hash' };
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
    hashV: Number(r.hash_v ?? 1),
  };
}
