// What only a database superuser can do to the audit trail: run a statement with the triggers that
// refuse UPDATE, DELETE and TRUNCATE switched off for that transaction (session_replication_role).
// The tests use it to show that verification still catches such an edit, and canonicalJson to recompute a
// chain as a forger would.
import type { Db } from '../server/src/db';

export async function tamper(db: Db, sql: string): Promise<void> {
  await db.tx(async (q) => {
    await q.query('SET LOCAL session_replication_role = replica');
    await q.query(sql);
  });
}

/**
 * The canonical JSON the audit chain hashes (sorted keys, no spaces), written apart from the server's so
 * that a forger's recomputed chain is not the server's own code agreeing with itself.
 */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}
