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

export function adapterFactory(db: Db) {
  return class PgAdapter implements Adapter {
    constructor(private readonly name: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
      await db.query(
        `INSERT INTO oidc_payloads (type, id, payload, grant_id, uid, user_code, expires_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7)
         ON CONFLICT (type, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id,
           uid = EXCLUDED.uid, user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at`,
        [this.name, id, JSON.stringify(payload), payload.grantId ?? null, payload.uid ?? null, payload.userCode ?? null, expiresAt],
      );
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.name === 'Client') return findWorkstationClient(db, id);
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
