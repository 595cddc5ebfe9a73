// Badge grant. A tap carries the badge's proof: in relay mode its answer to this server's challenge, which
// the server checks itself and which identifies the badge (the UID its diversified key was derived for);
// weaker proofs (a workstation's or a reader's word, a UID) only where policy names them, labelled so in
// acr/amr. Inside a roaming window the tap re-opens it (1 factor; auth_time stays the 2-factor login).
// Outside, the answer is a single-use login ticket bound to this workstation, badge and account, with the
// name the PIN pad shows; the code step sends ticket + code (2 factors). Codes are only ever checked
// against a proven badge, so the account lockout counts attempts on a badge someone holds; a
// per-workstation limit bounds what one PC can try, whoever's badges.
import {
  AUDIT_HEAD_PARAM,
  BADGE_GRANT_PARAMS,
  GRANT,
  parseBadgeCode,
  parseBadgeProof,
  parseMaxAge,
} from '@sillage/protocol';
import { assertionRecorded } from '../assertions';
import { code } from './badge-code';
import { BadgeSteps } from './badge-steps';
import { tap } from './badge-tap';
import type { GrantKit } from './kit';

/** How long the PIN pad may wait for the code after a tap (`--login-ticket-seconds`): 2 minutes by default. */
export const DEFAULT_LOGIN_TICKET_SECONDS = 120;

/** A login ticket lifetime, checked: long enough to type a code in gloves, short enough to be a tap's. */
export function loginTicketSeconds(n: number): number {
  if (!(Number.isInteger(n) && n >= 30 && n <= 600))
    throw new Error(`--login-ticket-seconds must be a whole number of seconds from 30 to 600 (got ${n})`);
  return n;
}

/** The grant's two steps (badge-tap.ts, badge-code.ts), told apart by their parameters. */
export function registerBadgeGrant(kit: GrantKit): void {
  const steps = new BadgeSteps(kit);
  // A tap's relay challenge is spent in the statement that records its client assertion.
  kit.deps.assertions.claimAlongside(GRANT.badge, (ctx) => {
    const proof = parseBadgeProof(ctx.oidc.params as Record<string, unknown>);
    return proof.ok && proof.value.kind === 'desfire'
      ? kit.deps.relay.challengeRecord(ctx.oidc.client!.clientId, proof.value.challenge)
      : null;
  });
  kit.provider.registerGrantType(
    GRANT.badge,
    async (ctx) => {
      const p = ctx.oidc.params as Record<string, unknown>;
      const step = parseBadgeCode(p);
      if (step) {
        // The code step claims its ticket and checks the code only for a first use of its assertion.
        await assertionRecorded(ctx);
        return step.ok
          ? code(steps, ctx, step.value.ticket, step.value.secret)
          : steps.refused(ctx, 'login.badge', 'invalid_request', step.error);
      }
      const proof = parseBadgeProof(p);
      if (!proof.ok) return steps.refused(ctx, 'badge.tap', 'invalid_request', proof.error);
      const maxAge = parseMaxAge(p);
      if (!maxAge.ok) return steps.refused(ctx, 'badge.tap', 'invalid_request', maxAge.error);
      return tap(steps, ctx, proof.value, maxAge.value);
    },
    [...BADGE_GRANT_PARAMS, AUDIT_HEAD_PARAM],
  );
}
