// Local stand-in for the session server in demo mode (--local-demo): a directory of demo people, their
// badges and roaming MFA sessions (absolute window from the 2-factor login, never extended by re-opens).
// Without a server, the demo badges' keys are in this process: a tap's proof is this process's own check
// of the emulated card (local key), the badge found by the UID it proved; codes go with single-use tickets.
import { randomBytes, verify as cryptoVerify } from 'node:crypto';
import type { Identity, OpenSession } from '../../../shared/contract';
import type { Authenticator, AuthOutcome, BadgeOutcome } from '../auth/types';
import type { BadgeRead, CardHandle } from '../devices/types';
import type { Clock } from '../util/clock';
import { DEMO_BADGES, DEMO_PIN, demoPerson } from './data';

const MAX_BADGE_PIN_FAILURES = 5;

export interface DemoAuthenticatorOptions {
  clock: Clock;
  mfaWindowMs: number;
  /** Card public keys by idNat (the demo readers publish them). */
  publicKeys: Map<string, Buffer>;
  /** AllowUidOnlyBadges: a UID alone names a demo badge (weak: only where the policy says so). */
  allowUidOnly?: boolean;
}

export class DemoAuthenticator implements Authenticator {
  /** idNat → start and end of the roaming MFA window. */
  private roaming = new Map<string, { authTime: number; expiresAt: number }>();
  private badgeFailures = new Map<string, number>();
  /** Login tickets of taps waiting for their code: ticket → owner's idNat. */
  private tickets = new Map<string, string>();

  constructor(private readonly opts: DemoAuthenticatorOptions) {}

  async loginWithCard(card: CardHandle, identity: Identity): Promise<AuthOutcome> {
    const challenge = randomBytes(32);
    const proof = await card.sign(challenge);
    const expected = this.opts.publicKeys.get(identity.idNat);
    if (!expected || !proof.publicKey || !expected.equals(proof.publicKey)) {
      return { ok: false, code: 'auth-refused', reason: 'card key not enrolled' };
    }
    const key = {
      key: proof.publicKey,
      format: 'der' as const,
      type: 'spki' as const,
      dsaEncoding: 'ieee-p1363' as const,
    };
    if (!cryptoVerify('sha256', challenge, key, proof.signature)) {
      return { ok: false, code: 'auth-refused', reason: 'bad proof of possession' };
    }
    return {
      ok: true,
      session: this.startMfa(identity, { kind: 'cps-card', reader: card.reader, cardType: card.cardType }, [
        'card',
        'pin',
      ]),
    };
  }

  /**
   * The demo badge a proof names, or why not: this process's own check of a demo card, or a UID where the
   * policy allows it (a relay proof needs the server that drew its challenge; a reader's word is refused
   * as a server refuses it by default).
   */
  private badgeOf(badge: BadgeRead): { spec: (typeof DEMO_BADGES)[number] } | { code: 'badge-weak' | 'badge-unknown' } {
    const p = badge.proof;
    if (p.kind !== 'local-key' && !(p.kind === 'uid-only' && this.opts.allowUidOnly)) return { code: 'badge-weak' };
    const spec = DEMO_BADGES.find((b) => b.uid === p.uid && b.owner && b.number !== null);
    return spec ? { spec } : { code: 'badge-unknown' };
  }

  async badgeTapped(badge: BadgeRead): Promise<BadgeOutcome> {
    const found = this.badgeOf(badge);
    if ('code' in found)
      return {
        kind: 'refused',
        code: found.code,
        reason: found.code === 'badge-weak' ? `${badge.proof.kind} proof refused by policy` : 'badge not enrolled',
      };
    const owner = found.spec.owner!;
    const person = demoPerson(owner)!;
    const window = this.roaming.get(owner);
    const now = this.opts.clock.now();
    if (window && now < window.expiresAt) {
      return {
        kind: 'reopened',
        session: {
          user: person.identity,
          credential: this.credential(badge),
          factors: ['badge'],
          ...this.assurance(badge, 're-open'),
          authTime: window.authTime,
          mfaExpiresAt: window.expiresAt,
          openedAt: now,
        },
      };
    }
    return {
      kind: 'second-factor',
      identity: person.identity,
      secondFactor: 'badge-pin',
      pinLength: null,
      ticket: this.ticketFor(owner),
    };
  }

  private ticketFor(idNat: string): string {
    const t = randomBytes(16).toString('base64url');
    this.tickets.set(t, idNat);
    return t;
  }

  async loginWithBadge(badge: BadgeRead, ticket: string, secret: string): Promise<AuthOutcome> {
    const owner = this.tickets.get(ticket);
    this.tickets.delete(ticket);
    if (!owner) return { ok: false, code: 'badge-tap-again', reason: 'login ticket unknown or used' };
    const failures = this.badgeFailures.get(owner) ?? 0;
    if (failures >= MAX_BADGE_PIN_FAILURES) return { ok: false, code: 'code-locked', reason: 'badge PIN locked out' };
    if (secret !== DEMO_PIN) {
      this.badgeFailures.set(owner, failures + 1);
      return {
        ok: false,
        code: 'pin-wrong',
        params: { triesLeft: MAX_BADGE_PIN_FAILURES - failures - 1 },
        reason: 'wrong badge PIN',
        ...(failures + 1 < MAX_BADGE_PIN_FAILURES ? { ticket: this.ticketFor(owner) } : {}),
      };
    }
    this.badgeFailures.delete(owner);
    return {
      ok: true,
      session: {
        ...this.startMfa(demoPerson(owner)!.identity, this.credential(badge), ['badge', 'pin']),
        ...this.assurance(badge, 'mfa'),
      },
    };
  }

  async endWorkstationSession(): Promise<void> {
    // Roaming sessions outlive the workstation session on purpose: the next tap elsewhere re-opens.
  }

  /** As a session server says it: a UID alone (allowed by policy) is a proof it took on trust. */
  private assurance(badge: BadgeRead, checked: 'mfa' | 're-open'): Pick<OpenSession, 'assurance' | 'unverifiedBadge'> {
    return badge.proof.kind === 'uid-only'
      ? { assurance: 'asserted', unverifiedBadge: 'uid-only' }
      : { assurance: checked };
  }

  private credential(badge: BadgeRead) {
    return { kind: 'badge' as const, reader: badge.reader, cardType: badge.cardType, badgeProof: badge.strength };
  }

  private startMfa(
    user: Identity,
    credential: OpenSession['credential'],
    factors: OpenSession['factors'],
  ): OpenSession {
    const now = this.opts.clock.now();
    const window = { authTime: now, expiresAt: now + this.opts.mfaWindowMs };
    this.roaming.set(user.idNat, window);
    return {
      user,
      credential,
      factors,
      assurance: 'mfa',
      authTime: now,
      mfaExpiresAt: window.expiresAt,
      openedAt: now,
    };
  }
}
