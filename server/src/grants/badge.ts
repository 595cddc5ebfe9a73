// Badge grant: the badge credential with the code de session (2 factors), or the badge alone inside the
// roaming window (re-open, 1 factor; auth_time stays the 2-factor login).
import { ACR, GRANT } from '@sillage/protocol';
import { toSession } from '../sessions';
import type { GrantKit } from './kit';
import { refuse } from './kit';

export function registerBadgeGrant(kit: GrantKit): void {
  const { provider, deps, auditFor, issue } = kit;
  const { directory, sessions } = kit.deps;
  provider.registerGrantType(
    GRANT.badge,
    async (ctx) => {
      const p = ctx.oidc.params as Record<string, string | undefined>;
      const badgeId = p.badge_id;
      const proof = p.badge_proof;
      if (!badgeId || !proof) return refuse(ctx, 400, 'invalid_request', 'badge_id and badge_proof are required');
      if (!['desfire-aes-diversified', 'reader-verified', 'uid-only'].includes(proof))
        return refuse(ctx, 400, 'invalid_request', `unknown badge_proof ${proof}`);
      if (proof === 'uid-only' && !deps.allowUidOnlyBadges) {
        await auditFor(ctx, {
          action: 'badge.tap',
          outcome: 'refused',
          factor: 'badge',
          reason: 'uid_only',
          details: { badgeId },
        });
        return refuse(
          ctx,
          400,
          'invalid_grant',
          'badge identified by its UID only: not accepted (copyable); use an enrolled DESFire badge',
          { sillage_error: 'uid_only' },
        );
      }
      const owner = await directory.badgeOwner(badgeId);
      if ('refused' in owner) {
        await auditFor(ctx, {
          action: 'badge.tap',
          outcome: 'refused',
          factor: 'badge',
          reason: `badge_${owner.refused}`,
          details: { badgeId },
        });
        const msg = {
          unknown: 'badge not enrolled: enrol it after a CPS login or ask the helpdesk',
          revoked: 'badge revoked (declared lost): ask the helpdesk for a new one',
          disabled: 'account disabled',
        }[owner.refused];
        return refuse(ctx, 400, 'invalid_grant', msg, { sillage_error: `badge_${owner.refused}` });
      }
      const { account } = owner;
      const factor = proof === 'uid-only' ? 'badge-uid' : 'badge';
      if (p.secret === undefined) {
        const session = owner.activeSession ? toSession(owner.activeSession) : null;
        if (!session) {
          const expired = await sessions.lastExpired(account.id);
          await auditFor(ctx, {
            action: 'reopen.badge',
            outcome: 'refused',
            accountId: account.id,
            factor,
            reason: expired ? 'mfa_window_over' : 'mfa_required',
          });
          return refuse(
            ctx,
            400,
            'invalid_grant',
            expired
              ? 'roaming session over: type your code to start a new one'
              : 'first login of the shift: type your code',
            {
              sillage_error: 'mfa_required',
              second_factor: 'pin',
              // The PIN pad shows whose badge it is (the workstation is an authenticated client).
              display_name: `${account.firstName} ${account.lastName}`,
              given_name: account.firstName,
              family_name: account.lastName,
              idnat: account.idNat,
              profession: account.profession,
            },
          );
        }
        const audited = auditFor(ctx, {
          action: 'reopen.badge',
          outcome: 'ok',
          accountId: account.id,
          factor,
          details: { session: session.id },
        });
        return issue(ctx, account, session, { amr: ['hwk'], acr: ACR.reopen, gty: GRANT.badge }, audited);
      }
      const check = await directory.checkSecret(account.id, p.secret);
      if (!check.ok) {
        await auditFor(ctx, {
          action: 'login.badge',
          outcome: 'refused',
          accountId: account.id,
          factor: `${factor}+pin`,
          reason: check.reason,
        });
        if (check.reason === 'locked')
          return refuse(ctx, 400, 'invalid_grant', `too many wrong codes: locked until ${check.until.toISOString()}`, {
            sillage_error: 'secret_locked',
            locked_until: check.until.toISOString(),
          });
        if (check.reason === 'no-secret')
          return refuse(ctx, 400, 'invalid_grant', 'no session code set for this account: ask the helpdesk', {
            sillage_error: 'no_secret',
          });
        return refuse(ctx, 400, 'invalid_grant', 'wrong code', {
          sillage_error: 'secret_wrong',
          tries_left: check.remaining,
        });
      }
      const amr = ['hwk', 'pin', 'mfa'];
      const session = await sessions.create(account.id, amr, ACR.mfa, ctx.oidc.client!.clientId);
      const audited = auditFor(ctx, {
        action: 'login.badge',
        outcome: 'ok',
        accountId: account.id,
        factor: `${factor}+pin`,
        details: { session: session.id },
      });
      return issue(ctx, account, session, { amr, acr: ACR.mfa, gty: GRANT.badge }, audited);
    },
    ['badge_id', 'badge_proof', 'secret', 'scope'],
  );
}
