// The session engine's authentication step over the session server (OIDC, openid-client): CPS card
// JWT-bearer login, badge + code login, badge re-open within the roaming window, status polling so a
// global logout reaches this PC, and (when policy allows) a degraded CPS login checked locally while
// the server is unreachable. Tokens live in memory only, for as long as the workstation session.
import { ACR, BADGE_AMR } from '@sillage/protocol';
import type { BadgeMfaRequired } from '@sillage/protocol';
import { randomBytes, verify as cryptoVerify, constants, X509Certificate } from 'node:crypto';
import type { Factor, Identity, OpenSession, UnverifiedBadgeProof } from '../../../shared/contract';
import { ContractError } from '../../../shared/errors';
import type { ServerErrorCode, ServerTokens, SessionServerClient } from '../oidc/server-client';
import { ServerError } from '../oidc/server-client';
import { agentCodeOf } from '../oidc/server-codes';
import type { BadgeRead, CardHandle } from '../devices/types';
import type { Clock, Timer } from '../util/clock';
import type { Authenticator, AuthOutcome, BadgeOutcome } from './types';

export interface DegradedCpsPolicy {
  /** PEM roots (and issuing CAs) the card certificate must chain to, checked on the workstation. */
  trustPem: string[];
  mfaWindowMs: number;
}

export interface ServerAuthenticatorOptions {
  /** Connected client; rejects with ServerError('server-unreachable') while the server is down. */
  client: () => Promise<SessionServerClient>;
  clock: Clock;
  /** How often an open session checks it was not ended elsewhere (bounded delay of a global logout). */
  pollMs?: number;
  /** Policy: allow a CPS login checked locally when the server is unreachable; null = never. */
  degradedCps?: DegradedCpsPolicy | null;
  /**
   * The workstation's own roaming window (MfaWindowMinutes): a session never lasts, and a tap never
   * re-opens, beyond it after the 2-factor login, even when the server's window is longer.
   */
  maxMfaWindowMs?: number;
}

/** Failures of a poll or refresh that say nothing about the session itself. */
const TRANSIENT = new Set<ServerErrorCode>(['server-unreachable', 'clock_skew']);

/**
 * A failed call as the engine's outcome: the server's refusal by its code (server-codes.ts), the card's own
 * failure (removed while signing) as it is; anything else the server's unknown refusal.
 */
function refusal(e: unknown): AuthOutcome & { ok: false } {
  if (e instanceof ContractError) return { ok: false, code: e.code, reason: e.message };
  const se = e instanceof ServerError ? e : new ServerError('unexpected', (e as Error)?.message ?? String(e));
  const code = agentCodeOf(se.code);
  const params: Record<string, string | number> = {};
  if (typeof se.body.tries_left === 'number') params.triesLeft = se.body.tries_left;
  if (typeof se.body.locked_until === 'string') {
    const d = new Date(se.body.locked_until);
    params.until = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  }
  return { ok: false, code, params, reason: `${se.code}: ${se.message}` };
}

export class ServerAuthenticator implements Authenticator {
  private tokens = new Map<OpenSession, ServerTokens>();

  constructor(private readonly opts: ServerAuthenticatorOptions) {}

  /** Tokens of the open session (memory only), for the DPI broker. */
  tokensOf(session: OpenSession): ServerTokens | null {
    return this.tokens.get(session) ?? null;
  }

  client(): Promise<SessionServerClient> {
    return this.opts.client();
  }

  async loginWithCard(card: CardHandle, identity: Identity): Promise<AuthOutcome> {
    try {
      const client = await this.opts.client();
      const t = await client.cardLogin(card, identity.idNat);
      return {
        ok: true,
        session: this.remember(t, identity, { kind: 'cps-card', reader: card.reader, cardType: card.cardType }, [
          'card',
          'pin',
        ]),
      };
    } catch (e) {
      if (e instanceof ServerError && e.code === 'server-unreachable' && this.opts.degradedCps)
        return this.degradedCardLogin(card, identity, this.opts.degradedCps);
      return refusal(e);
    }
  }

  async reopenWithCard(card: CardHandle, identity: Identity): Promise<AuthOutcome> {
    try {
      // Same assertion grant as a CPS login: the server tells the technical certificate apart (no smart-card
      // logon EKU) and grants a 1-factor re-open within the roaming window only.
      const t = await (await this.opts.client()).cardLogin(card, identity.idNat);
      if (this.beyondLocalWindow(t))
        return {
          ok: false,
          code: 'mfa-required',
          reason: 'roaming window of this workstation (MfaWindowMinutes) over',
        };
      return {
        ok: true,
        session: this.remember(t, identity, { kind: 'cps-card', reader: card.reader, cardType: card.cardType }, [
          'card-contactless',
        ]),
      };
    } catch (e) {
      return refusal(e);
    }
  }

  async badgeTapped(badge: BadgeRead): Promise<BadgeOutcome> {
    try {
      const client = await this.opts.client();
      // The workstation's own window (MfaWindowMinutes) goes with the tap: beyond it the server asks the code.
      const t = await client.badge(badge.proof, this.maxAgeS());
      return { kind: 'reopened', session: this.remember(t, null, this.credential(badge), ['badge']) };
    } catch (e) {
      if (e instanceof ServerError && e.code === 'mfa_required' && typeof e.body.login_ticket === 'string') {
        const b = e.body as Partial<BadgeMfaRequired>;
        const identity = b.family_name
          ? {
              idNat: b.idnat ?? '',
              lastName: b.family_name,
              firstName: b.given_name ?? '',
              profession: b.profession ?? '',
            }
          : null;
        return {
          kind: 'second-factor',
          identity,
          secondFactor: 'session-code',
          pinLength: null,
          ticket: e.body.login_ticket,
        };
      }
      // Server down: a badge alone never opens anything.
      const r = refusal(e);
      return { kind: 'refused', code: r.code, reason: r.reason };
    }
  }

  async loginWithBadge(badge: BadgeRead, ticket: string, secret: string): Promise<AuthOutcome> {
    try {
      const client = await this.opts.client();
      const t = await client.badgeCode(ticket, secret);
      return { ok: true, session: this.remember(t, null, this.credential(badge), ['badge', 'session-code']) };
    } catch (e) {
      const r = refusal(e);
      const next = e instanceof ServerError ? e.body.login_ticket : undefined;
      return typeof next === 'string' ? { ...r, ticket: next } : r;
    }
  }

  async enrolBadge(session: OpenSession, badge: BadgeRead): Promise<{ ok: true } | (AuthOutcome & { ok: false })> {
    const t = this.tokens.get(session);
    if (!t) return { ok: false, code: 'enrolment-too-late', reason: 'no server session on this workstation' };
    // Only the server's own check of the badge binds it: never a UID, a reader's or this PC's word.
    if (badge.proof.kind !== 'desfire')
      return { ok: false, code: 'badge-weak', reason: `${badge.proof.kind} proof: the server cannot check it` };
    try {
      await (await this.opts.client()).enrolBadge(t.accessToken, badge.proof);
      return { ok: true };
    } catch (e) {
      return refusal(e);
    }
  }

  async endWorkstationSession(session: OpenSession): Promise<void> {
    const t = this.tokens.get(session);
    this.tokens.delete(session);
    // The roaming session stays valid for the next tap elsewhere; only this PC's tokens are dropped.
    if (t?.refreshToken) {
      const client = await this.opts.client().catch(() => null);
      await client?.revoke(t.refreshToken).catch(() => {});
    }
  }

  watchSession(session: OpenSession, ended: (reason: string) => void): () => void {
    if (session.degraded) return () => {};
    const pollMs = this.opts.pollMs ?? 15_000;
    let timer: Timer | null = null;
    let stopped = false;
    const tick = async () => {
      const t = this.tokens.get(session);
      if (!t || stopped) return;
      try {
        const client = await this.opts.client();
        // Keep a fresh access token (the DPI broker exchanges it) without extending the roaming window.
        if (t.refreshToken && t.expiresAt * 1000 - this.opts.clock.now() < 2 * pollMs) {
          const r = await client.refresh(t.refreshToken);
          const next = { ...r, refreshToken: r.refreshToken ?? t.refreshToken, mfaExpiresAt: t.mfaExpiresAt };
          if (stopped) return;
          this.tokens.set(session, next);
        }
        const st = await client.sessionStatus(this.tokens.get(session)!.accessToken);
        if (!st.active && !stopped) return ended(st.reason);
      } catch (e) {
        // Unreachable server or a clock gone off: the session stays open (continuity), the next tick
        // tries again; a refused refresh means it ended.
        if (e instanceof ServerError && !TRANSIENT.has(e.code) && !stopped) return ended(e.code);
      }
      if (!stopped) timer = this.opts.clock.setTimer(pollMs, () => void tick());
    };
    timer = this.opts.clock.setTimer(pollMs, () => void tick());
    return () => {
      stopped = true;
      timer?.cancel();
    };
  }

  /** A re-open whose 2-factor login is older than this workstation's window. */
  /** The workstation's roaming window in whole seconds (the badge grant's max_age), when it has one. */
  private maxAgeS(): number | undefined {
    const max = this.opts.maxMfaWindowMs;
    return max === undefined ? undefined : Math.floor(max / 1000);
  }

  private beyondLocalWindow(t: ServerTokens): boolean {
    const max = this.opts.maxMfaWindowMs;
    if (max === undefined || t.claims.auth_time === undefined) return false;
    return t.claims.auth_time * 1000 + max <= this.opts.clock.now();
  }

  private credential(badge: BadgeRead): OpenSession['credential'] {
    return { kind: 'badge', reader: badge.reader, cardType: badge.cardType, badgeProof: badge.strength };
  }

  private remember(
    t: ServerTokens,
    identity: Identity | null,
    credential: OpenSession['credential'],
    factors: Factor[],
  ): OpenSession {
    const c = t.claims;
    const now = this.opts.clock.now();
    const session: OpenSession = {
      user: identity ?? {
        idNat: c.idnat ?? '',
        lastName: c.family_name ?? '',
        firstName: c.given_name ?? '',
        profession: c.profession ?? '',
      },
      credential,
      factors,
      ...assuranceOf(c),
      authTime: (c.auth_time ?? Math.floor(now / 1000)) * 1000,
      mfaExpiresAt: Math.min(
        (t.mfaExpiresAt ?? Math.floor(now / 1000)) * 1000,
        (c.auth_time ?? Math.floor(now / 1000)) * 1000 + (this.opts.maxMfaWindowMs ?? Infinity),
      ),
      openedAt: now,
    };
    this.tokens.set(session, t);
    return session;
  }

  /**
   * Server unreachable and policy allows it: card + PIN (the card checked it) + certificate chain and
   * a fresh proof of possession, all checked here. Marked degraded; no tokens, so no DPI access.
   */
  private async degradedCardLogin(
    card: CardHandle,
    identity: Identity,
    policy: DegradedCpsPolicy,
  ): Promise<AuthOutcome> {
    const alg = card.signatureAlgorithm;
    const der = await card.readCertificate();
    if (!der)
      return {
        ok: false,
        code: 'server-unreachable',
        reason: 'server unreachable and no certificate for a local check',
      };
    const leaf = new X509Certificate(der);
    const now = this.opts.clock.now();
    if (now < Date.parse(leaf.validFrom) || now > Date.parse(leaf.validTo))
      return { ok: false, code: 'card-expired', reason: 'certificate outside its validity (local check)' };
    const cas = policy.trustPem.map((p) => new X509Certificate(p));
    let cert = leaf;
    let trusted = false;
    for (let depth = 0; depth < 5 && !trusted; depth++) {
      const issuer = cas.find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
      if (!issuer) break;
      if (now > Date.parse(issuer.validTo)) break;
      if (issuer.checkIssued(issuer)) trusted = true;
      cert = issuer;
    }
    if (!trusted)
      return {
        ok: false,
        code: 'auth-refused',
        reason: 'certificate does not chain to a configured root (local check)',
      };
    const challenge = randomBytes(32);
    const sig = await card.sign(challenge, alg);
    const key =
      alg === 'RSA-PSS-SHA256'
        ? { key: leaf.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
        : alg === 'ECDSA-P256-SHA256'
          ? { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' as const }
          : leaf.publicKey;
    if (!cryptoVerify('sha256', challenge, key, sig.signature))
      return { ok: false, code: 'auth-refused', reason: 'bad proof of possession (local check)' };
    return {
      ok: true,
      session: {
        user: identity,
        credential: { kind: 'cps-card', reader: card.reader, cardType: card.cardType },
        factors: ['card', 'pin'],
        assurance: 'mfa',
        authTime: now,
        mfaExpiresAt: now + policy.mfaWindowMs,
        openedAt: now,
        degraded: true,
      },
    };
  }
}

const UNVERIFIED: readonly UnverifiedBadgeProof[] = ['uid-only', 'local-key', 'reader-verified'];

/** What the server's claims say it proved; with `asserted`, the badge proof it took on trust (its `amr`). */
export function assuranceOf(c: { acr?: string; amr?: string[] }): Pick<OpenSession, 'assurance' | 'unverifiedBadge'> {
  if (c.acr === ACR.mfa) return { assurance: 'mfa' };
  if (c.acr !== ACR.asserted) return { assurance: 're-open' };
  const proof = UNVERIFIED.find((k) => c.amr?.includes(BADGE_AMR[k]));
  return { assurance: 'asserted', ...(proof ? { unverifiedBadge: proof } : {}) };
}
