// The workstation's audit chain as both sides read it. The agent links each record of `audit.jsonl` to the
// one before (SHA-256); what a chain alone cannot show is a cut tail with an older head file restored, so
// each login and re-open grant carries the chain's head (`sillage_audit_head`) and the session server keeps
// it in its own audit record of that grant. `compareWithServerHeads` holds a file against those heads.
import { createHash } from 'node:crypto';

export const AUDIT_GENESIS = '0'.repeat(64);

/** One line of the agent's audit file (shared/contract.ts `AuditRecord`). */
export interface AuditChainRecord {
  seq: number;
  at: number;
  action: string;
  outcome: string;
  reason?: string;
  idNat?: string;
  factor?: string;
  reader?: string;
  hash: string;
}

/** One line of the file, or null when it is no record (torn, edited into something else). */
export function parseAuditLine(line: string): AuditChainRecord | null {
  try {
    const r = JSON.parse(line) as AuditChainRecord;
    return r && typeof r === 'object' && Number.isInteger(r.seq) && typeof r.hash === 'string' ? r : null;
  } catch {
    return null;
  }
}

export function auditChainHash(prev: string, body: Omit<AuditChainRecord, 'hash'>): string {
  // Canonical form: fixed key order, so the hash does not depend on object construction order.
  const canonical = JSON.stringify([
    body.seq,
    body.at,
    body.action,
    body.outcome,
    body.reason ?? null,
    body.idNat ?? null,
    body.factor ?? null,
    body.reader ?? null,
  ]);
  return createHash('sha256').update(prev).update(canonical).digest('hex');
}

export type ChainCheck = { ok: true; records: number } | { ok: false; records: number; brokenAt: number; why: string };

/** Verify a chain of records (from a file or memory); a slice from the middle trusts its first link. */
export function verifyAuditChain(records: readonly AuditChainRecord[]): ChainCheck {
  let prev = records[0] && records[0].seq === 1 ? AUDIT_GENESIS : null;
  for (const [i, rec] of records.entries()) {
    const { hash, ...body } = rec;
    if (prev === null)
      prev = hash; // a chain read from the middle: trust its first link
    else {
      if (i > 0 && rec.seq !== records[i - 1]!.seq + 1)
        return { ok: false, records: records.length, brokenAt: rec.seq, why: 'missing record' };
      if (auditChainHash(prev, body) !== hash)
        return { ok: false, records: records.length, brokenAt: rec.seq, why: 'hash mismatch' };
      prev = hash;
    }
  }
  return { ok: true, records: records.length };
}

// ── The head sent with each grant ──────────────────────────────────────────────────────────────────

/** Grant parameter: `SEQ:HASH` (the last record's number and hash, 64 hex digits). */
export const AUDIT_HEAD_PARAM = 'sillage_audit_head';

export interface AuditHead {
  seq: number;
  hash: string;
}

export const formatAuditHead = (h: AuditHead): string => `${h.seq}:${h.hash}`;

/** The head a grant carries, or null when it carries none or a malformed one. */
export function parseAuditHead(v: unknown): AuditHead | null {
  const m = typeof v === 'string' ? /^([1-9]\d{0,14}):([0-9a-f]{64})$/.exec(v) : null;
  return m ? { seq: Number(m[1]), hash: m[2]! } : null;
}

/** A head the server recorded, with when and in which of its audit records. */
export interface RecordedHead extends AuditHead {
  at: string;
  serverSeq: number;
}

/**
 * What a workstation's audit file says against the heads the server recorded for it: records the server
 * saw that the file no longer holds (a cut tail, a file rolled back to an older copy), records that differ
 * (rewritten), and a broken chain. Empty when the file holds every head as the server saw it.
 */
export function compareWithServerHeads(records: readonly AuditChainRecord[], heads: readonly RecordedHead[]): string[] {
  const problems: string[] = [];
  const chain = verifyAuditChain(records);
  if (records[0] && records[0].seq !== 1) problems.push(`head cut: the file starts at record #${records[0].seq}`);
  if (!chain.ok) problems.push(`chain broken at record #${chain.brokenAt} (${chain.why})`);
  const bySeq = new Map(records.map((r) => [r.seq, r.hash]));
  const last = records.at(-1)?.seq ?? 0;
  const beyond = heads.filter((h) => h.seq > last);
  if (beyond.length) {
    const furthest = beyond.reduce((a, b) => (b.seq > a.seq ? b : a));
    problems.push(
      `records #${last + 1} to #${furthest.seq} missing: the server saw record #${furthest.seq} at ` +
        `${furthest.at} (its record #${furthest.serverSeq}); tail cut or file rolled back`,
    );
  }
  for (const h of heads)
    if (h.seq <= last && bySeq.get(h.seq) !== h.hash)
      problems.push(
        `record #${h.seq} differs from the head the server saw at ${h.at} (its record #${h.serverSeq}): file rewritten`,
      );
  return problems;
}
