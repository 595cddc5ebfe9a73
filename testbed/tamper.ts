// What only a database superuser can do to the audit trail: run a statement with the triggers that
// refuse UPDATE, DELETE and TRUNCATE switched off for that transaction (session_replication_role).
// The tests use it to show that verification still catches such an edit.
import type { Db } from '../server/src/db';

export async function tamper(db: Db, sql: string): Promise<void> {
  await db.tx(async (q) => {
    await q.query('SET LOCAL session_replication_role = replica');
    await q.query(sql);
  });
}
