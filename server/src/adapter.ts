// oidc-provider storage on PostgreSQL: tokens, grants and replay records in one table, workstations
// (the clients) from the directory. Nothing is kept in process memory, so instances are interchangeable.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Db } from './db';

export const WORKSTATION_GRANTS = [
  'urn:ietf:params:oauth:grant-type:jwt-bearer',
  'urn:sillage:params:oauth:grant-type:badge',
  'urn:ietf:params:oauth:grant-type:token-exchange',
  'refresh_token',
];

type Row = [type: string, id: string, payload: string, grantId: string | null, uid: string | null, userCode: string | null, expiresAt: Date | null, sid: string | null];

/**
 * Upserts issued within one event-loop turn (the grant, access and refresh tokens of a login, and
 * those of concurrent logins) go to the database as one statement; each caller resolves when it is
 * committed. At a shift change this turns dozens of round trips into one.
 */
class UpsertBatcher {
  private rows: { row: Row; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  constructor(private readonly db: Db) {}

  add(row: Row): Promise<void> {
    return new Promise((resolve, reject) => {
      this.rows.push({ row, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.rows;
    this.rows = [];
    // One statement cannot touch a row twice: the last write of a key wins, as sequential upserts would.
    const byKey = new Map<string, Row>();
    for (const b of batch) byKey.set(`${b.row[0]}\u0000${b.row[1]}`, b.row);
    const params: unknown[] = [];
    const tuples = [...byKey.values()].map((r) => `(${r.map((v) => `$${params.push(v)}`).join(',')})`);
    try {
      await this.db.query(
        `INSERT INTO oidc_payloads (type, id, payload, grant_id, uid, user_code, expires_at, sid) VALUES ${tuples.join(',')}
         ON CONFLICT (type, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id,
           uid = EXCLUDED.uid, user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at, sid = EXCLUDED.sid`,
        params,
      );
      batch.forEach((b) => b.resolve());
    } catch (e) {
      batch.forEach((b) => b.reject(e));
    }
  }
}

export function adapterFactory(db: Db) {
  const batcher = new UpsertBatcher(db);
  return class PgAdapter implements Adapter {
    constructor(private readonly name: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      // Recorded atomically by find() below (see there).
      if (this.name === 'ReplayDetection') return;
      const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
      await batcher.add([this.name, id, JSON.stringify(payload), payload.grantId ?? null, payload.uid ?? null, payload.userCode ?? null, expiresAt, (payload as { sid?: string }).sid ?? null]);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.name === 'Client') return findWorkstationClient(db, id);
      if (this.name === 'ReplayDetection') {
        // Client-assertion replay check in one atomic statement, shared by every instance: the first
        // presentation inserts (not found), any later one conflicts (found). oidc-provider's own
        // find-then-save would let two instances both accept the same assertion.
        const { rows } = await db.query(
          `INSERT INTO oidc_payloads (type, id, payload, expires_at) VALUES ($1, $2, '{}', now() + interval '1 hour')
           ON CONFLICT (type, id) DO NOTHING RETURNING id`,
          [this.name, id],
        );
        return rows.length ? undefined : ({ jti: id } as AdapterPayload);
      }
      const { rows } = await db.query<{ payload: AdapterPayload; consumed_at: Date | null }>(
        'SELECT payload, consumed_at FROM oidc_payloads WHERE type = $1 AND id = $2 AND (expires_at IS NULL OR expires_at > now())',
        [this.name, id],
      );
      const r = rows[0];
      if (!r) return undefined;
      return r.consumed_at ? { ...r.payload, consumed: Math.floor(new Date(r.consumed_at).getTime() / 1000) } : r.payload;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const { rows } = await db.query<{ payload: AdapterPayload }>('SELECT payload FROM oidc_payloads WHERE type = $1 AND user_code = $2', [this.name, userCode]);
      return rows[0]?.payload;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const { rows } = await db.query<{ payload: AdapterPayload }>('SELECT payload FROM oidc_payloads WHERE type = $1 AND uid = $2', [this.name, uid]);
      return rows[0]?.payload;
    }

    async consume(id: string): Promise<void> {
      await db.query('UPDATE oidc_payloads SET consumed_at = now() WHERE type = $1 AND id = $2', [this.name, id]);
    }

    async destroy(id: string): Promise<void> {
      await db.query('DELETE FROM oidc_payloads WHERE type = $1 AND id = $2', [this.name, id]);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await db.query('DELETE FROM oidc_payloads WHERE grant_id = $1', [grantId]);
    }
  };
}

/** A registered, active workstation as an OIDC confidential client authenticated by private_key_jwt. */
async function findWorkstationClient(db: Db, clientId: string): Promise<AdapterPayload | undefined> {
  const { rows } = await db.query<{ client_id: string; jwks: { keys: unknown[] } }>(
    "SELECT client_id, jwks FROM workstations WHERE client_id = $1 AND status = 'active'",
    [clientId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    client_id: r.client_id,
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks: r.jwks,
    grant_types: WORKSTATION_GRANTS,
    response_types: [],
    redirect_uris: [],
  } as unknown as AdapterPayload;
}

/** Expired rows are dead weight only (reads filter them): pruned periodically. */
export async function pruneExpired(db: Db): Promise<void> {
  await db.query('DELETE FROM oidc_payloads WHERE expires_at < now()');
  await db.query('DELETE FROM used_nonces WHERE expires_at < now()');
}
