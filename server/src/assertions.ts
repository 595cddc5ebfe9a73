// Workstation assertions (private_key_jwt, RFC 7523 §3), checked the same way wherever a workstation
// signs one: at oidc-provider's client authentication (token, introspection, revocation) through its
// claims hook, and at the badge key relay, which verifies them itself. Beyond the signature:
//   - a lifetime of 5 minutes at most (iat and exp required), so a stolen assertion is short-lived;
//   - iat, nbf and exp against this server's clock within the accepted skew (ward PCs drift);
//   - single use across every instance and both endpoints, each record kept until its assertion can
//     no longer be accepted (exp plus the skew), never a fixed time that a long assertion outlives.
import { createHash } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { errors } from 'oidc-provider';
import { DEFAULT_CLOCK_SKEW_S, TEXT, textProblem } from '@sillage/protocol';
import { Batcher } from './batch';
import type { Db } from './db';
import type { Directory } from './directory';

export const MAX_ASSERTION_LIFETIME_S = 300;
/** Algorithms a workstation may sign with (asymmetric only: its key is registered public). */
export const WORKSTATION_ALGS = ['ES256', 'RS256', 'PS256'] as const;

/** A refused assertion; `clock` when the reason is its times against this server's clock. */
export class AssertionRefused extends Error {
  constructor(
    message: string,
    readonly clock = false,
  ) {
    super(message);
  }
}

/** oidc-provider's client-authentication refusal for an assertion outside the accepted clock skew. */
export class ClockSkewRefused extends errors.InvalidClientAuth {}

/**
 * Whether an oidc-provider refusal is about the assertion's times: ours, or its own checks of exp and
 * nbf (made with the same tolerance before our hook runs).
 */
export function isClockRefusal(err: unknown): boolean {
  if (err instanceof ClockSkewRefused) return true;
  const e = err as { error?: string; error_detail?: string } | null;
  return e?.error === 'invalid_client' && (e.error_detail === 'jwt expired' || e.error_detail === 'jwt not active yet');
}

export class WorkstationAssertions {
  constructor(
    private readonly db: Db,
    private readonly directory: Directory,
    /** The audience workstations address their assertions to. */
    private readonly issuer: string,
    readonly skewS: number = DEFAULT_CLOCK_SKEW_S,
    /** Wall clock (workstation times are compared with it, not with the roaming-session clock). */
    private readonly wallMs: () => number = Date.now,
  ) {}

  /**
   * iat, nbf and exp against this server's clock within the skew, the lifetime bound, a jti; throws
   * AssertionRefused.
   */
  checkClaims(c: { iat?: unknown; exp?: unknown; nbf?: unknown; jti?: unknown }): void {
    const now = Math.floor(this.wallMs() / 1000);
    const { iat, exp, nbf } = c;
    if (typeof iat !== 'number' || typeof exp !== 'number' || !Number.isFinite(iat) || !Number.isFinite(exp))
      throw new AssertionRefused('client assertion needs numeric iat and exp');
    if (exp <= iat || exp - iat > MAX_ASSERTION_LIFETIME_S)
      throw new AssertionRefused(`client assertion lifetime must be 1 to ${MAX_ASSERTION_LIFETIME_S} seconds`);
    if (nbf !== undefined && typeof nbf !== 'number')
      throw new AssertionRefused('client assertion nbf is not a number');
    if (iat > now + this.skewS || (nbf ?? iat) > now + this.skewS)
      throw new AssertionRefused('client assertion issued in the future: workstation clock ahead', true);
    if (exp <= now - this.skewS)
      throw new AssertionRefused('client assertion expired: workstation clock behind, or a replay', true);
    const jti = textProblem(c.jti, TEXT.jti);
    if (jti) throw new AssertionRefused(`client assertion jti: ${jti}`);
  }

  /**
   * Single use, shared by every instance and both endpoints: true the first time (iss, jti) is seen.
   * The id is oidc-provider's own (sha256 of iss and jti), so instances of either version agree.
   */
  firstUse(iss: string, jti: string, exp: number): Promise<boolean> {
    const id = createHash('sha256').update(`${iss}${jti}`).digest('base64url');
    return this.uses.add({ id, until: exp + this.skewS });
  }

  // Concurrent token requests record their assertions in one statement; within a batch the same id twice
  // is a replay too: only its first caller is told "new".
  private readonly uses = new Batcher<{ id: string; until: number }, boolean>('assertion-replay', async (items) => {
    const until = new Map<string, number>();
    for (const i of items) until.set(i.id, Math.max(i.until, until.get(i.id) ?? 0));
    const { rows } = await this.db.query<{ id: string }>(
      `INSERT INTO oidc_payloads (type, id, payload, expires_at)
       SELECT 'ReplayDetection', u.id, '{}', to_timestamp(u.until) FROM unnest($1::text[], $2::float8[]) AS u(id, until)
       ON CONFLICT (type, id) DO NOTHING RETURNING id`,
      [[...until.keys()], [...until.values()]],
      { prepare: 'assertion-first-use' },
    );
    const inserted = new Set(rows.map((r) => r.id));
    return items.map((i) => inserted.delete(i.id));
  });

  /**
   * The claims hook of oidc-provider's client authentication (after it checked signature, audience and
   * exp/nbf with the same skew): claims as above, single use.
   */
  async clientAuthHook(claims: Record<string, unknown>): Promise<void> {
    try {
      this.checkClaims(claims);
    } catch (e) {
      if (!(e instanceof AssertionRefused)) throw e;
      throw e.clock ? new ClockSkewRefused(e.message) : new errors.InvalidClientAuth(e.message);
    }
    if (!(await this.firstUse(String(claims.iss), String(claims.jti), claims.exp as number)))
      throw new errors.InvalidClientAuth('client assertion already used (replay)');
  }

  /** The badge key relay's check: a registered, active workstation, its signature and audience, then as above. */
  async workstation(assertion: unknown): Promise<string> {
    if (typeof assertion !== 'string') throw new AssertionRefused('client_assertion required');
    let claims;
    try {
      claims = decodeJwt(assertion);
    } catch {
      throw new AssertionRefused('malformed client_assertion');
    }
    const iss = claims.iss;
    if (textProblem(iss, TEXT.clientId)) throw new AssertionRefused('client_assertion iss is not a client_id');
    this.checkClaims(claims);
    const ws = await this.directory.workstation(iss!);
    if (!ws || !ws.active) throw new AssertionRefused('unknown or revoked workstation');
    try {
      await jwtVerify(assertion, createLocalJWKSet(ws.jwks as JSONWebKeySet), {
        algorithms: [...WORKSTATION_ALGS],
        issuer: ws.clientId,
        subject: ws.clientId,
        audience: this.issuer,
        clockTolerance: this.skewS,
        currentDate: new Date(this.wallMs()),
      });
    } catch (e) {
      throw new AssertionRefused(`client_assertion refused: ${(e as Error).message}`);
    }
    if (!(await this.firstUse(ws.clientId, claims.jti!, claims.exp!)))
      throw new AssertionRefused('client_assertion replayed');
    return ws.clientId;
  }
}
