// Single use of what the server hands out once (relay challenges, login tickets, relay assertions), shared
// by every instance: the first presentation inserts its id (primary key), any later one finds it there.
// Concurrent claims go to the database in one statement; the same id twice in one batch is a replay too
// (only its first caller is told "new").
import { Batcher } from './batch';
import type { Db } from './db';

export type SingleUseKind = 'BadgeChallenge' | 'LoginTicket' | 'RelayAssertion';

export class SingleUse {
  private readonly claims: Batcher<{ kind: SingleUseKind; id: string; until: Date }, boolean>;

  constructor(db: Db) {
    this.claims = new Batcher('single-use', async (items) => {
      const fresh = new Map<string, (typeof items)[number]>();
      for (const i of items) if (!fresh.has(`${i.kind}\u0000${i.id}`)) fresh.set(`${i.kind}\u0000${i.id}`, i);
      const rows = [...fresh.values()];
      const { rows: inserted } = await db.query<{ type: string; id: string }>(
        `INSERT INTO oidc_payloads (type, id, payload, expires_at)
         SELECT t, i, '{}', e FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(t, i, e)
         ON CONFLICT (type, id) DO NOTHING RETURNING type, id`,
        [rows.map((r) => r.kind), rows.map((r) => r.id), rows.map((r) => r.until)],
        { prepare: 'single-use' },
      );
      const won = new Set(inserted.map((r) => `${r.type}\u0000${r.id}`));
      // Each key is granted to one caller at most: the first in the batch, if the insert was new.
      return items.map((i) => won.delete(`${i.kind}\u0000${i.id}`));
    });
  }

  /** True the first time `id` of `kind` is presented (kept until `until`, past its own validity). */
  claim(kind: SingleUseKind, id: string, until: Date): Promise<boolean> {
    return this.claims.add({ kind, id, until });
  }
}
