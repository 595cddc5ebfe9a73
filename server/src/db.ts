// Storage: one small interface over node-postgres (production, tests) and PGlite (the embedded default
// of `npm start` and demos). Same SQL on both; migrations are plain numbered SQL.
import pg from 'pg';
import { lockDataDir } from './pglite-lock';
import type { DataDirHolder } from './pglite-lock';

export interface QueryOptions {
  /**
   * Names a hot statement: PostgreSQL parses and plans it once per connection instead of on every call
   * (a re-open's badge lookup went from ~240 to ~50 µs of database CPU). Same name, same SQL text.
   * PGlite runs in-process and ignores it.
   */
  prepare?: string;
}

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], opts?: QueryOptions): Promise<{ rows: T[] }>;
}

export interface Db extends Queryable {
  /** Runs fn in one transaction (committed if it resolves, rolled back if it throws). */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  readonly kind: 'postgres' | 'pglite';
  /** Connections of this instance's pool (PostgreSQL only): for the metrics endpoint. */
  pool?(): { total: number; idle: number; waiting: number; max: number };
}

export interface PostgresOptions {
  /**
   * Named (prepared) hot statements; off behind a pooler that moves a client between server connections
   * without following its statements (PgBouncer before 1.21 in transaction mode). Default on.
   */
  preparedStatements?: boolean;
  /** Told once when named statements are refused and the pool falls back to unnamed ones. */
  onFallback?: (reason: string) => void;
}

/** The server connection does not hold what the client prepared on another: a pooler is in between. */
const PREPARED_LOST = new Set(['26000', '42P05']);

/**
 * Every commit is durable: the server leaves `synchronous_commit` as the database sets it (`on`, or
 * `remote_apply` with a synchronous standby) and asks for nothing weaker on any write. What a badge tap
 * writes is a replay record (assertion, relay challenge, login ticket), which a crash must not lose or
 * the same request would be accepted again after the restart; its audit record, which must outlive the
 * decision it records; and its token rows, committed beside the audit record in the same round trip, so
 * that an asynchronous commit of them would save no time. Lookups commit nothing to flush.
 *
 * `max` connections per instance: 4 by default. The hot statements are group-committed (one in flight
 * per kind), so more connections mostly add idle backends, and on a shared 2-core host 10 cost
 * PostgreSQL ~30% more CPU per re-open than 2-4 did (bench server-reopen).
 */
export function postgresDb(connectionString: string, max = 4, opts: PostgresOptions = {}): Db {
  // A database that does not answer fails requests within seconds (the agents wait 10 s) instead of
  // holding them, and every batch queued behind them, until TCP gives up.
  let prepared = opts.preparedStatements ?? true;
  const pool = new pg.Pool({
    connectionString,
    max,
    connectionTimeoutMillis: 3000,
    query_timeout: 8000,
    // A named statement is planned once for any parameters. By default PostgreSQL plans it again at every
    // Bind (a custom plan) when the arrays it is given look smaller than the generic plan assumes, as one
    // tap's always do: that planning cost a tap's assertion record more than running it (0.8 against
    // 0.25 ms). Not sent behind a pooler without named statements (unnamed ones are planned anyway).
    onConnect: async (c) => {
      if (prepared) await c.query('SET plan_cache_mode = force_generic_plan').catch(() => {});
    },
  });
  // An idle client erroring (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const unnamed = <T>(sql: string, params?: unknown[]) =>
    pool.query(sql, params as unknown[]) as unknown as Promise<{ rows: T[] }>;
  return {
    kind: 'postgres',
    pool: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max }),
    query: async <T>(sql: string, params?: unknown[], q?: QueryOptions) => {
      if (!q?.prepare || !prepared) return unnamed<T>(sql, params);
      try {
        return (await pool.query({ name: q.prepare, text: sql, values: params as unknown[] })) as unknown as {
          rows: T[];
        };
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (!code || !PREPARED_LOST.has(code)) throw e;
        // Refused at Parse or Bind: nothing ran, the statement is sent again unnamed, and so is every later one.
        if (prepared) opts.onFallback?.((e as Error).message);
        prepared = false;
        return unnamed<T>(sql, params);
      }
    },
    async tx(fn) {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        const r = await fn({
          query: async <T>(s: string, p?: unknown[]) => (await c.query(s, p as unknown[])) as unknown as { rows: T[] },
        });
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

/** The database is down or unreachable (as opposed to a bug or a refused statement). */
export function isDatabaseUnavailable(e: unknown): boolean {
  const err = e as { code?: string; message?: string } | null;
  if (!err) return false;
  // Connection refused/reset/timed out; SQLSTATE class 08 (connection exception), 57P01-03 (shutdown).
  if (err.code && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|08\w{3}|57P0[123])$/.test(err.code))
    return true;
  const lost = [
    'Connection terminated',
    'timeout exceeded when trying to connect',
    'Query read timeout',
    'Client has encountered a connection error',
  ];
  const message = (err.message ?? '').toLowerCase();
  return lost.some((m) => message.includes(m.toLowerCase()));
}

/** PGlite in dataDir (held by this process alone, see pglite-lock.ts), or in memory without one. */
export async function pgliteDb(dataDir?: string, holder: DataDirHolder = 'server'): Promise<Db> {
  const { PGlite } = await import('@electric-sql/pglite');
  const release = dataDir ? lockDataDir(dataDir, holder) : () => {};
  const db = new PGlite(dataDir);
  await db.waitReady.catch((e: unknown) => {
    release();
    throw e;
  });
  return {
    kind: 'pglite',
    query: async <T>(sql: string, params?: unknown[]) => ({ rows: (await db.query<T>(sql, params)).rows }),
    tx: (fn) =>
      db.transaction((t) =>
        fn({ query: async <T>(s: string, p?: unknown[]) => ({ rows: (await t.query<T>(s, p)).rows }) }),
      ),
    close: async () => {
      try {
        await db.close();
      } finally {
        release();
      }
    },
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
  // 2: the audit append in one round trip. The function takes the chain lock, reads the head and inserts
  // the batch; the server's hash of each row's content (v1 hashed everything in Node, which needed
  // lock, read and insert as separate round trips while the other instance waited) is chained here as
  // sha256(prev_hash ':' seq ':' content_hash). hash_v tells verify() which rule a row follows.
  `
  ALTER TABLE audit ADD COLUMN hash_v smallint NOT NULL DEFAULT 1;
  -- Every tap looks a badge up by its id, revoked rows included: without this, a scan of all badges.
  CREATE INDEX badges_id ON badges (badge_id);
  CREATE FUNCTION sillage_audit_append(entries jsonb) RETURNS void LANGUAGE plpgsql AS $$
  DECLARE
    last_seq bigint;
    last_hash text;
    h text;
    e jsonb;
  BEGIN
    PERFORM pg_advisory_xact_lock(727275);
    SELECT seq, hash INTO last_seq, last_hash FROM audit ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
      last_seq := 0;
      last_hash := repeat('0', 64);
    END IF;
    FOR e IN SELECT value FROM jsonb_array_elements(entries) LOOP
      last_seq := last_seq + 1;
      h := encode(sha256(convert_to(last_hash || ':' || last_seq::text || ':' || (e->>'content_hash'), 'UTF8')), 'hex');
      INSERT INTO audit
        (seq, at, action, outcome, account_id, workstation, factor, reason, details, prev_hash, hash, hash_v)
      VALUES (last_seq, (e->>'at')::timestamptz, e->>'action', e->>'outcome', e->>'account_id', e->>'workstation',
              e->>'factor', e->>'reason', NULLIF(e->'details', 'null'::jsonb), last_hash, h, 2);
      last_hash := h;
    END LOOP;
  END
  $$;
  `,
  // 3: secrets at rest and an audit trail that defends itself. Token ids become their SHA-256 (the
  // adapter hashes what it is presented; the rows of running sessions are converted here, so their
  // tokens keep working). The audit rows and the signed checkpoints of the chain head refuse UPDATE,
  // DELETE and TRUNCATE from every role, the table owner included, until a trigger is dropped.
  `
  UPDATE oidc_payloads SET id = encode(sha256(convert_to(id, 'UTF8')), 'hex'), payload = payload - 'jti'
    WHERE type NOT IN ('Grant', 'ReplayDetection', 'RelayAssertion');
  CREATE TABLE audit_checkpoints (
    seq bigint NOT NULL,
    hash text NOT NULL,
    signed_at timestamptz NOT NULL,
    jws text NOT NULL
  );
  CREATE INDEX audit_checkpoints_seq ON audit_checkpoints (seq);
  CREATE FUNCTION sillage_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    RAISE EXCEPTION 'the % table is append-only: % refused', TG_TABLE_NAME, TG_OP
      USING ERRCODE = 'insufficient_privilege';
  END
  $$;
  CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION sillage_append_only();
  CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION sillage_append_only();
  `,
  // 4: a badge is bound to the chip's proven identity: the UID its diversified key was derived for (what a
  // relayed authentication proves); the human badge number becomes a label, and the identifier a reader
  // emits for readers that check the badge themselves. Wrong session codes counted per workstation.
  `
  ALTER TABLE badges ADD COLUMN chip_uid text;
  ALTER TABLE badges ALTER COLUMN badge_id DROP NOT NULL;
  ALTER TABLE badges ADD CONSTRAINT badges_named CHECK (chip_uid IS NOT NULL OR badge_id IS NOT NULL);
  CREATE UNIQUE INDEX badges_chip_one_active ON badges (chip_uid) WHERE status = 'active' AND chip_uid IS NOT NULL;
  CREATE INDEX badges_chip ON badges (chip_uid);
  CREATE TABLE code_failures (
    workstation text NOT NULL,
    window_start timestamptz NOT NULL,
    failures int NOT NULL,
    PRIMARY KEY (workstation, window_start)
  );
  `,
];

/** Statements of one migration: split on `;` at line ends, except inside a $$-quoted function body. */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let current = '';
  let inBody = false;
  for (const line of sql.split('\n')) {
    current += line + '\n';
    if ((line.match(/\$\$/g)?.length ?? 0) % 2 === 1) inBody = !inBody;
    if (!inBody && /;\s*$/.test(line)) {
      out.push(current.trim().replace(/;$/, ''));
      current = '';
    }
  }
  if (current.trim()) out.push(current.trim());
  return out.filter(Boolean);
}

/**
 * Applies pending migrations; two instances starting together serialise on an advisory lock. A server
 * whose role may not change the schema (an owner role migrates, see server/README.md) passes when
 * there is nothing to apply, and otherwise says who must.
 */
export async function migrate(db: Db, upTo = MIGRATIONS.length): Promise<number> {
  return db.tx(async (q) => {
    await q.query('SELECT pg_advisory_xact_lock(727274)');
    const { rows: exists } = await q.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
    if (!exists[0]?.t)
      await q.query(
        'CREATE TABLE schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
      );
    const { rows } = await q.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
    const current = Number(rows[0]?.v ?? 0);
    const target = Math.min(upTo, MIGRATIONS.length);
    for (let i = current; i < target; i++) {
      try {
        for (const stmt of splitStatements(MIGRATIONS[i]!)) await q.query(stmt);
      } catch (e) {
        if ((e as { code?: string }).code === '42501')
          throw new Error(
            `the database schema is at version ${current}, this server needs ${target}, and its role may not ` +
              `change it: run npm run server:admin -- db migrate as the owner role (${(e as Error).message})`,
          );
        throw e;
      }
      await q.query('INSERT INTO schema_migrations (version) VALUES ($1)', [i + 1]);
    }
    return MIGRATIONS.length;
  });
}
