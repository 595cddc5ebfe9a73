// Token exchange (RFC 8693): a workstation's access token for the Sillage API becomes an audience-bound
// token for one relying party (the DPI), carrying who the user is and what the workstation's login or
// re-open proved (acr, amr, auth_time): a token exchanged after a 1-factor re-open says so.
import { ACR, GRANT } from '@sillage/protocol';
import { forSillageApi } from '../provider';
import type { Ctx, GrantKit } from './kit';
import { refuse } from './kit';

const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/**
 * The workstation's own access token for the Sillage API, its live roaming session and the audience
 * asked for, or null after refusing the request.
 */
async function exchangeable(kit: GrantKit, ctx: Ctx) {
  const { provider, audiences, api, auditFor } = kit;
  const { sessions } = kit.deps;
  const p = ctx.oidc.params as Record<string, string | undefined>;
  const client = ctx.oidc.client!;
  if (p.subject_token_type !== ACCESS_TOKEN_TYPE) {
    refuse(ctx, 400, 'invalid_request', 'subject_token_type must be an access token');
    return null;
  }
  if (p.requested_token_type && p.requested_token_type !== ACCESS_TOKEN_TYPE) {
    refuse(ctx, 400, 'invalid_request', 'only access tokens can be requested');
    return null;
  }
  const audience = p.audience ?? p.resource;
  if (!audience || !audiences.has(audience)) {
    await auditFor(ctx, {
      action: 'token.exchange',
      outcome: 'refused',
      reason: 'invalid_target',
      details: { audience: audience ?? null },
    });
    refuse(ctx, 400, 'invalid_target', `audience ${audience ?? '(none)'} is not a registered relying party`);
    return null;
  }
  const subject = p.subject_token ? await provider.AccessToken.find(p.subject_token) : undefined;
  // Only the workstation's own token is exchanged: a DPI token is not exchanged again.
  if (!subject || subject.clientId !== client.clientId || subject.isExpired || !forSillageApi(subject, api)) {
    await auditFor(ctx, {
      action: 'token.exchange',
      outcome: 'refused',
      reason: 'invalid_subject_token',
      details: { audience },
    });
    refuse(
      ctx,
      400,
      'invalid_grant',
      'subject token unknown, expired, revoked, not issued to this workstation or not for the Sillage API',
    );
    return null;
  }
  const session = subject.sid ? await sessions.get(subject.sid) : null;
  if (!session || !sessions.isLive(session)) {
    await auditFor(ctx, {
      action: 'token.exchange',
      outcome: 'refused',
      accountId: subject.accountId,
      reason: 'mfa_window_over',
      details: { audience },
    });
    refuse(ctx, 400, 'invalid_grant', 'roaming session over', { sillage_error: 'mfa_required' });
    return null;
  }
  return { subject, session, audience };
}

export function registerTokenExchangeGrant(kit: GrantKit): void {
  const { provider, deps, resourceServer, auditFor } = kit;
  const { directory, now } = kit.deps;
  provider.registerGrantType(
    GRANT.tokenExchange,
    async (ctx) => {
      const ok = await exchangeable(kit, ctx);
      if (!ok) return;
      const { subject, session, audience } = ok;
      const sid = subject.sid;
      const remaining = Math.max(1, Math.floor((session.expiresAt.getTime() - now().getTime()) / 1000));
      // What the workstation's login or re-open proved. A token issued before that record existed says
      // nothing of it: no second factor is claimed for it.
      const proved = (subject.extra ?? {}) as { acr?: string; amr?: string[]; auth_time?: number };
      const at = new provider.AccessToken({
        accountId: subject.accountId,
        client: ctx.oidc.client!,
        grantId: subject.grantId,
        gty: GRANT.tokenExchange,
        sid,
        scope: 'openid profile',
        expiresIn: Math.min(deps.accessTokenTtlS, remaining),
        resourceServer: resourceServer(audience),
        // The DPI learns who the token is for by introspection: the professional's idNat (RPPS) travels
        // with the token, so the DPI can act in their name (DMP "AIR simplifié" mode needs the RPPS).
        extra: {
          sid,
          acr: proved.acr ?? ACR.reopen,
          amr: proved.amr ?? [],
          auth_time: proved.auth_time ?? Math.floor(session.authTime.getTime() / 1000),
          idnat: (await directory.account(subject.accountId))?.idNat,
        },
      });
      const token = await at.save();
      await auditFor(ctx, {
        action: 'token.exchange',
        outcome: 'ok',
        accountId: subject.accountId,
        details: { audience, session: sid },
      });
      ctx.body = {
        access_token: token,
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: 'Bearer',
        expires_in: at.expiration,
      };
    },
    ['subject_token', 'subject_token_type', 'audience', 'resource', 'requested_token_type', 'scope'],
    ['audience', 'resource'],
  );
}
