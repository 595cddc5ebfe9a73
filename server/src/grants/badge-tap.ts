// The tap step of the badge grant: inside a roaming window the tap re-opens it (1 factor; auth_time stays
// the 2-factor login); outside, the answer is a login ticket for the code step, with the name the PIN pad
// shows.
import { ACR, BADGE_AMR, GRANT } from '@sillage/protocol';
import type { BadgeMfaRequired, BadgeProof } from '@sillage/protocol';
import { toSession } from '../sessions';
import { badgeDetails } from './badge-steps';
import type { BadgeSteps } from './badge-steps';
import type { Ctx } from './kit';
import { refuse } from './kit';

export async function tap(steps: BadgeSteps, ctx: Ctx, proof: BadgeProof, maxAgeS: number | null): Promise<void> {
  const { auditFor, issue } = steps.kit;
  const { sessions, now } = steps.kit.deps;
  const ws = ctx.oidc.client!.clientId;
  const badge = await steps.provenBadge(ctx, proof);
  if (!badge) return;
  const { account } = badge.owner;
  const factor = BADGE_AMR[proof.kind];
  const details = badgeDetails(proof.kind, badge.key, badge.extra);
  const live = badge.owner.activeSession ? toSession(badge.owner.activeSession) : null;
  // A workstation with a shorter window of its own (max_age) does not re-open an older login.
  const session =
    live && (maxAgeS === null || now().getTime() - live.authTime.getTime() < maxAgeS * 1000) ? live : null;
  if (!session) {
    const expired = live ?? (await sessions.lastExpired(account.id));
    await auditFor(ctx, {
      action: 'reopen.badge',
      outcome: 'refused',
      accountId: account.id,
      factor,
      reason: expired ? 'mfa_window_over' : 'mfa_required',
      details,
    });
    const body: BadgeMfaRequired = {
      sillage_error: 'mfa_required',
      second_factor: 'pin',
      login_ticket: steps.newTicket(ws, account, badge.key, proof.kind),
      // The PIN pad shows whose badge it is: told only to a workstation that proved the badge.
      display_name: `${account.firstName} ${account.lastName}`,
      given_name: account.firstName,
      family_name: account.lastName,
      idnat: account.idNat,
      profession: account.profession,
    };
    return refuse(
      ctx,
      400,
      'invalid_grant',
      expired ? 'roaming session over: type your code to start a new one' : 'first login of the shift: type your code',
      { ...body },
    );
  }
  const audited = auditFor(ctx, {
    action: 'reopen.badge',
    outcome: 'ok',
    accountId: account.id,
    factor,
    details: { ...details, session: session.id },
  });
  // Honest: a re-open by a proof the server checked, in a window a 2-factor login opened; else asserted.
  const acr = proof.kind === 'desfire' && session.acr === ACR.mfa ? ACR.reopen : ACR.asserted;
  return issue(ctx, account, session, { amr: [factor], acr, gty: GRANT.badge }, audited);
}
