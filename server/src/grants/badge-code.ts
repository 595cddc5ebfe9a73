// The code step of the badge grant: the login ticket of a tap on this workstation, used once and in time,
// then the account's code, checked against the badge it was issued for (2 factors). The workstation's own
// limit on wrong codes bounds what one PC can try, whoever's badges.
import { ACR, BADGE_AMR, BADGE_ERROR, GRANT } from '@sillage/protocol';
import type { Account } from '../directory';
import { badgeDetails } from './badge-steps';
import type { BadgeSteps, LoginTicket } from './badge-steps';
import type { Ctx } from './kit';
import { refuse } from './kit';

type About = { accountId: string; factor: string; details: Record<string, unknown> };

/** The ticket's account, still bound to its badge, or null after refusing the request. */
async function ticketAccount(steps: BadgeSteps, ctx: Ctx, t: LoginTicket, about: About): Promise<Account | null> {
  const { directory, once, now, weakBadgeProofs } = steps.kit.deps;
  const ws = ctx.oidc.client!.clientId;
  const refused = (code: Parameters<BadgeSteps['refused']>[2], description: string, extra = {}) =>
    steps.refused(ctx, 'login.badge', code, description, about, extra).then(() => null);
  if (t.ws !== ws) return refused(BADGE_ERROR.otherWorkstation, 'login ticket issued to another workstation');
  if (t.exp < now().getTime()) return refused(BADGE_ERROR.expired, 'too slow: tap the badge again');
  // Another instance may have issued it under another policy (a configuration being rolled out).
  if (t.kind !== 'desfire' && !weakBadgeProofs.includes(t.kind))
    return refused(BADGE_ERROR.weakProof, `badge proof "${t.kind}" not accepted here`);
  if (!(await once.claim('LoginTicket', t.id, new Date(t.exp + 60_000))))
    return refused(BADGE_ERROR.replayed, 'login ticket already used: tap the badge again');
  const limited = await directory.codeRateLimited(ws);
  if (limited)
    return refused(
      BADGE_ERROR.rateLimited,
      `too many wrong codes on this workstation: try again after ${limited.toISOString()}`,
      { locked_until: limited.toISOString() },
    );
  // The binding may have changed since the tap (badge revoked, given to someone else).
  const o = await steps.owner(ctx, 'login.badge', t.kind, t.key);
  if (!o) return null;
  if (o.account.id !== t.account) return refused('badge_unknown', 'badge bound to another account since the tap');
  return o.account;
}

export async function code(steps: BadgeSteps, ctx: Ctx, ticketText: string, secret: string): Promise<void> {
  const { auditFor, issue } = steps.kit;
  const { directory, sessions } = steps.kit.deps;
  const ws = ctx.oidc.client!.clientId;
  const t = steps.tickets.open(ticketText);
  if (!t || typeof t.id !== 'string' || typeof t.exp !== 'number' || !t.key)
    return steps.refused(ctx, 'login.badge', BADGE_ERROR.notGenuine, 'login ticket not issued by this server');
  const factor = `${BADGE_AMR[t.kind]}+pin`;
  const about = { accountId: t.account, factor, details: badgeDetails(t.kind, t.key) };
  const account = await ticketAccount(steps, ctx, t, about);
  if (!account) return;
  const check = await directory.checkSecret(account.id, secret);
  if (!check.ok) {
    if (check.reason === 'wrong') await directory.countCodeFailure(ws);
    await auditFor(ctx, { action: 'login.badge', outcome: 'refused', ...about, reason: check.reason });
    if (check.reason === 'locked')
      return refuse(ctx, 400, 'invalid_grant', `too many wrong codes: locked until ${check.until.toISOString()}`, {
        sillage_error: BADGE_ERROR.secretLocked,
        locked_until: check.until.toISOString(),
      });
    if (check.reason === 'no-secret')
      return refuse(ctx, 400, 'invalid_grant', 'no session code set for this account: ask the helpdesk', {
        sillage_error: BADGE_ERROR.noSecret,
      });
    return refuse(ctx, 400, 'invalid_grant', 'wrong code', {
      sillage_error: BADGE_ERROR.secretWrong,
      tries_left: check.remaining,
      // Another try on the same tap, once.
      login_ticket: steps.newTicket(ws, account, t.key, t.kind),
    });
  }
  const strong = t.kind === 'desfire';
  const amr = strong ? [BADGE_AMR.desfire, 'pin', 'mfa'] : [BADGE_AMR[t.kind], 'pin'];
  const acr = strong ? ACR.mfa : ACR.asserted;
  const session = await sessions.create(account.id, amr, acr, ws);
  const audited = auditFor(ctx, {
    action: 'login.badge',
    outcome: 'ok',
    ...about,
    details: { ...about.details, session: session.id },
  });
  return issue(ctx, account, session, { amr, acr, gty: GRANT.badge }, audited);
}
