// Roaming MFA sessions: created by a 2-factor login, valid a fixed absolute time from that login (4 h by
// default), usable from any registered workstation, never extended by re-opens. Every token carries its
// session id (sid), so ending a session revokes every token and grant it produced, on every workstation.
import { randomUUID } from 'node:crypto';
import type { Db, Queryable } from './db';

export interface RoamingSession {
  id: string;
  accountId: string;
  authTime: Date;
  expiresAt: Date;
  amr: string[];
  acr: string;
  firstWorkstation: string;
  endedAt: Date | null;
  endReason: string | null;
}

export function toSession(r: Record<string, unknown>): RoamingSession {
  return {
    id: String(r.id),
    accountId: String(r.account_id),
    authTime: new Date(r.auth_time as string),
    expiresAt: new Date(r.expires_at as string),
    amr: r.amr as string[],
    acr: String(r.acr),
    firstWorkstation: String(r.first_workstation),
    endedAt: r.ended_at ? new Date(r.ended_at as string) : null,
    endReason: (r.end_reason as string | null) ?? null,
  };
}

export class Sessions {
  constructor(
    private readonly db: Db,
    readonly windowMs: number,
    private readonly now: () => Date,
  ) {}

  /** Roaming sessions open now, on every workstation. */
  async countActive(): Promise<number> {
    const { rows } = await this.db.query<{ n: string }>(
      'SELECT count(*) AS n FROM roaming_sessions WHERE ended_at IS NULL AND expires_at > $1',
      [this.now()],
    );
    return Number(rows[0]!.n);
  }

  async create(
    accountId: string,
    amr: string[],
    acr: string,
    workstation: string,
    q: Queryable = this.db,
  ): Promise<RoamingSession> {
    const authTime = this.now();
    const { rows } = await q.query(
      'INSERT INTO roaming_sessions (id, account_id, auth_time, expires_at, amr, acr, first_workstation) VALUES ' +
        '($1,$2,$3,$4,$5,$6,$7) RETURNING *',
      [
        randomUUID(),
        accountId,
        authTime,
        new Date(authTime.getTime() + this.windowMs),
        JSON.stringify(amr),
        acr,
        workstation,
      ],
    );
    return toSession(rows[0]!);
  }

  /** The account's newest roaming session still inside its window, if any. */
  async active(accountId: string): Promise<RoamingSession | null> {
    const { rows } = await this.db.query(
      'SELECT * FROM roaming_sessions WHERE account_id = $1 AND ended_at IS NULL AND expires_at > $2 ORDER BY ' +
        'auth_time DESC LIMIT 1',
      [accountId, this.now()],
    );
    return rows[0] ? toSession(rows[0]) : null;
  }

  /** Whether the account had a session whose window is over (to say "4 h passed" rather than "unknown"). */
  async lastExpired(accountId: string): Promise<RoamingSession | null> {
    const { rows } = await this.db.query(
      'SELECT * FROM roaming_sessions WHERE account_id = $1 ORDER BY auth_time DESC LIMIT 1',
      [accountId],
    );
    const s = rows[0] ? toSession(rows[0]) : null;
    return s && (s.endedAt || s.expiresAt <= this.now()) ? s : null;
  }

  async get(id: string): Promise<RoamingSession | null> {
    const { rows } = await this.db.query('SELECT * FROM roaming_sessions WHERE id = $1', [id]);
    return rows[0] ? toSession(rows[0]) : null;
  }

  isLive(s: RoamingSession): boolean {
    return !s.endedAt && s.expiresAt > this.now();
  }

  /** Ends a session everywhere: marks it and deletes every token and grant it produced. */
  async end(sessionId: string, reason: string): Promise<{ ended: boolean; workstations: string[] }> {
    return this.db.tx(async (q) => {
      const { rows } = await q.query(
        'UPDATE roaming_sessions SET ended_at = $2, end_reason = $3 WHERE id = $1 AND ended_at IS NULL RETURNING id',
        [sessionId, this.now(), reason],
      );
      // Every token of the session (any workstation), then the grants they belonged to.
      const { rows: gone } = await q.query<{ grant_id: string | null; client_id: string | null }>(
        "DELETE FROM oidc_payloads WHERE sid = $1 RETURNING grant_id, payload->>'clientId' AS client_id",
        [sessionId],
      );
      const grants = [...new Set(gone.map((g) => g.grant_id).filter((g): g is string => !!g))];
      if (grants.length)
        await q.query(
          "DELETE FROM oidc_payloads WHERE grant_id = ANY($1::text[]) OR (type = 'Grant' AND id = ANY($1::text[]))",
          [grants],
        );
      return {
        ended: rows.length > 0,
        workstations: [...new Set(gone.map((g) => g.client_id).filter((c): c is string => !!c))],
      };
    });
  }

  async endAllForAccount(accountId: string, reason: string): Promise<number> {
    const { rows } = await this.db.query<{ id: string }>(
      'SELECT id FROM roaming_sessions WHERE account_id = $1 AND ended_at IS NULL',
      [accountId],
    );
    for (const r of rows) await this.end(r.id, reason);
    return rows.length;
  }

  async listActive(): Promise<RoamingSession[]> {
    const { rows } = await this.db.query(
      'SELECT * FROM roaming_sessions WHERE ended_at IS NULL AND expires_at > $1 ORDER BY auth_time',
      [this.now()],
    );
    return rows.map(toSession);
  }
}
