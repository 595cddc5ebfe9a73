// Append-only, hash-chained audit trail of every security decision taken on the workstation.
// Each record carries SHA-256(previous hash || canonical record), so editing or deleting a line breaks
// the chain and `verifyAuditFile` says where. Records hold identifiers and outcomes, never secrets:
// the `AuditEntry` type has no field that could carry a PIN, key or token.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AuditRecord } from '../../../shared/contract';
import type { Clock } from '../util/clock';
import { systemClock } from '../util/clock';

export type AuditEntry = Omit<AuditRecord, 'seq' | 'at' | 'hash'>;

export interface AuditSink {
  record(entry: AuditEntry): AuditRecord;
  recent(limit?: number): AuditRecord[];
}

const GENESIS = '0'.repeat(64);

function chainHash(prev: string, body: Omit<AuditRecord, 'hash'>): string {
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

export interface AuditLogOptions {
  /** JSON-lines file; omitted = memory only (tests, benchmarks). */
  file?: string;
  clock?: Clock;
  /** How many records diagnostics keep in memory. */
  keep?: number;
}

export class AuditLog implements AuditSink {
  private seq = 0;
  private prev = GENESIS;
  private ring: AuditRecord[] = [];
  private readonly clock: Clock;
  private readonly keep: number;

  constructor(private readonly opts: AuditLogOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.keep = opts.keep ?? 200;
    if (opts.file) this.resume(opts.file);
  }

  /** Continue the chain of an existing file so restarts do not break it. */
  private resume(file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    if (!fs.existsSync(file)) return;
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const last = lines.at(-1);
    if (!last) return;
    try {
      const rec = JSON.parse(last) as AuditRecord;
      this.seq = rec.seq;
      this.prev = rec.hash;
    } catch {
      // A torn last line (power cut mid-write): start a new chain segment, recorded as such below.
      this.record({ action: 'audit.chain-restarted', outcome: 'info', reason: 'unreadable last record' });
    }
  }

  record(entry: AuditEntry): AuditRecord {
    const body = { seq: this.seq + 1, at: this.clock.now(), ...entry };
    const rec: AuditRecord = { ...body, hash: chainHash(this.prev, body) };
    if (this.opts.file) {
      // Synchronous append: a decision is on disk before the agent acts on it (nothing lost on crash).
      fs.appendFileSync(this.opts.file, JSON.stringify(rec) + '\n', { mode: 0o600 });
    }
    this.seq = rec.seq;
    this.prev = rec.hash;
    this.ring.push(rec);
    if (this.ring.length > this.keep) this.ring.shift();
    return rec;
  }

  recent(limit = 50): AuditRecord[] {
    return this.ring.slice(-limit);
  }
}

export type ChainCheck = { ok: true; records: number } | { ok: false; records: number; brokenAt: number; why: string };

/** Verify a chain of records (from a file or memory). */
export function verifyAuditChain(records: AuditRecord[]): ChainCheck {
  let prev = records[0] && records[0].seq === 1 ? GENESIS : null;
  for (const [i, rec] of records.entries()) {
    const { hash, ...body } = rec;
    if (prev === null)
      prev = hash; // a chain read from the middle: trust its first link
    else {
      if (i > 0 && rec.seq !== records[i - 1]!.seq + 1)
        return { ok: false, records: records.length, brokenAt: rec.seq, why: 'missing record' };
      if (chainHash(prev, body) !== hash)
        return { ok: false, records: records.length, brokenAt: rec.seq, why: 'hash mismatch' };
      prev = hash;
    }
  }
  return { ok: true, records: records.length };
}

export function readAuditFile(file: string): AuditRecord[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditRecord);
}
