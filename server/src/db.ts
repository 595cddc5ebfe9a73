// Storage: one small interface over node-postgres (production, tests) and PGlite (the embedded default
// of `npm start` and demos). Same SQL on both; migrations are plain numbered SQL.
import pg from 'pg';

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
}

export interface Db extends Queryable {
  /** Runs fn in one transaction (committed if it resolves, rolled back if it throws). */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  readonly kind: 'postgres' | 'pglite';
}

export function postgresDb(connectionString: string, max = 10): Db {
  const pool = new pg.Pool({ connectionString, max });
  // An idle client erroring (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  return {
    kind: 'postgres',
    query: async <T,>(sql: string, params?: unknown[]) => (await pool.query(sql, params as unknown[])) as unknown as { rows: T[] },
    async tx(fn) {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        const r = await fn({ query: async <T,>(s: string, p?: unknown[]) => (await c.query(s, p as unknown[])) as unknown as { rows: T[] } });
        await c.query('COMMIT');
        return r;
      } catch (e) {
        await c.query('ROLLBACK').catch(() => {});
        throw e;
      } finally {
        c.release();
      }
    },
    close: () => pool.end(),
  };
}

export async function pgliteDb(dataDir?: string): Promise<Db> {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = new PGlite(dataDir);
  await db.waitReady;
  return {
    kind: 'pglite',
    query: async <T,>(sql: string, params?: unknown[]) => ({ rows: (await db.query<T>(sql, params)).rows }),
    tx: (fn) => db.transaction((t) => fn({ query: async <T,>(s: string, p?: unknown[]) => ({ rows: (await t.query<T>(s, p)).rows }) })),
    close: () => db.close(),
  };
}

const MIGRATIONS: string[] = [
  // 1: directory, workstations, roaming sessions, OIDC payloads, audit, server-wide secrets.
  `
  CREATE TABLE accounts (
    id text PRIMARY KEY,
    id_nat text UNIQUE,
    ad_login text UNIQUE,
    last_name text NOT NULL,
    first_name text NOT NULL,
    profession text,
    secret_hash text,
    failed_secrets int NOT NULL DEFAULT 0,
    locked_until timestamptz,
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE badges (
    badge_id text NOT NULL,
    account_id text NOT NULL REFERENCES accounts(id),
    status text NOT NULL CHECK (status IN ('active', 'revoked')),
    enrolled_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    revoked_reason text
  );
  -- One active badge belongs to one account only; revoked rows stay for the audit.
  CREATE UNIQUE INDEX badges_one_active ON badges (badge_id) WHERE status = 'active';
  CREATE INDEX badges_account ON badges (account_id);
  CREATE TABLE enrolment_tokens (
    token_hash text PRIMARY KEY,
    label text NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    used_by text
  );
  CREATE TABLE workstations (
    client_id text PRIMARY KEY,
    name text NOT NULL,
    jwks jsonb NOT NULL,
    status text NOT NULL CHECK (status IN ('active', 'revoked')),
    registered_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
  );
  CREATE TABLE roaming_sessions (
    id text PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts(id),
    auth_time timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    amr jsonb NOT NULL,
    acr text NOT NULL,
    first_workstation text NOT NULL,
    ended_at timestamptz,
    end_reason text
  );
  CREATE INDEX roaming_sessions_account ON roaming_sessions (account_id) WHERE ended_at IS NULL;
  CREATE TABLE used_nonces (
    nonce text PRIMARY KEY,
    expires_at timestamptz NOT NULL
  );
  CREATE TABLE oidc_payloads (
    type text NOT NULL,
    id text NOT NULL,
    payload jsonb NOT NULL,
    grant_id text,
    uid text,
    user_code text,
    expires_at timestamptz,
    consumed_at timestamptz,
    -- The roaming session of a token: ending a session finds all its tokens in one statement.
    sid text,
    PRIMARY KEY (type, id)
  );
  CREATE INDEX oidc_payloads_grant ON oidc_payloads (grant_id);
  CREATE INDEX oidc_payloads_sid ON oidc_payloads (sid) WHERE sid IS NOT NULL;
  CREATE TABLE server_secrets (
    name text PRIMARY KEY,
    value jsonb NOT NULL
  );
  CREATE TABLE audit (
    seq bigint PRIMARY KEY,
    at timestamptz NOT NULL,
    action text NOT NULL,
    outcome text NOT NULL,
    account_id text,
    workstation text,
    factor text,
    reason text,
    details jsonb,
    prev_hash text NOT NULL,
    hash text NOT NULL
  );
  `,
];

/** Applies pending migrations; two instances starting together serialise on an advisory lock. */
export async function migrate(db: Db): Promise<number> {
  return db.tx(async (q) => {
    await q.query('SELECT pg_advisory_xact_lock(727274)');
    await q.query('CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const { rows } = await q.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
    const current = Number(rows[0]?.v ?? 0);
    for (let i = current; i < MIGRATIONS.length; i++) {
      for (const stmt of MIGRATIONS[i]!.split(/;\s*\n/).map((s) => s.trim()).filter(Boolean)) await q.query(stmt);
      await q.query('INSERT INTO schema_migrations (version) VALUES ($1)', [i + 1]);
    }
    return MIGRATIONS.length;
  });
}
