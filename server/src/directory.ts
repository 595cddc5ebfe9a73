// Enrolment and directory: accounts (idNat, AD login, names, profession), badges bound to accounts,
// workstation registration by one-time enrolment token, and the PIN / "code de session" second factor.
import { createHash, randomBytes, randomUUID, scrypt, timingSafeEqual } from 'node:crypto';
import { normaliseBadgeNumber, normaliseUid } from '@sillage/protocol';
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
  /** Failed second-factor attempts (on a proven badge) before the account's code locks. */
  maxSecretFailures: number;
  lockoutMs: number;
  /** Wrong codes one workstation may send per window, whoever's badge, before it must wait. */
  maxWorkstationCodeFailures?: number;
  workstationCodeWindowMs?: number;
}

export const DEFAULT_DIRECTORY_POLICY: DirectoryPolicy = {
  maxSecretFailures: 5,
  lockoutMs: 15 * 60_000,
  maxWorkstationCodeFailures: 10,
  workstationCodeWindowMs: 10 * 60_000,
};

/**
 * How a tapped badge is found: by the chip UID its proof names (the UID a relayed authentication proved,
 * or the one a workstation or UID-only reader read), or by the identifier a reader emitted after checking
 * the badge with its own keys.
 */
export type BadgeKey = { uid: string } | { number: string };

export type BadgeOwner =
  { account: Account; activeSession: Record<string, unknown> | null } | { refused: 'unknown' | 'revoked' | 'disabled' };

/**
 * What a tap decides on, of a badge binding (badges b JOIN accounts a): its state, its owner and the
 * owner's newest roaming session live at `at` (a placeholder). Shared by the directory's lookup and the
 * statement that records a tap's client assertion (assertions.ts). Columns are listed: a prepared statement
 * must keep its result shape when a later migration adds one (and the code's hash has nothing to do on the
 * tap path).
 */
export const badgeOwnerColumns = (at: string) => `b.chip_uid, b.badge_id AS bound_badge_id, b.status,
  a.id, a.id_nat, a.ad_login, a.last_name, a.first_name, a.profession, a.disabled,
  (SELECT row_to_json(s) FROM roaming_sessions s
    WHERE s.account_id = a.id AND s.ended_at IS NULL AND s.expires_at > ${at}
    ORDER BY s.auth_time DESC LIMIT 1) AS active_session`;

/** The owner of a binding row (badgeOwnerColumns; the active binding if any), or why none (no row: unknown). */
export function badgeOwnerOf(r: Record<string, unknown> | undefined): BadgeOwner {
  if (!r) return { refused: 'unknown' };
  if (r.status !== 'active') return { refused: 'revoked' };
  const account = toAccount(r);
  if (account.disabled) return { refused: 'disabled' };
  return { account, activeSession: (r.active_session as Record<string, unknown> | null) ?? null };
}

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

export interface WorkstationRecord {
  clientId: string;
  name: string;
  jwks: { keys: unknown[] };
  active: boolean;
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

  /**
   * Binds a badge by its chip UID (what `npm run badge -- encode` prints) and/or its number (the label on
   * it, and what readers that check badges themselves emit). Refused when it is active on another account
   * (one badge, one person).
   */
  async bindBadge(
    badge: { uid?: string | null; number?: string | null },
    accountId: string,
    q: Queryable = this.db,
  ): Promise<{ ok: true } | { ok: false; reason: 'taken' | 'invalid' }> {
    const uid = badge.uid == null ? null : normaliseUid(badge.uid);
    const number = badge.number == null ? null : normaliseBadgeNumber(badge.number);
    if ((badge.uid != null && !uid) || (badge.number != null && !number) || (!uid && !number))
      return { ok: false, reason: 'invalid' };
    const { rows } = await q.query<{ account_id: string; chip_uid: string | null; badge_id: string | null }>(
      "SELECT account_id, chip_uid, badge_id FROM badges WHERE status = 'active' AND (chip_uid = $1 OR badge_id = $2)",
      [uid, number],
    );
    if (rows.some((r) => r.account_id !== accountId)) return { ok: false, reason: 'taken' };
    try {
      // Already this person's badge (or a row with its number and no UID yet): completed, not duplicated.
      const mine = rows.find((r) => (uid && r.chip_uid === uid) || (number && r.badge_id === number && !r.chip_uid));
      if (mine) {
        await q.query(
          `UPDATE badges SET chip_uid = COALESCE($1, chip_uid), badge_id = COALESCE($2, badge_id)
           WHERE status = 'active' AND account_id = $3 AND (chip_uid = $1 OR (badge_id = $2 AND chip_uid IS NULL))`,
          [uid, number, accountId],
        );
        return { ok: true };
      }
      await q.query("INSERT INTO badges (badge_id, chip_uid, account_id, status) VALUES ($1, $2, $3, 'active')", [
        number,
        uid,
        accountId,
      ]);
      return { ok: true };
    } catch (e) {
      if ((e as { code?: string }).code === '23505') return { ok: false, reason: 'taken' };
      throw e;
    }
  }

  /** Revokes the active badge with this chip UID or number (declared lost). */
  async revokeBadge(badge: string, reason: string): Promise<boolean> {
    const { rows } = await this.db.query(
      `UPDATE badges SET status = 'revoked', revoked_at = $3, revoked_reason = $4
       WHERE status = 'active' AND (chip_uid = $1 OR badge_id = $2) RETURNING account_id`,
      [normaliseUid(badge), badge, this.now(), reason],
    );
    return rows.length > 0;
  }

  /**
   * The account of an active badge, or why not, and its newest roaming session (raw row) live at
   * `at` (default now). Concurrent taps share one statement (the re-open path is the hot one); a
   * batch checks sessions at its latest `at`, the stricter of its callers' times.
   */
  badgeOwner(key: BadgeKey, at: Date = this.now()): Promise<BadgeOwner> {
    return this.owners.add({ key, at });
  }

  private readonly owners = new Batcher<{ key: BadgeKey; at: Date }, BadgeOwner>('badge-owners', async (items) => {
    const at = new Date(Math.max(...items.map((i) => i.at.getTime())));
    const uids = [...new Set(items.flatMap((i) => ('uid' in i.key ? [i.key.uid] : [])))];
    const numbers = [...new Set(items.flatMap((i) => ('number' in i.key ? [i.key.number] : [])))];
    // Every binding of those badges, the active one first, else the latest revoked one (to say "revoked").
    const { rows } = await this.db.query<Record<string, unknown>>(
      `SELECT ${badgeOwnerColumns('$3')}
       FROM badges b JOIN accounts a ON a.id = b.account_id
       WHERE b.chip_uid = ANY($1::text[]) OR b.badge_id = ANY($2::text[])
       ORDER BY (b.status = 'active') DESC, b.enrolled_at DESC`,
      [uids, numbers, at],
      { prepare: 'badge-owners-v3' },
    );
    return items.map(({ key }) =>
      badgeOwnerOf(rows.find((row) => ('uid' in key ? row.chip_uid === key.uid : row.bound_badge_id === key.number))),
    );
  });

  /** The end of the current window when this workstation already sent too many wrong codes in it. */
  async codeRateLimited(workstation: string): Promise<Date | null> {
    const { start, end, max } = this.codeWindow();
    const { rows } = await this.db.query<{ failures: number }>(
      'SELECT failures FROM code_failures WHERE workstation = $1 AND window_start = $2',
      [workstation, start],
    );
    return (rows[0]?.failures ?? 0) >= max ? end : null;
  }

  async countCodeFailure(workstation: string): Promise<void> {
    await this.db.query(
      `INSERT INTO code_failures (workstation, window_start, failures) VALUES ($1, $2, 1)
       ON CONFLICT (workstation, window_start) DO UPDATE SET failures = code_failures.failures + 1`,
      [workstation, this.codeWindow().start],
    );
  }

  private codeWindow() {
    const ms = this.policy.workstationCodeWindowMs ?? DEFAULT_DIRECTORY_POLICY.workstationCodeWindowMs!;
    const t = this.now().getTime();
    const start = new Date(t - (t % ms));
    return {
      start,
      end: new Date(start.getTime() + ms),
      max: this.policy.maxWorkstationCodeFailures ?? DEFAULT_DIRECTORY_POLICY.maxWorkstationCodeFailures!,
    };
  }

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
      `UPDATE accounts
         SET failed_secrets =
           CASE WHEN locked_until IS NOT NULL AND locked_until <= $2 THEN 1 ELSE failed_secrets + 1 END,
         locked_until = CASE
           WHEN (CASE WHEN locked_until IS NOT NULL AND locked_until <= $2 THEN 1 ELSE failed_secrets + 1 END) >= $3
           THEN $4::timestamptz ELSE NULL END
       WHERE id = $1 RETURNING failed_secrets`,
      [accountId, now, this.policy.maxSecretFailures, new Date(now.getTime() + this.policy.lockoutMs)],
    );
    const failed = upd[0]?.failed_secrets ?? this.policy.maxSecretFailures;
    if (failed >= this.policy.maxSecretFailures)
      return { ok: false, reason: 'locked', until: new Date(now.getTime() + this.policy.lockoutMs) };
    return { ok: false, reason: 'wrong', remaining: this.policy.maxSecretFailures - failed };
  }

  async importCsv(csv: string): Promise<{ imported: number; errors: string[] }> {
    // Columns: id_nat;ad_login;last_name;first_name;profession;badge_uid;badge_id (header line required, ;
    // or ,): badge_uid is the chip UID `npm run badge -- encode` prints, badge_id the number on the badge.
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
      const uid = get('badge_uid');
      const number = get('badge_id');
      if (uid || number) {
        const b = await this.bindBadge({ uid, number }, acc.id);
        if (!b.ok)
          errors.push(
            b.reason === 'taken'
              ? `ligne ${i + 2} : badge ${uid ?? number} déjà attribué à une autre personne`
              : `ligne ${i + 2} : badge ${uid ?? number} illisible (UID : 8, 14 ou 20 chiffres hexadécimaux)`,
          );
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
        'UPDATE enrolment_tokens SET used_at = $2, used_by = $3 WHERE token_hash = $1 AND used_at IS NULL AND ' +
          'expires_at > $2 RETURNING label',
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

  /** A registered workstation (its keys authenticate its client assertions): batched, prepared. */
  workstation(clientId: string): Promise<WorkstationRecord | null> {
    return this.workstations.add(clientId);
  }

  private readonly workstations = new Batcher<string, WorkstationRecord | null>('workstation-lookup', async (ids) => {
    const { rows } = await this.db.query<Record<string, unknown>>(
      'SELECT client_id, name, jwks, status FROM workstations WHERE client_id = ANY($1::text[])',
      [[...new Set(ids)]],
      { prepare: 'workstation-lookup' },
    );
    const byId = new Map(rows.map((r) => [String(r.client_id), r]));
    return ids.map((id) => {
      const r = byId.get(id);
      return r
        ? { clientId: id, name: String(r.name), jwks: r.jwks as { keys: unknown[] }, active: r.status === 'active' }
        : null;
    });
  });

  async revokeWorkstation(clientId: string): Promise<boolean> {
    const { rows } = await this.db.query(
      "UPDATE workstations SET status = 'revoked', revoked_at = $2 WHERE client_id = $1 AND status = 'active' " +
        'RETURNING client_id',
      [clientId, this.now()],
    );
    return rows.length > 0;
  }
}
