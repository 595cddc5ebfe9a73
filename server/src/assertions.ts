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
import { DEFAULT_CLOCK_SKEW_S, GRANT, TEXT, textProblem } from '@sillage/protocol';
import { Batcher } from './batch';
import type { Db } from './db';
import { badgeOwnerColumns } from './directory';
import type { Directory } from './directory';
import type { Ctx } from './grants/kit';
import type { SingleUseKind } from './single-use';

export const MAX_ASSERTION_LIFETIME_S = 300;
/** Workstation keys an instance keeps in memory (see WorkstationAssertions.known). */
const MAX_KNOWN_WORKSTATIONS = 20_000;
/**
 * Grants that wait for their assertion's record beside their own single-use records (a badge tap's relay
 * challenge and badge lookup: one round trip instead of two). Every decision they make is audited, and
 * the audit of a decision waits for the record first (provider.ts), so a replayed assertion decides
 * nothing, and their tokens are issued after it too. A tap's relay challenge is spent in the statement
 * that writes the record, only beside a new one (claimAlongside): a copy of the request leaves it to the
 * request it copies.
 */
const DEFERRING_GRANTS = new Set<string>([GRANT.badge]);
const checks = new WeakMap<object, Promise<void>>();
const alongside = new WeakMap<object, Promise<boolean>>();
const ownersBeside = new WeakMap<object, Promise<OwnerRead>>();

/** The client assertion's single-use record of this request, once written; rejects for a replay. */
export function assertionRecorded(ctx: object): Promise<void> {
  return checks.get(ctx) ?? Promise.resolve();
}

/**
 * A single-use record a deferring grant names from its parameters (a tap's relay challenge), written in
 * the statement that records the request's assertion and only if that record is new: a copy of the
 * request, however fast, never spends it, and the tap waits for one round trip instead of two.
 */
export interface AlongsideRecord {
  kind: SingleUseKind;
  id: string;
  until: Date;
  /**
   * A badge the statement also reads the binding of (directory.ts badgeOwnerColumns, roaming sessions
   * live at `at`): a tap's lookup rides with its assertion's record instead of a statement of its own.
   */
  badge?: { uid: string; at: Date };
}

/** A badge's binding read beside a request's assertion record: its chip UID and the row (none: unbound). */
export interface OwnerRead {
  uid: string;
  row: Record<string, unknown> | undefined;
}

/**
 * Whether the record claimed beside this request's assertion was new (rejects as assertionRecorded
 * does); undefined when none was claimed there (the grant claims it itself).
 */
export function claimedAlongside(ctx: object): Promise<boolean> | undefined {
  return alongside.get(ctx);
}

/**
 * The binding of the badge named beside this request's assertion (AlongsideRecord.badge), read in the
 * statement that records it; undefined when none was named. Rejects as assertionRecorded does.
 */
export function ownerAlongside(ctx: object): Promise<OwnerRead> | undefined {
  return ownersBeside.get(ctx);
}

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
   * `activeWs`: recorded only if that workstation is active when the record is written, in the same
   * statement ('revoked' otherwise: nothing recorded).
   */
  firstUse(iss: string, jti: string, exp: number, activeWs?: string): Promise<boolean | 'revoked'> {
    return this.record(iss, jti, exp, activeWs).then((r) => r.first);
  }

  /** firstUse, and `also` claimed in the same statement if the assertion's record is new. */
  private record(iss: string, jti: string, exp: number, activeWs?: string, also?: AlongsideRecord) {
    const id = createHash('sha256').update(`${iss}${jti}`).digest('base64url');
    return this.uses.add({ id, until: exp + this.skewS, ws: activeWs ?? null, also: also ?? null });
  }

  // Concurrent token and relay requests record their assertions in one statement; within a batch the same
  // id twice is a replay too: only its first caller is told "new". A relay call's record also says whether
  // its workstation is still active (its key came from this instance's memory, its status never does). A
  // record claimed alongside is inserted only beside a new assertion record, each key for one caller.
  private readonly uses = new Batcher<
    { id: string; until: number; ws: string | null; also: AlongsideRecord | null },
    { first: boolean | 'revoked'; claimed: boolean; owner?: OwnerRead }
  >('assertion-replay', async (items) => {
    const byId = new Map<string, { until: number; ws: string | null; also: AlongsideRecord | null }>();
    for (const i of items) {
      const seen = byId.get(i.id);
      byId.set(i.id, {
        until: Math.max(i.until, seen?.until ?? 0),
        ws: seen ? seen.ws : i.ws,
        also: seen ? seen.also : i.also,
      });
    }
    const rows = [...byId];
    const claims = rows.flatMap(([aid, r]) => (r.also ? [{ aid, ...r.also }] : []));
    const badges = items.flatMap((i) => (i.also?.badge ? [i.also.badge] : []));
    // Sessions live at the batch's latest time, the stricter of its callers' (as the directory's lookup).
    const at = new Date(Math.max(0, ...badges.map((b) => b.at.getTime())));
    const { rows: out } = await this.db.query<{
      id: string | null;
      ws: string | null;
      claimed: string | null;
      owner: Record<string, unknown> | null;
    }>(
      `WITH u AS (SELECT * FROM unnest($1::text[], $2::float8[], $3::text[]) AS u(id, until, ws)),
       active AS (SELECT client_id FROM workstations WHERE client_id IN (SELECT ws FROM u) AND status = 'active'),
       ins AS (
         INSERT INTO oidc_payloads (type, id, payload, expires_at)
         SELECT 'ReplayDetection', u.id, '{}', to_timestamp(u.until) FROM u
         WHERE u.ws IS NULL OR u.ws IN (SELECT client_id FROM active)
         ON CONFLICT (type, id) DO NOTHING RETURNING id),
       c AS (SELECT * FROM unnest($4::text[], $5::text[], $6::text[], $7::timestamptz[]) AS c(aid, type, id, until)),
       claimed AS (
         INSERT INTO oidc_payloads (type, id, payload, expires_at)
         SELECT c.type, c.id, '{}', c.until FROM c WHERE c.aid IN (SELECT id FROM ins)
         ON CONFLICT (type, id) DO NOTHING RETURNING type, id),
       owner AS (
         SELECT DISTINCT ON (b.chip_uid) ${badgeOwnerColumns('$9')}
         FROM badges b JOIN accounts a ON a.id = b.account_id
         WHERE b.chip_uid = ANY($8::text[])
         ORDER BY b.chip_uid, (b.status = 'active') DESC, b.enrolled_at DESC)
       SELECT id, NULL AS ws, NULL AS claimed, NULL::json AS owner FROM ins
       UNION ALL SELECT NULL, client_id, NULL, NULL FROM active
       UNION ALL SELECT NULL, NULL, type || chr(1) || id, NULL FROM claimed
       UNION ALL SELECT NULL, NULL, NULL, row_to_json(owner) FROM owner`,
      [
        rows.map(([id]) => id),
        rows.map(([, r]) => r.until),
        rows.map(([, r]) => r.ws),
        claims.map((c) => c.aid),
        claims.map((c) => c.kind),
        claims.map((c) => c.id),
        claims.map((c) => c.until),
        [...new Set(badges.map((b) => b.uid))],
        at,
      ],
      { prepare: 'assertion-first-use-v3' },
    );
    const inserted = new Set(out.flatMap((r) => (r.id ? [r.id] : [])));
    const active = new Set(out.flatMap((r) => (r.ws ? [r.ws] : [])));
    const won = new Set(out.flatMap((r) => (r.claimed ? [r.claimed] : [])));
    const owners = new Map(out.flatMap((r) => (r.owner ? [[String(r.owner.chip_uid), r.owner] as const] : [])));
    return items.map((i) => {
      const badge = i.also?.badge;
      const owner = badge ? { owner: { uid: badge.uid, row: owners.get(badge.uid) } } : {};
      if (i.ws !== null && !active.has(i.ws)) return { first: 'revoked' as const, claimed: false, ...owner };
      const first = inserted.delete(i.id);
      return { first, claimed: first && !!i.also && won.delete(`${i.also.kind}\u0001${i.also.id}`), ...owner };
    });
  });

  /**
   * What a deferring grant claims beside its assertion's record, named from the request (null: nothing);
   * registered by the grant (the relay challenge of a tap).
   */
  private readonly alongsideOf = new Map<string, (ctx: Ctx) => AlongsideRecord | null>();

  claimAlongside(grant: string, of: (ctx: Ctx) => AlongsideRecord | null): void {
    this.alongsideOf.set(grant, of);
  }

  /**
   * The keys of workstations seen active, by client id, for oidc-provider's client lookup (adapter.ts)
   * and the relay: a workstation's key never changes (registering again makes a new client id), only its
   * status does, and that is read with every assertion's record, in the statement that writes it. Keeps a
   * request from reading the workstation and then writing the record: one round trip instead of two.
   */
  private readonly known = new Map<string, { jwks: JSONWebKeySet; set?: ReturnType<typeof createLocalJWKSet> }>();

  /**
   * The registered keys of an active workstation: remembered, else read from the directory (and then
   * remembered); undefined for an unknown or revoked one.
   */
  async keysOf(clientId: string): Promise<JSONWebKeySet | undefined> {
    const known = this.known.get(clientId);
    if (known) return known.jwks;
    const ws = await this.directory.workstation(clientId);
    if (!ws || !ws.active) return undefined;
    const jwks = ws.jwks as JSONWebKeySet;
    this.known.delete(clientId);
    this.known.set(clientId, { jwks });
    // A hospital group's workstations fit many times over; the oldest entry goes first.
    if (this.known.size > MAX_KNOWN_WORKSTATIONS) this.known.delete(this.known.keys().next().value!);
    return jwks;
  }

  private forget(clientId: string) {
    this.known.delete(clientId);
  }

  private async relayKeys(clientId: string) {
    if (!(await this.keysOf(clientId))) return undefined;
    const entry = this.known.get(clientId)!;
    return (entry.set ??= createLocalJWKSet(entry.jwks));
  }

  /**
   * The claims hook of oidc-provider's client authentication (after it checked signature, audience and
   * exp/nbf with the same skew): claims as above, single use. A deferring grant's request goes on while
   * its record is written (assertionRecorded).
   */
  async clientAuthHook(claims: Record<string, unknown>, ctx?: Ctx): Promise<void> {
    try {
      this.checkClaims(claims);
    } catch (e) {
      if (!(e instanceof AssertionRefused)) throw e;
      throw e.clock ? new ClockSkewRefused(e.message) : new errors.InvalidClientAuth(e.message);
    }
    const grant = (ctx?.oidc?.params as Record<string, unknown> | undefined)?.grant_type;
    const deferred = !!ctx && ctx.path === '/token' && typeof grant === 'string' && DEFERRING_GRANTS.has(grant);
    const also = deferred ? (this.alongsideOf.get(grant as string)?.(ctx!) ?? undefined) : undefined;
    // oidc-provider found the client in this instance's memory or the database: whether it is still
    // active is read by the statement that writes the record, which is refused otherwise.
    const iss = String(claims.iss);
    const written = this.record(iss, String(claims.jti), claims.exp as number, iss, also);
    const recorded = written.then((r) => {
      if (r.first === 'revoked') {
        this.forget(iss);
        throw new errors.InvalidClientAuth('unknown or revoked workstation');
      }
      if (r.first !== true) throw new errors.InvalidClientAuth('client assertion already used (replay)');
    });
    if (deferred) {
      // Awaited by the grant; a failure of the request before it is no unhandled rejection.
      recorded.catch(() => undefined);
      checks.set(ctx!, recorded);
      if (also) {
        const claimed = recorded.then(() => written.then((r) => r.claimed));
        claimed.catch(() => undefined);
        alongside.set(ctx!, claimed);
      }
      if (also?.badge) {
        const owner = recorded.then(() => written.then((r) => r.owner!));
        owner.catch(() => undefined);
        ownersBeside.set(ctx!, owner);
      }
      return;
    }
    await recorded;
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
    const keys = await this.relayKeys(iss!);
    if (!keys) throw new AssertionRefused('unknown or revoked workstation');
    try {
      await jwtVerify(assertion, keys, {
        algorithms: [...WORKSTATION_ALGS],
        issuer: iss!,
        subject: iss!,
        audience: this.issuer,
        clockTolerance: this.skewS,
        currentDate: new Date(this.wallMs()),
      });
    } catch (e) {
      throw new AssertionRefused(`client_assertion refused: ${(e as Error).message}`);
    }
    const first = await this.firstUse(iss!, claims.jti!, claims.exp!, iss!);
    if (first === 'revoked') {
      this.forget(iss!);
      throw new AssertionRefused('unknown or revoked workstation');
    }
    if (!first) throw new AssertionRefused('client_assertion replayed');
    return iss!;
  }
}
