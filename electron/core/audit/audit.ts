// Append-only, hash-chained audit trail of every security decision taken on the workstation.
// Each record carries SHA-256(previous hash || canonical record), so editing or deleting a line breaks
// the chain and `verifyAuditFile` says where. Records hold identifiers and outcomes, never secrets:
// the `AuditEntry` type has no field that could carry a PIN, key or token.
// What a chain alone cannot show, and what anchors it:
// - a cut head: the first record of a file is #1, chained to the genesis value;
// - a cut tail: the chain head (last seq and hash) is also kept beside the file (`audit.jsonl.head`),
//   written after every record; a file that ends before it lost records;
// - a file rewritten with recomputed hashes: with a key kept outside the file (`AuditKeyStore`, the
//   OS-protected storage), the head beside the file and checkpoint records in it carry an HMAC of the
//   chain head that nobody without the key can recompute.
// - a cut tail with an older copy of the file and its head put back: each login and re-open grant carries
//   the chain head to the session server, which keeps it in its own audit (`audit verify-agent` there).
// A torn last line (power cut mid-append) is cut off at the next start, keeping the valid prefix, and
// the recovery is recorded. What the agent finds wrong at start is recorded too (`audit.damaged`).
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AUDIT_GENESIS as GENESIS, auditChainHash as chainHash, parseAuditLine } from '@sillage/protocol';
import type { AuditHead } from '@sillage/protocol';
import fs from 'node:fs';
import path from 'node:path';
import type { AuditRecord } from '../../../shared/contract';
import { writeSealed } from '../keys/secret-store';
import type { Clock } from '../util/clock';
import { systemClock } from '../util/clock';

export type AuditEntry = Omit<AuditRecord, 'seq' | 'at' | 'hash'>;

export interface AuditSink {
  record(entry: AuditEntry): AuditRecord;
  recent(limit?: number): AuditRecord[];
  /** The chain's head (the last record), which each grant carries to the session server. */
  head?(): AuditHead | null;
}

/** The checkpoint key: kept outside the audit file (OS-protected storage), created on first use. */
export interface AuditKeyStore {
  key(): Buffer;
}

export const CHECKPOINT_ACTION = 'audit.checkpoint';
/** A checkpoint record every so many records (and one at each start). */
const CHECKPOINT_EVERY = 64;
/** Field lengths: reasons often quote what a caller sent (an Origin, an executable path). */
const MAX_LEN = { action: 64, reason: 400, idNat: 64, factor: 64, reader: 160 } as const;

/** HMAC of a chain head (the hash of record `seq`), the value checkpoints and the head file carry. */
function headMac(key: Buffer, seq: number, hash: string): string {
  return createHmac('sha256', key).update(`sillage-audit-head:${seq}:${hash}`).digest('hex');
}

const macEquals = (a: string, b: string) =>
  a.length === b.length && timingSafeEqual(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

function clip(s: string | undefined, max: number): string | undefined {
  if (s === undefined || s.length <= max) return s;
  return `${s.slice(0, max)}… (+${s.length - max})`;
}

export interface AuditLogOptions {
  /** JSON-lines file; omitted = memory only (tests, benchmarks). */
  file?: string;
  clock?: Clock;
  /** How many records diagnostics keep in memory. */
  keep?: number;
  /** Key for signed checkpoints; without it the head and checkpoints are unsigned. */
  keyStore?: AuditKeyStore;
}

interface HeadFile {
  seq: number;
  hash: string;
  mac?: string;
}

export class AuditLog implements AuditSink {
  private seq = 0;
  private prev = GENESIS;
  private ring: AuditRecord[] = [];
  private readonly clock: Clock;
  private readonly keep: number;
  private key: Buffer | null = null;
  /** Bytes this process expects the file to hold: a file that shrank under us lost its tail. */
  private size = 0;

  constructor(private readonly opts: AuditLogOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.keep = opts.keep ?? 200;
    if (opts.file) this.resume(opts.file);
  }

  /** Continue the chain of an existing file so restarts do not break it; say what is wrong with it. */
  private resume(file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const findings: string[] = [];
    try {
      this.key = this.opts.keyStore?.key() ?? null;
    } catch (e) {
      findings.push(`checkpoint key unavailable (${(e as Error).message}): head and checkpoints unsigned`);
    }
    const scan = fs.existsSync(file) ? scanAuditFile(file, this.key) : null;
    const recovered: AuditEntry[] = [];
    if (scan) {
      if (scan.torn) {
        // Power cut mid-append: only the last line can be torn. Keep the valid prefix, say what went.
        fs.truncateSync(file, scan.validBytes);
        recovered.push({
          action: 'audit.recovered',
          outcome: 'info',
          reason:
            `torn last record removed (${scan.torn.bytes} bytes, sha256 ${scan.torn.sha256.slice(0, 16)}) after ` +
            `#${scan.last?.seq ?? 0}`,
        });
      }
      if (scan.last) {
        this.seq = scan.last.seq;
        this.prev = scan.last.hash;
      }
      findings.push(...scan.problems.map((p) => p.why));
    }
    const head = readHead(file);
    if (head) findings.push(...checkHead(head, scan, this.key));
    else if (scan?.last) findings.push('chain head beside the file missing: a cut tail cannot be ruled out');
    // A whole last record whose line end was lost: end its line before the next one.
    if (scan?.last && !scan.torn && scan.endsWithoutNewline) fs.appendFileSync(file, '\n');
    this.size = fs.existsSync(file) ? fs.statSync(file).size : 0;
    for (const r of recovered) this.record(r);
    for (const why of findings) this.record({ action: 'audit.damaged', outcome: 'failure', reason: why });
    if (this.key) this.checkpoint();
  }

  record(entry: AuditEntry): AuditRecord {
    // Someone cut the file while we run: say so in the trail itself (the seq gap stays visible too).
    const file = this.opts.file;
    if (file) {
      const size = fs.existsSync(file) ? fs.statSync(file).size : 0;
      if (size < this.size) {
        this.write({
          action: 'audit.damaged',
          outcome: 'failure',
          reason: `audit file cut while the agent ran (${this.size - size} bytes gone)`,
        });
      }
    }
    const rec = this.write(entry);
    if (this.key && rec.action !== CHECKPOINT_ACTION && rec.seq % CHECKPOINT_EVERY === 0) this.checkpoint();
    return rec;
  }

  recent(limit = 50): AuditRecord[] {
    return this.ring.slice(-limit);
  }

  head(): AuditHead | null {
    return this.seq ? { seq: this.seq, hash: this.prev } : null;
  }

  private write(entry: AuditEntry): AuditRecord {
    const body: Omit<AuditRecord, 'hash'> = { seq: this.seq + 1, at: this.clock.now(), ...entry };
    body.action = clip(body.action, MAX_LEN.action)!;
    for (const k of ['reason', 'idNat', 'factor', 'reader'] as const) {
      const v = clip(body[k], MAX_LEN[k]);
      if (v !== undefined) body[k] = v;
    }
    const rec: AuditRecord = { ...body, hash: chainHash(this.prev, body) };
    const file = this.opts.file;
    if (file) {
      // Synchronous append: a decision is on disk before the agent acts on it (nothing lost on crash).
      fs.appendFileSync(file, JSON.stringify(rec) + '\n', { mode: 0o600 });
      this.size = fs.statSync(file).size;
      writeHead(file, {
        seq: rec.seq,
        hash: rec.hash,
        ...(this.key ? { mac: headMac(this.key, rec.seq, rec.hash) } : {}),
      });
    }
    this.seq = rec.seq;
    this.prev = rec.hash;
    this.ring.push(rec);
    if (this.ring.length > this.keep) this.ring.shift();
    return rec;
  }

  /** A record carrying the HMAC of the chain head before it. */
  private checkpoint(): void {
    if (!this.key) return;
    this.record({
      action: CHECKPOINT_ACTION,
      outcome: 'info',
      reason: `hmac-sha256 #${this.seq} ${headMac(this.key, this.seq, this.prev)}`,
    });
  }
}

const headPath = (file: string) => `${file}.head`;

function readHead(file: string): HeadFile | null {
  try {
    const h = JSON.parse(fs.readFileSync(headPath(file), 'utf8')) as HeadFile;
    return typeof h.seq === 'number' && typeof h.hash === 'string' ? h : null;
  } catch {
    return null;
  }
}

function writeHead(file: string, head: HeadFile): void {
  // Replaced whole (rename), never half-written.
  const tmp = `${headPath(file)}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(head), { mode: 0o600 });
  fs.renameSync(tmp, headPath(file));
}

function checkHead(head: HeadFile, scan: FileScan | null, key: Buffer | null): string[] {
  const out: string[] = [];
  if (key && (!head.mac || !macEquals(head.mac, headMac(key, head.seq, head.hash))))
    out.push(`chain head beside the file not signed by this workstation's key (#${head.seq})`);
  const last = scan?.last?.seq ?? 0;
  if (last < head.seq) out.push(`tail cut: records #${last + 1} to #${head.seq} missing`);
  else if (scan?.hashes.get(head.seq) !== head.hash)
    out.push(`record #${head.seq} differs from the chain head kept beside the file: file rewritten`);
  return out;
}

// Shared with the session server, which holds a file against the heads it recorded (audit verify-agent).
export { verifyAuditChain } from '@sillage/protocol';
export type { ChainCheck } from '@sillage/protocol';

interface FileScan {
  last: { seq: number; hash: string } | null;
  /** seq → hash of every readable record. */
  hashes: Map<number, string>;
  records: number;
  /** Where a torn last line starts. */
  validBytes: number;
  /** A last line without its end or unreadable, and nothing after it. */
  torn: { bytes: number; sha256: string } | null;
  problems: { seq: number; why: string }[];
  endsWithoutNewline: boolean;
}

const parseRecord = (line: string) => parseAuditLine(line) as AuditRecord | null;

function scanAuditFile(file: string, key: Buffer | null): FileScan {
  const buf = fs.readFileSync(file);
  const scan: FileScan = {
    last: null,
    hashes: new Map(),
    records: 0,
    validBytes: 0,
    torn: null,
    problems: [],
    endsWithoutNewline: buf.length > 0 && buf[buf.length - 1] !== 0x0a,
  };
  let prev: string | null = null;
  let prevSeq = 0;
  let signed = 0;
  let off = 0;
  while (off < buf.length) {
    const nl = buf.indexOf(0x0a, off);
    const end = nl < 0 ? buf.length : nl + 1;
    const text = buf.subarray(off, nl < 0 ? buf.length : nl).toString('utf8');
    const rec = parseRecord(text);
    if (!rec) {
      if (end === buf.length) {
        const torn = buf.subarray(off);
        scan.validBytes = off;
        scan.torn = { bytes: torn.length, sha256: createHash('sha256').update(torn).digest('hex') };
      } else if (text.trim()) {
        scan.problems.push({ seq: prevSeq + 1, why: `unreadable line after record #${prevSeq}` });
      }
      off = end;
      continue;
    }
    const { hash, ...body } = rec;
    const before = prev ?? (rec.seq === 1 ? GENESIS : null);
    if (prev === null) {
      if (rec.seq !== 1) scan.problems.push({ seq: rec.seq, why: `head cut: the file starts at record #${rec.seq}` });
      else if (chainHash(GENESIS, body) !== hash) scan.problems.push({ seq: 1, why: 'record #1 altered' });
    } else if (rec.seq !== prevSeq + 1) {
      scan.problems.push({ seq: rec.seq, why: `records #${prevSeq + 1} to #${rec.seq - 1} missing` });
    } else if (chainHash(prev, body) !== hash) {
      scan.problems.push({ seq: rec.seq, why: `record #${rec.seq} altered` });
    }
    if (key && rec.action === CHECKPOINT_ACTION) {
      const m = /^hmac-sha256 #(\d+) ([0-9a-f]{64})$/.exec(rec.reason ?? '');
      if (!m || before === null || Number(m[1]) !== prevSeq || !macEquals(m[2]!, headMac(key, prevSeq, before)))
        scan.problems.push({ seq: rec.seq, why: `checkpoint #${rec.seq} not signed by this workstation's key` });
      else signed++;
    }
    prev = hash;
    prevSeq = rec.seq;
    scan.last = { seq: rec.seq, hash };
    scan.hashes.set(rec.seq, hash);
    scan.records++;
    off = end;
  }
  if (key && scan.records > 0 && signed === 0)
    scan.problems.push({ seq: 0, why: "no checkpoint signed by this workstation's key in the file" });
  return scan;
}

export type FileCheck = { ok: boolean; records: number; problems: string[] };

/**
 * Verify an audit file as a whole: readable lines, a head at #1, no gap, every hash, every checkpoint
 * (with the key), and the chain head kept beside it (a cut tail).
 */
export function verifyAuditFile(file: string, key?: Buffer): FileCheck {
  const scan = scanAuditFile(file, key ?? null);
  const problems = scan.problems.map((p) => p.why);
  if (scan.torn) problems.push(`torn last line (${scan.torn.bytes} bytes)`);
  const head = readHead(file);
  if (head) problems.push(...checkHead(head, scan, key ?? null));
  else if (scan.last) problems.push('chain head beside the file missing: a cut tail cannot be ruled out');
  return { ok: problems.length === 0, records: scan.records, problems };
}

/**
 * A key kept sealed by the platform's secret store (the desktop app: asynchronous safeStorage) in `file`;
 * made on first use, read (and sealed again when the OS rotated its key) before the trail opens.
 */
export async function sealedAuditKey(
  file: string,
  sealer: { seal(plain: string): Promise<Buffer>; open(sealed: Buffer): Promise<{ plain: string; reseal: boolean }> },
): Promise<AuditKeyStore> {
  let key: Buffer;
  if (fs.existsSync(file)) {
    const { plain, reseal } = await sealer.open(fs.readFileSync(file));
    key = Buffer.from(plain, 'base64');
    if (reseal) writeSealed(file, await sealer.seal(plain));
  } else {
    key = randomBytes(32);
    writeSealed(file, await sealer.seal(key.toString('base64')));
  }
  return { key: () => key };
}

/**
 * Refusals of unauthenticated callers, audited without letting a flood grow the trail: per source, the
 * first few in each window are recorded one by one, the rest as one count when the window ends.
 */
export class RefusalAudit {
  private sources = new Map<string, { start: number; count: number; suppressed: number; sample: AuditEntry }>();
  private readonly perWindow: number;
  private readonly windowMs: number;

  constructor(
    private readonly audit: AuditSink,
    private readonly clock: Clock = systemClock,
    opts: { perWindow?: number; windowMs?: number } = {},
  ) {
    this.perWindow = opts.perWindow ?? 5;
    this.windowMs = opts.windowMs ?? 60_000;
  }

  record(source: string, entry: AuditEntry): void {
    const now = this.clock.monotonic();
    // Bounded memory whatever the callers send as a source: past 64, they share one.
    const key = this.sources.has(source) || this.sources.size < 64 ? source : 'other';
    let s = this.sources.get(key);
    if (s && now - s.start >= this.windowMs) {
      this.flush(key);
      s = undefined;
    }
    if (!s) {
      s = { start: now, count: 0, suppressed: 0, sample: entry };
      this.sources.set(key, s);
      const mine = s;
      this.clock.setTimer(this.windowMs, () => {
        if (this.sources.get(key) === mine) this.flush(key);
      });
    }
    if (++s.count <= this.perWindow) this.audit.record(entry);
    else s.suppressed++;
  }

  private flush(key: string): void {
    const s = this.sources.get(key);
    this.sources.delete(key);
    if (!s?.suppressed) return;
    this.audit.record({
      action: s.sample.action,
      outcome: 'failure',
      reason:
        `${s.suppressed} more refusals (${key}) within ${Math.round(this.windowMs / 1000)} s, ` +
        'not recorded one by one',
    });
  }
}
