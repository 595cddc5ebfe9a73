// Local stand-in for the session server in demo mode: a directory of demo people, their badges and
// roaming MFA sessions (absolute window from the 2-factor login, never extended by re-opens).
import { randomBytes, verify as cryptoVerify } from 'node:crypto';
import type { Identity, OpenSession } from '../../../shared/contract';
import type { Authenticator, AuthOutcome, BadgeOutcome } from '../auth/types';
import type { BadgeRead, CardHandle } from '../readers/types';
import type { Clock } from '../util/clock';
import { DEMO_BADGES, DEMO_PIN, demoPerson } from './data';

const MAX_BADGE_PIN_FAILURES = 5;

export interface DemoAuthenticatorOptions {
  clock: Clock;
  mfaWindowMs: number;
  /** Card public keys by idNat (the demo readers publish them). */
  publicKeys: Map<string, Buffer>;
  allowUidOnly?: boolean;
}

export class DemoAuthenticator implements Authenticator {
  /** idNat → start and end of the roaming MFA window. */
  private roaming = new Map<string, { authTime: number; expiresAt: number }>();
  private badgeFailures = new Map<string, number>();

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

  async badgeTapped(badge: BadgeRead): Promise<BadgeOutcome> {
    const spec = DEMO_BADGES.find((b) => b.id === badge.badgeId);
    if (badge.proof === 'uid-only' && !this.opts.allowUidOnly)
      return { kind: 'refused', code: 'badge-weak', reason: 'uid-only credential refused by policy' };
    if (!spec?.owner) return { kind: 'refused', code: 'badge-unknown', reason: 'badge not enrolled' };
    const person = demoPerson(spec.owner)!;
    const window = this.roaming.get(spec.owner);
    const now = this.opts.clock.now();
    if (window && now < window.expiresAt) {
      return {
        kind: 'reopened',
        session: {
          user: person.identity,
          credential: this.credential(badge),
          factors: ['badge'],
          assurance: 're-open',
          authTime: window.authTime,
          mfaExpiresAt: window.expiresAt,
          openedAt: now,
        },
      };
    }
    return { kind: 'second-factor', identity: person.identity, secondFactor: 'badge-pin', pinLength: null };
  }

  async loginWithBadge(badge: BadgeRead, secret: string): Promise<AuthOutcome> {
    const spec = DEMO_BADGES.find((b) => b.id === badge.badgeId);
    if (!spec?.owner || (badge.proof === 'uid-only' && !this.opts.allowUidOnly))
      return { ok: false, code: 'auth-refused', reason: 'badge not usable' };
    const failures = this.badgeFailures.get(spec.owner) ?? 0;
    if (failures >= MAX_BADGE_PIN_FAILURES) return { ok: false, code: 'auth-refused', reason: 'badge PIN locked out' };
    if (secret !== DEMO_PIN) {
      this.badgeFailures.set(spec.owner, failures + 1);
      return {
        ok: false,
        code: 'pin-wrong',
        params: { triesLeft: MAX_BADGE_PIN_FAILURES - failures - 1 },
        reason: 'wrong badge PIN',
      };
    }
    this.badgeFailures.delete(spec.owner);
    return {
      ok: true,
      session: this.startMfa(demoPerson(spec.owner)!.identity, this.credential(badge), ['badge', 'pin']),
    };
  }

  async endWorkstationSession(): Promise<void> {
    // Roaming sessions outlive the workstation session on purpose: the next tap elsewhere re-opens.
  }

  private credential(badge: BadgeRead) {
    return { kind: 'badge' as const, reader: badge.reader, cardType: badge.cardType, badgeProof: badge.proof };
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
