// Append-only, hash-chained audit of every decision. Each row's hash covers its content and the previous
// row's hash, so a modified, inserted or deleted row breaks the chain from there on. Two instances
// append to one chain: the append takes a transaction-scoped advisory lock. A chain cut at its end
// would still be a valid chain: checkpoints of the head, signed with the server's key and kept in their
// own table and in the log, tell how far it reached.
import { createHash } from 'node:crypto';
import { CompactSign, compactVerify, decodeProtectedHeader, importJWK } from 'jose';
import type { JWK } from 'jose';
import { parseAuditHead } from '@sillage/protocol';
import type { RecordedHead } from '@sillage/protocol';
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

export const GENESIS = '0'.repeat(64);

/** Longest text a record keeps of one field: refusals quote what callers sent, and callers may be hostile. */
export const MAX_FIELD = 1000;

/**
 * What a record may hold: PostgreSQL stores no NUL character (text or jsonb), so a refusal quoting
 * hostile input (a claimed client_id, a badge id) keeps it visible as U+2400 instead of failing the batch
 * it is written with; and no text longer than MAX_FIELD (the rest is counted, not kept).
 */
function storable<T>(v: T): T {
  if (typeof v === 'string') {
    const s = v.replaceAll('\u0000', '\u2400');
    return (s.length <= MAX_FIELD ? s : `${s.slice(0, MAX_FIELD)}… (+${s.length - MAX_FIELD})`) as T;
  }
  if (Array.isArray(v)) return v.map(storable) as T;
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [storable(k), storable(x)])) as T;
  return v;
}

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

export type VerifyResult =
  | { ok: true; rows: number; /** The last record a verified checkpoint vouches for. */ checkpoint?: number }
  | { ok: false; brokenAt: number; reason: string };

/**
 * Walks consecutive rows from `firstSeq`, the first linked to `prev` (the genesis for the whole chain):
 * the first broken sequence number, or null when intact.
 */
export function verifyChain(rows: AuditRow[], prev = GENESIS, firstSeq = 1): VerifyResult {
  let expectedSeq = firstSeq;
  for (const r of rows) {
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

export interface Checkpoint {
  seq: number;
  hash: string;
  /** When it was signed (ISO 8601). */
  at: string;
  kid: string;
  jws: string;
}

export interface CheckpointKeys {
  /** Signs new checkpoints: the server's current ES256 signing key (private JWK with its kid). */
  signer: JWK & { kid: string };
  /** Every public key that ever signed one, retired keys included. */
  verifiers: JWK[];
}

const CHECKPOINT_TYP = 'sillage-audit-checkpoint';

export async function signCheckpoint(head: { seq: number; hash: string }, at: Date, key: CheckpointKeys['signer']) {
  const payload = { seq: head.seq, hash: head.hash, at: at.toISOString() };
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: CHECKPOINT_TYP })
    .sign(await importJWK(key, 'ES256'));
  return { ...payload, kid: key.kid, jws };
}

/**
 * What a checkpoint states, its signature checked by the verifier of its kid. Without verifiers (an
 * Audit built without the server's keys) its statement is read unchecked: a forged one can then raise a
 * false alarm, never hide a cut.
 */
export async function readCheckpoint(jws: string, verifiers: JWK[] | null): Promise<Checkpoint> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(jws);
  } catch {
    throw new Error('not a signed checkpoint');
  }
  if (header.typ !== CHECKPOINT_TYP || header.alg !== 'ES256' || typeof header.kid !== 'string')
    throw new Error('not a signed checkpoint');
  let bytes: Uint8Array;
  if (verifiers) {
    const key = verifiers.find((k) => k.kid === header.kid);
    if (!key) throw new Error(`checkpoint signed by an unknown key (${header.kid})`);
    try {
      bytes = (await compactVerify(jws, await importJWK(key, 'ES256'), { algorithms: ['ES256'] })).payload;
    } catch {
      throw new Error(`checkpoint signature does not verify with key ${header.kid}`);
    }
  } else bytes = Buffer.from(jws.split('.')[1] ?? '', 'base64url');
  let p: { seq?: unknown; hash?: unknown; at?: unknown };
  try {
    p = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof p;
  } catch {
    throw new Error('checkpoint payload is not JSON');
  }
  if (
    !Number.isSafeInteger(p.seq) ||
    (p.seq as number) < 1 ||
    typeof p.hash !== 'string' ||
    !/^[0-9a-f]{64}$/.test(p.hash)
  )
    throw new Error('checkpoint payload is not a chain head');
  if (typeof p.at !== 'string' || Number.isNaN(Date.parse(p.at))) throw new Error('checkpoint payload has no date');
  return { seq: p.seq as number, hash: p.hash, at: p.at, kid: header.kid, jws };
}

/**
 * Holds consecutive rows against checkpoints: a record that differs from its checkpoint (the first
 * one), else records missing at the end (up to the furthest checkpoint), else null.
 */
export function checkAgainst(rows: AuditRow[], checkpoints: Checkpoint[], chainEnd: number): VerifyResult | null {
  const first = rows[0]?.seq ?? 1;
  const sorted = [...checkpoints].sort((a, b) => a.seq - b.seq);
  for (const cp of sorted) {
    const row = cp.seq <= chainEnd ? rows[cp.seq - first] : undefined;
    if (row && row.hash !== cp.hash)
      return { ok: false, brokenAt: cp.seq, reason: `record ${cp.seq} differs from the checkpoint signed at ${cp.at}` };
  }
  const furthest = sorted.at(-1);
  if (furthest && furthest.seq > chainEnd)
    return {
      ok: false,
      brokenAt: chainEnd + 1,
      reason:
        `records ${chainEnd + 1} to ${furthest.seq} are missing: the checkpoint signed at ${furthest.at} covers ` +
        `record ${furthest.seq}, the chain ends at ${chainEnd}`,
    };
  return null;
}

export class Audit {
  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
    /** The server's checkpoint keys; null where no secrets exist yet. */
    private readonly keys: () => Promise<CheckpointKeys | null> = async () => null,
    /** Told of each record once it is committed (the metrics endpoint counts decisions). */
    private readonly recorded?: (e: AuditEntry) => void,
  ) {}

  /**
   * Appends one record and resolves once it is committed. Records arriving while a write is under way
   * are committed together by the next one (group commit): one statement for a burst of decisions, the
   * shift-change case, and still one chain in arrival order.
   */
  private readonly writes = new Batcher<AuditEntry, void>('audit-append', async (entries) => {
    await this.write(entries);
    return entries.map(() => undefined);
  });

  async append(e: AuditEntry): Promise<void> {
    const entry = storable(e);
    await this.writes.add(entry);
    this.recorded?.(entry);
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
    const sql =
      `SELECT * FROM audit ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq DESC LIMIT ` +
      `$${params.push(filter.limit ?? 100)}`;
    const { rows } = await this.db.query<Record<string, unknown>>(sql, params);
    return rows.map(toRow).reverse();
  }

  /** The heads of its own audit chain a workstation sent with its grants (provider.ts), in order. */
  async agentHeads(workstation: string): Promise<RecordedHead[]> {
    const { rows } = await this.db.query<{ seq: string; at: Date | string; head: unknown }>(
      "SELECT seq, at, details->'agent_audit' AS head FROM audit WHERE workstation = $1 AND " +
        "details->'agent_audit' IS NOT NULL ORDER BY seq",
      [workstation],
    );
    return rows.flatMap((r) => {
      const h = r.head as { seq?: unknown; hash?: unknown } | null;
      const head = h && typeof h === 'object' ? parseAuditHead(`${String(h.seq)}:${String(h.hash)}`) : null;
      const at = r.at instanceof Date ? r.at.toISOString() : new Date(String(r.at)).toISOString();
      return head ? [{ ...head, at, serverSeq: Number(r.seq) }] : [];
    });
  }

  /** Rows from..to (inclusive), in order. */
  async rowsBetween(from: number, to: number): Promise<AuditRow[]> {
    const { rows } = await this.db.query<Record<string, unknown>>(
      'SELECT * FROM audit WHERE seq BETWEEN $1 AND $2 ORDER BY seq',
      [from, to],
    );
    return rows.map(toRow);
  }

  /** The first and last record written in [since, until), or null when none was. */
  async seqRange(since: Date, until: Date): Promise<{ from: number; to: number } | null> {
    const { rows } = await this.db.query<{ from: string | null; to: string | null }>(
      'SELECT min(seq) AS from, max(seq) AS to FROM audit WHERE at >= $1 AND at < $2',
      [since, until],
    );
    return rows[0]?.from ? { from: Number(rows[0].from), to: Number(rows[0].to) } : null;
  }

  /** The stored checkpoints of records from..to, their signatures checked when the keys are known. */
  async checkpoints(from = 1, to = Number.MAX_SAFE_INTEGER): Promise<Checkpoint[]> {
    const keys = await this.keys();
    const { rows } = await this.db.query<{ jws: string }>(
      'SELECT jws FROM audit_checkpoints WHERE seq BETWEEN $1 AND $2 ORDER BY seq, signed_at',
      [from, to],
    );
    return Promise.all(rows.map((r) => readCheckpoint(r.jws, keys?.verifiers ?? null)));
  }

  /**
   * Signs and stores a checkpoint of record `seq` (default: the head), or returns null when the head
   * has one already (nothing written since) or the chain is empty.
   */
  async checkpoint(seq?: number): Promise<Checkpoint | null> {
    const keys = await this.keys();
    if (!keys) throw new Error('no server signing key to sign a checkpoint with: start the session server once first');
    const { rows } = await this.db.query<{ seq: string; hash: string; done: boolean }>(
      `SELECT seq, hash, EXISTS (SELECT 1 FROM audit_checkpoints c WHERE c.seq = a.seq) AS done FROM audit a
       ${seq === undefined ? 'ORDER BY seq DESC LIMIT 1' : 'WHERE seq = $1'}`,
      seq === undefined ? [] : [seq],
    );
    const head = rows[0];
    if (!head) {
      if (seq !== undefined) throw new Error(`no audit record ${seq}`);
      return null;
    }
    if (seq === undefined && head.done) return null;
    const cp = await signCheckpoint({ seq: Number(head.seq), hash: head.hash }, this.now(), keys.signer);
    await this.db.query('INSERT INTO audit_checkpoints (seq, hash, signed_at, jws) VALUES ($1, $2, $3, $4)', [
      cp.seq,
      cp.hash,
      cp.at,
      cp.jws,
    ]);
    return cp;
  }

  /**
   * Walks the whole chain, then holds it against every checkpoint (stored ones, and `external` ones kept
   * elsewhere: JWS, or the server's log lines carrying them): a modified, inserted or deleted row, and a
   * cut tail, are each reported at the first record concerned.
   */
  async verify(external: string[] = []): Promise<VerifyResult> {
    const { rows: raw } = await this.db.query<Record<string, unknown>>('SELECT * FROM audit ORDER BY seq');
    const rows = raw.map(toRow);
    const chain = verifyChain(rows);
    if (!chain.ok) return chain;
    let checkpoints: Checkpoint[];
    try {
      const keys = await this.keys();
      checkpoints = [
        ...(await this.checkpoints()),
        ...(await Promise.all(external.map((j) => readCheckpoint(j, keys?.verifiers ?? null)))),
      ];
    } catch (e) {
      return { ok: false, brokenAt: rows.length + 1, reason: (e as Error).message };
    }
    const bad = checkAgainst(rows, checkpoints, rows.length);
    if (bad) return bad;
    const last = Math.max(0, ...checkpoints.map((c) => c.seq));
    return last ? { ok: true, rows: rows.length, checkpoint: last } : chain;
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
