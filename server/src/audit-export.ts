// A slice of the audit chain for the hospital's RSSI, verifiable offline: JSON lines holding a header,
// the consecutive records, the signed checkpoints that vouch for them (one at the slice's last record)
// and the public keys that signed those. The records chain to each other and to the last checkpoint,
// so an edited, removed or added record, or an altered checkpoint, fails the verification.
import { calculateJwkThumbprint } from 'jose';
import type { JWK } from 'jose';
import { checkAgainst, GENESIS, readCheckpoint, verifyChain } from './audit';
import type { Audit, AuditRow, Checkpoint } from './audit';

export const EXPORT_FORMAT = 'sillage-audit-export';

export interface SliceRange {
  from?: number;
  to?: number;
  since?: Date;
  until?: Date;
}

/** The JSON lines of a slice; refused when the chain itself does not verify (its copy would not either). */
export async function exportSlice(audit: Audit, keys: JWK[], range: SliceRange, now: Date): Promise<string> {
  const v = await audit.verify();
  if (!v.ok) throw new Error(`audit chain broken at record ${v.brokenAt} (${v.reason}): nothing exported`);
  let from = range.from ?? 1;
  let to = range.to ?? v.rows;
  if (range.since || range.until) {
    const r = await audit.seqRange(range.since ?? new Date(0), range.until ?? now);
    if (!r) throw new Error('no audit record in that period');
    from = Math.max(from, r.from);
    to = Math.min(to, r.to);
  }
  if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from >= 1 && from <= to && to <= v.rows))
    throw new Error(`the slice must lie within records 1 to ${v.rows} (asked: ${from} to ${to})`);
  const rows = await audit.rowsBetween(from, to);
  const stored = await audit.checkpoints(from, to);
  // The last record's own checkpoint, signed now: it vouches for every record of the slice.
  const last = stored.find((c) => c.seq === to) ?? (await audit.checkpoint(to))!;
  const checkpoints = [...stored.filter((c) => c !== last), last];
  const kids = new Set(checkpoints.map((c) => c.kid));
  const lines: unknown[] = [
    { format: EXPORT_FORMAT, v: 1, from, to, exportedAt: now.toISOString() },
    ...rows.map((record) => ({ record })),
    ...checkpoints.map((c) => ({ checkpoint: c.jws })),
    ...keys.filter((k) => kids.has(k.kid!)).map((key) => ({ key })),
  ];
  return lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
}

export type SliceVerdict =
  | { ok: true; from: number; to: number; checkpoints: number; signers: { kid: string; thumbprint: string }[] }
  | { ok: false; reason: string };

const fail = (reason: string): SliceVerdict => ({ ok: false, reason });

/**
 * Verifies an exported slice with nothing but the file, or against `trusted` keys (the server's
 * published JWKS, say) when given: then the file's own keys are ignored.
 */
export async function verifySlice(text: string, trusted?: JWK[]): Promise<SliceVerdict> {
  const parsed: Record<string, unknown>[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    try {
      const v = JSON.parse(line) as unknown;
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error();
      parsed.push(v as Record<string, unknown>);
    } catch {
      return fail(`line ${i + 1} is not a JSON object`);
    }
  }
  const header = parsed.shift() as { format?: unknown; v?: unknown; from?: unknown; to?: unknown } | undefined;
  if (header?.format !== EXPORT_FORMAT || header.v !== 1) return fail(`not a ${EXPORT_FORMAT} file (version 1)`);
  const { from, to } = header;
  if (
    !Number.isSafeInteger(from) ||
    !Number.isSafeInteger(to) ||
    (from as number) < 1 ||
    (to as number) < (from as number)
  )
    return fail('the header does not give the slice’s first and last records');
  const rows: AuditRow[] = [];
  const jwss: string[] = [];
  const keys: JWK[] = [];
  for (const p of parsed) {
    if (p.record && typeof p.record === 'object') rows.push(p.record as AuditRow);
    else if (typeof p.checkpoint === 'string') jwss.push(p.checkpoint);
    else if (p.key && typeof p.key === 'object') keys.push(p.key as JWK);
    else return fail(`unexpected line: ${JSON.stringify(p).slice(0, 80)}`);
  }
  if (rows.length !== (to as number) - (from as number) + 1)
    return fail(`records ${from} to ${to} announced, ${rows.length} present`);
  const first = rows[0]!;
  const chain = verifyChain(rows, from === 1 ? GENESIS : String(first.prevHash), from as number);
  if (!chain.ok) return fail(`record ${chain.brokenAt}: ${chain.reason}`);
  const verifiers = trusted ?? keys;
  let checkpoints: Checkpoint[];
  try {
    checkpoints = await Promise.all(jwss.map((j) => readCheckpoint(j, verifiers)));
  } catch (e) {
    return fail((e as Error).message);
  }
  const outside = checkpoints.find((c) => c.seq < (from as number));
  if (outside) return fail(`a checkpoint covers record ${outside.seq}, outside the slice`);
  const bad = checkAgainst(rows, checkpoints, to as number);
  if (bad && !bad.ok) return fail(bad.reason);
  if (!checkpoints.some((c) => c.seq === to)) return fail(`no signed checkpoint vouches for the last record (${to})`);
  const used = [...new Set(checkpoints.map((c) => c.kid))];
  return {
    ok: true,
    from: from as number,
    to: to as number,
    checkpoints: checkpoints.length,
    signers: await Promise.all(
      used.map(async (kid) => ({
        kid,
        thumbprint: await calculateJwkThumbprint(verifiers.find((k) => k.kid === kid)!),
      })),
    ),
  };
}
