// The server's PostgreSQL pool plans its named statements once: with one tap's small arrays PostgreSQL
// would otherwise choose a custom plan, planned again at every execution (pg_prepared_statements counts
// them). Behind a pooler without named statements nothing is set.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresDb } from '../../server/src/db';
import { startPostgres } from '../postgres';
import type { PostgresHandle } from '../postgres';

let pg: PostgresHandle;

beforeAll(async () => {
  pg = await startPostgres();
}, 120_000);

afterAll(async () => {
  await pg?.stop();
});

/** A statement shaped as the hot ones: arrays unnested, a key looked up. */
const HOT = `SELECT u.id FROM unnest($1::text[]) AS u(id) JOIN pg_class c ON c.relname = u.id`;

describe('named statements', () => {
  it('are planned once per connection, whatever the size of the arrays they are given', async () => {
    const db = postgresDb(pg.url(), 1);
    try {
      for (let i = 0; i < 12; i++) await db.query(HOT, [['pg_class']], { prepare: 'hot' });
      const { rows } = await db.query<{ generic: string; custom: string; mode: string }>(
        `SELECT generic_plans AS generic, custom_plans AS custom, current_setting('plan_cache_mode') AS mode
         FROM pg_prepared_statements WHERE name = 'hot'`,
      );
      expect(rows[0]).toEqual({ generic: '12', custom: '0', mode: 'force_generic_plan' });
    } finally {
      await db.close();
    }
  });

  it('off (behind a pooler): the connection keeps the database default', async () => {
    const db = postgresDb(pg.url(), 1, { preparedStatements: false });
    try {
      const { rows } = await db.query<{ mode: string }>(`SELECT current_setting('plan_cache_mode') AS mode`);
      expect(rows[0]!.mode).toBe('auto');
    } finally {
      await db.close();
    }
  });
});
