// oidc-provider storage on PostgreSQL: tokens, grants and replay records in one table, workstations
// (the clients) from the directory. Nothing is kept in process memory but the keys of workstations seen
// active (immutable per client id), so instances are interchangeable.
import { createHash } from 'node:crypto';
import type { JSONWebKeySet } from 'jose';
import type { Adapter, AdapterConstructor, AdapterPayload } from 'oidc-provider';
import { TEXT, textProblem } from '@sillage/protocol';
import { Batcher } from './batch';
import type { Db } from './db';

export const WORKSTATION_GRANTS = [
  'urn:ietf:params:oauth:grant-type:jwt-bearer',
  'urn:sillage:params:oauth:grant-type:badge',
  'urn:ietf:params:oauth:grant-type:token-exchange',
  'refresh_token',
];

/**
 * A token's id is the bearer credential itself: the table keeps its SHA-256 only (migration 3 hashed the
 * rows written before), so whoever reads the database holds nothing a server would accept. The tokens
 * are 256 random bits: a plain hash cannot be reversed or guessed. Grant ids (named by their tokens,
 * never presented) and replay records (ids of assertions already spent) stay as they are.
 */
const CLEAR_IDS = new Set(['Grant', 'ReplayDetection']);
const hashesIds = (model: string) => !CLEAR_IDS.has(model);
const tokenIdHash = (id: string) => createHash('sha256').update(id, 'utf8').digest('hex');

type Row = [
  type: string,
  id: string,
  payload: string,
  grantId: string | null,
  uid: string | null,
  userCode: string | null,
  expiresAt: Date | null,
  sid: string | null,
];

/**
 * Upserts of concurrent requests (a login's grant, access and refresh tokens, and those of other logins) in
 * one statement.
 */
function upsertBatcher(db: Db): Batcher<Row, void> {
  return new Batcher<Row, void>(
    'token-upsert',
    async (rows) => {
      // One statement cannot touch a row twice: the last write of a key wins, as sequential upserts would.
      const byKey = new Map<string, Row>();
      for (const r of rows) byKey.set(`${r[0]}\u0000${r[1]}`, r);
      const params: unknown[] = [];
      const tuples = [...byKey.values()].map((r) => `(${r.map((v) => `$${params.push(v)}`).join(',')})`);
      await db.query(
        `INSERT INTO oidc_payloads (type, id, payload, grant_id, uid, user_code, expires_at, sid)
       VALUES ${tuples.join(',')}
       ON CONFLICT (type, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id,
         uid = EXCLUDED.uid, user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at, sid = EXCLUDED.sid`,
        params,
        // One prepared statement per batch size (bounded by the batch limit).
        { prepare: `oidc-upsert-${byKey.size}` },
      );
      return rows.map(() => undefined);
    },
    100,
  );
}

/** Active workstations' keys, remembered once read (assertions.ts, WorkstationAssertions). */
export interface KnownWorkstations {
  keysOf(clientId: string): Promise<JSONWebKeySet | undefined>;
}

export function adapterFactory(db: Db, known: KnownWorkstations): AdapterConstructor {
  const upserts = upsertBatcher(db);
  const clients = async (id: string) => {
    const keys = await known.keysOf(id);
    return keys && workstationClient(id, keys);
  };
  return class PgAdapter implements Adapter {
    private readonly hashed: boolean;
    constructor(private readonly name: string) {
      this.hashed = hashesIds(name);
    }

    private key(id: string): string {
      return this.hashed ? tokenIdHash(id) : id;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      // Client assertions are recorded by WorkstationAssertions (see find()).
      if (this.name === 'ReplayDetection') return;
      const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
      // The payload repeats the id (jti): it is given back by find() from what the caller presented.
      const stored = this.hashed ? { ...payload, jti: undefined } : payload;
      await upserts.add([
        this.name,
        this.key(id),
        JSON.stringify(stored),
        payload.grantId ?? null,
        payload.uid ?? null,
        payload.userCode ?? null,
        expiresAt,
        (payload as { sid?: string }).sid ?? null,
      ]);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      // Nothing stored here holds control characters: such an id (a client_id inside a client assertion,
      // a token value) is unknown without a query that PostgreSQL would refuse.
      if (textProblem(id, TEXT.parameter)) return undefined;
      if (this.name === 'Client') return clients(id);
      // Client assertions were already recorded, atomically across instances and until their expiry, by
      // WorkstationAssertions in oidc-provider's claims hook: its own find-then-save would let two
      // instances both accept the same assertion.
      if (this.name === 'ReplayDetection') return undefined;
      const { rows } = await db.query<{ payload: AdapterPayload; consumed_at: Date | null }>(
        'SELECT payload, consumed_at FROM oidc_payloads WHERE type = $1 AND id = $2 AND (expires_at IS NULL OR ' +
          'expires_at > now())',
        [this.name, this.key(id)],
        { prepare: 'oidc-find' },
      );
      const r = rows[0];
      if (!r) return undefined;
      const payload = this.hashed ? { ...r.payload, jti: id } : r.payload;
      return r.consumed_at ? { ...payload, consumed: Math.floor(new Date(r.consumed_at).getTime() / 1000) } : payload;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const { rows } = await db.query<{ payload: AdapterPayload }>(
        'SELECT payload FROM oidc_payloads WHERE type = $1 AND user_code = $2',
        [this.name, userCode],
      );
      return rows[0]?.payload;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const { rows } = await db.query<{ payload: AdapterPayload }>(
        'SELECT payload FROM oidc_payloads WHERE type = $1 AND uid = $2',
        [this.name, uid],
      );
      return rows[0]?.payload;
    }

    async consume(id: string): Promise<void> {
      await db.query('UPDATE oidc_payloads SET consumed_at = now() WHERE type = $1 AND id = $2', [
        this.name,
        this.key(id),
      ]);
    }

    async destroy(id: string): Promise<void> {
      await db.query('DELETE FROM oidc_payloads WHERE type = $1 AND id = $2', [this.name, this.key(id)]);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await db.query('DELETE FROM oidc_payloads WHERE grant_id = $1', [grantId]);
    }
  };
}

/**
 * A registered, active workstation as an OIDC confidential client authenticated by private_key_jwt with
 * its registered keys. Whether a remembered one is still active is read by the statement that records its
 * client assertion (assertions.ts): a revocation applies to its next request, on every instance.
 */
function workstationClient(clientId: string, jwks: JSONWebKeySet): AdapterPayload {
  return {
    client_id: clientId,
    token_endpoint_auth_method: 'private_key_jwt',
    jwks,
    grant_types: WORKSTATION_GRANTS,
    response_types: [],
    redirect_uris: [],
  } as unknown as AdapterPayload;
}

/** Expired rows are dead weight only (reads filter them): pruned periodically. */
export async function pruneExpired(db: Db): Promise<void> {
  await db.query('DELETE FROM oidc_payloads WHERE expires_at < now()');
  await db.query('DELETE FROM used_nonces WHERE expires_at < now()');
  await db.query("DELETE FROM code_failures WHERE window_start < now() - interval '1 day'");
}
