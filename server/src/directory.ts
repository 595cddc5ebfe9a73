// Enrolment and directory: accounts (idNat, AD login, names, profession), badges bound to accounts,
// workstation registration by one-time enrolment token, and the PIN / "code de session" second factor.
import { createHash, randomBytes, randomUUID, scrypt, timingSafeEqual } from 'node:crypto';
import { Batcher } from './batch';
import type { Db, Queryable } from './db';

export interface Account {
  id: string;
  idNat: string | null;
  adLogin: string | null;
  lastName: string;
  firstName: string;
  profession: string | null;
  disabled: boolean;
}

export interface DirectoryPolicy {
  /** Failed second-factor attempts before lockout. */
  maxSecretFailures: number;
  lockoutMs: number;
}

export const DEFAULT_DIRECTORY_POLICY: DirectoryPolicy = { maxSecretFailures: 5, lockoutMs: 15 * 60_000 };

// scrypt is memory-hard (N·r·128 bytes = 16 MiB here): guessing 4-6 digit codes offline from a stolen
// database costs real memory per guess; online guessing is stopped by the lockout.
const SCRYPT = { N: 1 << 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

function scryptAsync(secret: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, 32, SCRYPT, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function checkSecret(secret: string, stored: string): Promise<boolean> {
  const [alg, , , , salt, key] = stored.split('$');
  if (alg !== 'scrypt' || !salt || !key) return false;
  const got = await scryptAsync(secret, Buffer.from(salt, 'base64url'));
  const want = Buffer.from(key, 'base64url');
  return got.length === want.length && timingSafeEqual(got, want);
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function toAccount(r: Record<string, unknown>): Account {
  return {
    id: String(r.id),
    idNat: (r.id_nat as string | null) ?? null,
    adLogin: (r.ad_login as string | null) ?? null,
    lastName: String(r.last_name),
    firstName: String(r.first_name),
    profession: (r.profession as string | null) ?? null,
    disabled: Boolean(r.disabled),
  };
}

export type SecretCheck =
  | { ok: true }
  | { ok: false; reason: 'wrong'; remaining: number }
  | { ok: false; reason: 'locked'; until: Date }
  | { ok: false; reason: 'no-secret' };

export class Directory {
  constructor(
    private readonly db: Db,
    private readonly policy: DirectoryPolicy = DEFAULT_DIRECTORY_POLICY,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async addAccount(a: Omit<Account, 'id' | 'disabled'> & { id?: string; secret?: string }): Promise<Account> {
    const id = a.id ?? randomUUID();
    const secretHash = a.secret ? await hashSecret(a.secret) : null;
    const { rows } = await this.db.query(
      `INSERT INTO accounts (id, id_nat, ad_login, last_name, first_name, profession, secret_hash)
       VALUES ($1,$2,$3,$4,$5,$6,$7)
       ON CONFLICT (id_nat) DO UPDATE SET ad_login = EXCLUDED.ad_login, last_name = EXCLUDED.last_name,
         first_name = EXCLUDED.first_name, profession = EXCLUDED.profession,
         secret_hash = COALESCE(EXCLUDED.secret_hash, accounts.secret_hash)
       RETURNING *`,
      [id, a.idNat, a.adLogin, a.lastName, a.firstName, a.profession, secretHash],
    );
    return toAccount(rows[0]!);
  }

  async setSecret(accountId: string, secret: string): Promise<void> {
    await this.db.query('UPDATE accounts SET secret_hash = $2, failed_secrets = 0, locked_until = NULL WHERE id = $1', [
      accountId,
      await hashSecret(secret),
    ]);
  }

  async account(id: string): Promise<Account | null> {
    const { rows } = await this.db.query('SELECT * FROM accounts WHERE id = $1', [id]);
    return rows[0] ? toAccount(rows[0]) : null;
  }

  async accountByIdNat(idNat: string): Promise<Account | null> {
    const { rows } = await this.db.query('SELECT * FROM accounts WHERE id_nat = $1', [idNat]);
    return rows[0] ? toAccount(rows[0]) : null;
  }

  async accountByLogin(login: string): Promise<Account | null> {
    const { rows } = await this.db.query('SELECT * FROM accounts WHERE ad_login = $1 OR id_nat = $1', [login]);
    return rows[0] ? toAccount(rows[0]) : null;
  }

  async listAccounts(): Promise<Account[]> {
    const { rows } = await this.db.query('SELECT * FROM accounts ORDER BY last_name, first_name');
    return rows.map(toAccount);
  }

  /** Binds a badge; refused when the badge is active on another account (one badge, one person). */
  async bindBadge(
    badgeId: string,
    accountId: string,
    q: Queryable = this.db,
  ): Promise<{ ok: true } | { ok: false; reason: 'taken' }> {
    const { rows } = await q.query<{ account_id: string }>(
      "SELECT account_id FROM badges WHERE badge_id = $1 AND status = 'active'",
      [badgeId],
    );
    if (rows[0]) return rows[0].account_id === accountId ? { ok: true } : { ok: false, reason: 'taken' };
    try {
      await q.query("INSERT INTO badges (badge_id, account_id, status) VALUES ($1, $2, 'active')", [
        badgeId,
        accountId,
      ]);
      return { ok: true };
    } catch (e) {
      if ((e as { code?: string }).code === '23505') return { ok: false, reason: 'taken' };
      throw e;
    }
  }

  async revokeBadge(badgeId: string, reason: string): Promise<boolean> {
    const { rows } = await this.db.query(
      "UPDATE badges SET status = 'revoked', revoked_at = $2, revoked_reason = $3 WHERE badge_id = $1 AND status = 'active' RETURNING badge_id",
      [badgeId, this.now(), reason],
    );
    return rows.length > 0;
  }

  /**
   * The account of an active badge, or why not, and its newest roaming session (raw row) live at
   * `at` (default now). Concurrent taps share one statement (the re-open path is the hot one); a
   * batch checks sessions at its latest `at`, the stricter of its callers' times.
   */
  badgeOwner(
    badgeId: string,
    at: Date = this.now(),
  ): Promise<
    | { account: Account; activeSession: Record<string, unknown> | null }
    | { refused: 'unknown' | 'revoked' | 'disabled' }
  > {
    return this.owners.add({ badgeId, at });
  }

  private readonly owners = new Batcher<
    { badgeId: string; at: Date },
    | { account: Account; activeSession: Record<string, unknown> | null }
    | { refused: 'unknown' | 'revoked' | 'disabled' }
  >(async (items) => {
    const at = new Date(Math.max(...items.map((i) => i.at.getTime())));
    // Per badge id, the active binding first, else the latest revoked one (to say "revoked"). Columns
    // are listed: a prepared statement must keep its result shape when a later migration adds one
    // (and the code's hash has nothing to do on the tap path).
    const { rows } = await this.db.query<Record<string, unknown>>(
      `SELECT DISTINCT ON (b.badge_id) b.badge_id AS bound_badge_id, b.status, a.id, a.id_nat, a.ad_login, a.last_name, a.first_name, a.profession, a.disabled,
         (SELECT row_to_json(s) FROM roaming_sessions s WHERE s.account_id = a.id AND s.ended_at IS NULL AND s.expires_at > $2 ORDER BY s.auth_time DESC LIMIT 1) AS active_session
       FROM badges b JOIN accounts a ON a.id = b.account_id
       WHERE b.badge_id = ANY($1::text[]) ORDER BY b.badge_id, (b.status = 'active') DESC, b.enrolled_at DESC`,
      [[...new Set(items.map((i) => i.badgeId))], at],
      { prepare: 'badge-owners' },
    );
    const byBadge = new Map(rows.map((r) => [r.bound_badge_id as string, r]));
    return items.map(({ badgeId }) => {
      const r = byBadge.get(badgeId);
      if (!r) return { refused: 'unknown' as const };
      if (r.status !== 'active') return { refused: 'revoked' as const };
      const account = toAccount(r);
      if (account.disabled) return { refused: 'disabled' as const };
      return { account, activeSession: (r.active_session as Record<string, unknown> | null) ?? null };
    });
  });

  /** Second factor with lockout; the counter and the lock live in the database (shared by instances). */
  async checkSecret(accountId: string, secret: string): Promise<SecretCheck> {
    const { rows } = await this.db.query<{
      secret_hash: string | null;
      failed_secrets: number;
      locked_until: Date | null;
    }>('SELECT secret_hash, failed_secrets, locked_until FROM accounts WHERE id = $1', [accountId]);
    const r = rows[0];
    if (!r?.secret_hash) return { ok: false, reason: 'no-secret' };
    const now = this.now();
    if (r.locked_until && new Date(r.locked_until) > now)
      return { ok: false, reason: 'locked', until: new Date(r.locked_until) };
    if (await checkSecret(secret, r.secret_hash)) {
      await this.db.query('UPDATE accounts SET failed_secrets = 0, locked_until = NULL WHERE id = $1', [accountId]);
      return { ok: true };
    }
    // Counted atomically so two instances cannot both grant the last try.
    const { rows: upd } = await this.db.query<{ failed_secrets: number }>(
      `UPDATE accounts SET failed_secrets = CASE WHEN locked_until IS NOT NULL AND locked_until <= $2 THEN 1 ELSE failed_secrets + 1 END,
         locked_until = CASE WHEN (CASE WHEN locked_until IS NOT NULL AND locked_until <= $2 THEN 1 ELSE failed_secrets + 1 END) >= $3 THEN $4::timestamptz ELSE NULL END
       WHERE id = $1 RETURNING failed_secrets`,
      [accountId, now, this.policy.maxSecretFailures, new Date(now.getTime() + this.policy.lockoutMs)],
    );
    const failed = upd[0]?.failed_secrets ?? this.policy.maxSecretFailures;
    if (failed >= this.policy.maxSecretFailures)
      return { ok: false, reason: 'locked', until: new Date(now.getTime() + this.policy.lockoutMs) };
    return { ok: false, reason: 'wrong', remaining: this.policy.maxSecretFailures - failed };
  }

  async importCsv(csv: string): Promise<{ imported: number; errors: string[] }> {
    // Columns: id_nat;ad_login;last_name;first_name;profession;badge_id (header line required, ; or ,).
    const lines = csv.split(/\r?\n/).filter((l) => l.trim());
    const sep = lines[0]?.includes(';') ? ';' : ',';
    const header = (lines.shift() ?? '').split(sep).map((h) => h.trim().toLowerCase());
    const col = (name: string) => header.indexOf(name);
    const errors: string[] = [];
    let imported = 0;
    for (const [i, line] of lines.entries()) {
      const f = line.split(sep).map((s) => s.trim());
      const get = (n: string) => (col(n) >= 0 ? f[col(n)] || null : null);
      const lastName = get('last_name');
      const firstName = get('first_name');
      if (!lastName || !firstName || (!get('id_nat') && !get('ad_login'))) {
        errors.push(`ligne ${i + 2} : nom, prénom et id_nat ou ad_login sont requis`);
        continue;
      }
      const acc = await this.addAccount({
        idNat: get('id_nat'),
        adLogin: get('ad_login'),
        lastName,
        firstName,
        profession: get('profession'),
      });
      const badge = get('badge_id');
      if (badge) {
        const b = await this.bindBadge(badge, acc.id);
        if (!b.ok) errors.push(`ligne ${i + 2} : badge ${badge} déjà attribué à une autre personne`);
      }
      imported++;
    }
    return { imported, errors };
  }

  // --- Workstations -------------------------------------------------------------------------------

  async createEnrolmentToken(label: string, ttlMs = 7 * 24 * 3600_000, given?: string): Promise<string> {
    const token = given ?? randomBytes(24).toString('base64url');
    await this.db.query('INSERT INTO enrolment_tokens (token_hash, label, expires_at) VALUES ($1, $2, $3)', [
      sha256(token),
      label,
      new Date(this.now().getTime() + ttlMs),
    ]);
    return token;
  }

  /** Registers a workstation's public key with a one-time token: returns its client_id, or why not. */
  async registerWorkstation(
    token: string,
    name: string,
    jwks: { keys: unknown[] },
  ): Promise<{ clientId: string } | { refused: string }> {
    return this.db.tx(async (q) => {
      const { rows } = await q.query<{ label: string }>(
        'UPDATE enrolment_tokens SET used_at = $2, used_by = $3 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING label',
        [sha256(token), this.now(), name],
      );
      if (!rows[0]) return { refused: 'enrolment token unknown, expired or already used' };
      const clientId = `ws-${randomUUID()}`;
      await q.query("INSERT INTO workstations (client_id, name, jwks, status) VALUES ($1, $2, $3, 'active')", [
        clientId,
        name,
        JSON.stringify(jwks),
      ]);
      return { clientId };
    });
  }

  async workstation(
    clientId: string,
  ): Promise<{ clientId: string; name: string; jwks: { keys: unknown[] }; active: boolean } | null> {
    const { rows } = await this.db.query<Record<string, unknown>>('SELECT * FROM workstations WHERE client_id = $1', [
      clientId,
    ]);
    const r = rows[0];
    return r
      ? {
          clientId: String(r.client_id),
          name: String(r.name),
          jwks: r.jwks as { keys: unknown[] },
          active: r.status === 'active',
        }
      : null;
  }

  async revokeWorkstation(clientId: string): Promise<boolean> {
    const { rows } = await this.db.query(
      "UPDATE workstations SET status = 'revoked', revoked_at = $2 WHERE client_id = $1 AND status = 'active' RETURNING client_id",
      [clientId, this.now()],
    );
    return rows.length > 0;
  }
}
