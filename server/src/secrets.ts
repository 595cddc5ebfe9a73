// The provider's own secrets (signing keys, cookie keys, the nonce key), shared by every instance in
// server_secrets and sealed there with AES-256-GCM under a key-encryption key (KEK) that never enters the
// database: a copy of the database alone signs nothing. The signing keys rotate: a new key is published
// (listed in the JWKS) before it signs anything, and the key it replaces stays published until the ID
// tokens it signed have expired, then its private part is erased. Public parts are kept for good: they
// verify the audit checkpoints those keys signed.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import type { CheckpointKeys } from './audit';
import type { Db, Queryable } from './db';

export interface Kek {
  key: Buffer;
  /** Names the KEK (a hash of it) so a wrong one is told apart from a damaged store. */
  id: string;
}

const KEK_HINT =
  'start with --secrets-key-file FILE (or SILLAGE_SECRETS_KEY_FILE, or SILLAGE_SECRETS_KEY) holding the ' +
  'key-encryption key they were sealed with';

/** A KEK written as 64 hexadecimal digits or as the base64 (or base64url) of 32 bytes. */
export function kekFromText(text: string, where: string): Kek {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t)
    ? Buffer.from(t, 'hex')
    : /^[A-Za-z0-9+/_-]{43}=?$/.test(t)
      ? Buffer.from(t, 'base64')
      : Buffer.alloc(0);
  if (key.length !== 32)
    throw new Error(`${where}: the key-encryption key must be 32 bytes, written as 64 hex digits or in base64`);
  return { key, id: createHash('sha256').update('sillage-kek\u0000').update(key).digest('base64url').slice(0, 16) };
}

export const newKekText = () => randomBytes(32).toString('base64url');

export type SigningAlg = 'ES256' | 'RS256';
const ALGS: SigningAlg[] = ['ES256', 'RS256'];

export interface SigningKey {
  kid: string;
  alg: SigningAlg;
  pub: JWK;
  /** The private JWK; erased once the key's last tokens have expired. */
  priv?: JWK;
  publishedAt: string;
  /** When it starts signing (the key of its algorithm activated last before now signs). */
  activeAt: string;
}

export interface ProviderSecrets {
  v: 2;
  signing: SigningKey[];
  cookieKeys: string[];
  nonceKey: string;
}

/** What server_secrets held before rotation existed: one JWKS, signing since the first start. */
interface SecretsV1 {
  jwks: { keys: (JWK & { kid: string; alg: SigningAlg })[] };
  cookieKeys: string[];
  nonceKey: string;
}

interface Sealed {
  v: 2;
  sealed: { alg: 'A256GCM'; kek: string; iv: string; ct: string; tag: string };
}

type Stored = ProviderSecrets | SecretsV1 | Sealed;

const AAD = Buffer.from('sillage:server_secrets:provider:v2');
const isSealed = (v: Stored): v is Sealed => 'sealed' in v;

function publicPart(jwk: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, ...pub } = jwk;
  return pub;
}

function upgrade(v: ProviderSecrets | SecretsV1): ProviderSecrets {
  if ('v' in v) return v;
  const since = new Date(0).toISOString();
  return {
    v: 2,
    signing: v.jwks.keys.map((k) => ({
      kid: k.kid,
      alg: k.alg,
      pub: publicPart(k),
      priv: k,
      publishedAt: since,
      activeAt: since,
    })),
    cookieKeys: v.cookieKeys,
    nonceKey: v.nonceKey,
  };
}

async function generation(now: Date, activeAt: Date): Promise<SigningKey[]> {
  const suffix = randomBytes(8).toString('hex');
  return Promise.all(
    ALGS.map(async (alg) => {
      const pair = await generateKeyPair(alg, {
        extractable: true,
        ...(alg === 'RS256' ? { modulusLength: 2048 } : {}),
      });
      const kid = `${alg === 'ES256' ? 'es' : 'rs'}-${suffix}`;
      const priv = { ...(await exportJWK(pair.privateKey)), kid, alg, use: 'sig' };
      return {
        kid,
        alg,
        pub: publicPart(priv),
        priv,
        publishedAt: now.toISOString(),
        activeAt: activeAt.toISOString(),
      };
    }),
  );
}

export interface KeyPlan {
  /** The provider's JWKS configuration: the signing key of each algorithm first, then the published others. */
  jwks: JWK[];
  /** Changes exactly when the provider's keys must change. */
  id: string;
  signing: Record<SigningAlg, SigningKey>;
  /** Keys whose private part may be erased now (past the retention after their successor activated). */
  expired: string[];
}

/**
 * The keys in use at `now`: for each algorithm, the key activated last signs; keys waiting for their
 * activation are published already; a replaced key stays published for `retainMs` after its successor
 * activated (the life of the tokens it signed), then is expired.
 */
export function keyPlan(s: ProviderSecrets, now: Date, retainMs: number): KeyPlan {
  const t = now.getTime();
  const signing = {} as Record<SigningAlg, SigningKey>;
  const others: SigningKey[] = [];
  const expired: string[] = [];
  for (const alg of ALGS) {
    const keys = s.signing
      .filter((k) => k.alg === alg && k.priv)
      .sort((a, b) => Date.parse(a.activeAt) - Date.parse(b.activeAt));
    if (!keys.length) throw new Error(`server secrets hold no ${alg} signing key`);
    const live = keys.filter((k) => Date.parse(k.activeAt) <= t);
    // A clock behind the one that rotated: the oldest key signs until this one catches up.
    const current = live.at(-1) ?? keys[0]!;
    signing[alg] = current;
    keys.forEach((k, i) => {
      if (k === current) return;
      const successor = keys[i + 1];
      if (Date.parse(k.activeAt) > t || !successor || t < Date.parse(successor.activeAt) + retainMs) others.push(k);
      else expired.push(k.kid);
    });
  }
  const ordered = [signing.ES256, signing.RS256, ...others];
  return {
    jwks: ordered.map((k) => k.priv!),
    id: ordered.map((k) => k.kid).join(','),
    signing,
    expired,
  };
}

/** The audit's checkpoint keys: the plan's ES256 key signs, every ES256 key that ever signed verifies. */
export const checkpointKeys = (s: ProviderSecrets, plan: KeyPlan): CheckpointKeys => ({
  signer: { ...plan.signing.ES256.priv!, kid: plan.signing.ES256.kid },
  verifiers: s.signing.filter((k) => k.alg === 'ES256').map((k) => ({ ...k.pub, kid: k.kid, alg: k.alg })),
});

export class SecretStore {
  constructor(
    private readonly db: Db,
    private readonly kek: Kek | null,
  ) {}

  /** Whether what this store writes is sealed (a KEK was given). */
  get sealed(): boolean {
    return !!this.kek;
  }

  private seal(s: ProviderSecrets): Stored {
    if (!this.kek) return s;
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.kek.key, iv).setAAD(AAD);
    const ct = Buffer.concat([c.update(JSON.stringify(s), 'utf8'), c.final()]);
    return {
      v: 2,
      sealed: {
        alg: 'A256GCM',
        kek: this.kek.id,
        iv: iv.toString('base64url'),
        ct: ct.toString('base64url'),
        tag: c.getAuthTag().toString('base64url'),
      },
    };
  }

  private unseal(v: Stored): ProviderSecrets {
    if (!isSealed(v)) return upgrade(v);
    if (!this.kek) throw new Error(`the session server's secrets are encrypted in the database: ${KEK_HINT}`);
    const { kek, iv, ct, tag } = v.sealed;
    if (kek !== this.kek.id)
      throw new Error(`the server's secrets were sealed with another key-encryption key (${kek}): ${KEK_HINT}`);
    try {
      const d = createDecipheriv('aes-256-gcm', this.kek.key, Buffer.from(iv, 'base64url'))
        .setAAD(AAD)
        .setAuthTag(Buffer.from(tag, 'base64url'));
      const clear = Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]);
      return JSON.parse(clear.toString('utf8')) as ProviderSecrets;
    } catch {
      throw new Error('the sealed server secrets do not open with this key-encryption key: they were altered');
    }
  }

  private async select(q: Queryable, lock = false): Promise<Stored | null> {
    const { rows } = await q.query<{ value: Stored }>(
      `SELECT value FROM server_secrets WHERE name = 'provider'${lock ? ' FOR UPDATE' : ''}`,
    );
    return rows[0]?.value ?? null;
  }

  /** The secrets as stored, or null before the first start. */
  async read(): Promise<ProviderSecrets | null> {
    const v = await this.select(this.db);
    return v ? this.unseal(v) : null;
  }

  /**
   * The secrets, created on the first start; a store written in clear (or before rotation existed) is
   * rewritten in the current form, sealed when this store has a KEK. Instances starting together
   * serialise on the row.
   */
  async open(now: Date): Promise<ProviderSecrets> {
    if (!(await this.select(this.db))) {
      const fresh: ProviderSecrets = {
        v: 2,
        signing: await generation(now, now),
        cookieKeys: [randomBytes(32).toString('base64url')],
        nonceKey: randomBytes(32).toString('base64url'),
      };
      await this.db.query(
        "INSERT INTO server_secrets (name, value) VALUES ('provider', $1) ON CONFLICT (name) DO NOTHING",
        [JSON.stringify(this.seal(fresh))],
      );
    }
    const v = (await this.select(this.db))!;
    const s = this.unseal(v);
    if (isSealed(v) || (!this.kek && 'v' in v)) return s;
    return this.update((cur) => cur);
  }

  /**
   * Reads, changes and writes the secrets under the row lock; `change` returns the new secrets, sealed
   * as `target` seals (this store, or one with another KEK).
   */
  private update(
    change: (s: ProviderSecrets) => ProviderSecrets,
    target: SecretStore = this,
  ): Promise<ProviderSecrets> {
    return this.db.tx(async (q) => {
      const v = await this.select(q, true);
      if (!v) throw new Error('server secrets missing: start the session server once first');
      const next = change(this.unseal(v));
      await q.query("UPDATE server_secrets SET value = $1 WHERE name = 'provider'", [
        JSON.stringify(target.seal(next)),
      ]);
      return next;
    });
  }

  /**
   * A new generation of signing keys, published now, signing from now + publishDelayMs. Refused while
   * a generation still waits for its activation (one change at a time for the relying parties' caches).
   */
  async rotate(now: Date, publishDelayMs: number): Promise<SigningKey[]> {
    const fresh = await generation(now, new Date(now.getTime() + publishDelayMs));
    await this.update((s) => {
      const waiting = s.signing.find((k) => Date.parse(k.activeAt) > now.getTime());
      if (waiting)
        throw new Error(
          `la clé ${waiting.kid} attend déjà son activation (le ${waiting.activeAt}) : une rotation à la fois`,
        );
      return { ...s, signing: [...s.signing, ...fresh] };
    });
    return fresh;
  }

  /**
   * Seals the secrets under another KEK (the old one lost or exposed). Instances still holding the old
   * one keep serving with what they read, and fail to refresh until restarted with the new one.
   */
  async rewrap(next: Kek): Promise<void> {
    await this.update((s) => s, new SecretStore(this.db, next));
  }

  /** Erases the private part of the keys in `kids`; their public parts stay for the checkpoints. */
  expire(kids: string[]): Promise<ProviderSecrets> {
    return this.update((s) => ({
      ...s,
      signing: s.signing.map((k) => (kids.includes(k.kid) ? { ...k, priv: undefined } : k)),
    }));
  }
}
