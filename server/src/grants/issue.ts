// Token issuing for the login and re-open grants: a grant, an access token for the Sillage API, a refresh
// token that dies with the roaming window, and an ID token, all saying (acr/amr/auth_time) what this
// request proved.
import type Provider from 'oidc-provider';
import { assertionRecorded } from '../assertions';
import type { ProviderDeps } from '../provider';
import type { GrantKit } from './kit';

/** The workstation's tokens for one login or re-open, linked to its roaming session. */
export function tokenIssuer(
  provider: Provider,
  deps: ProviderDeps,
  { api, accountClaims, resourceServer }: Pick<GrantKit, 'api' | 'accountClaims' | 'resourceServer'>,
): GrantKit['issue'] {
  const { now } = deps;
  return async (ctx, account, session, opts, audited) => {
    // Awaited below; the handler only keeps a failure from going unhandled if building the tokens throws first.
    audited.catch(() => undefined);
    // Nothing is written for a request whose client assertion was not its first use.
    await assertionRecorded(ctx);
    const client = ctx.oidc.client!;
    const remaining = Math.max(1, Math.floor((session.expiresAt.getTime() - now().getTime()) / 1000));
    const grant = new provider.Grant({ accountId: account.id, clientId: client.clientId });
    grant.addOIDCScope('openid profile offline_access');
    grant.addOIDCClaims(['acr', 'amr', 'auth_time', 'sid']);
    grant.addResourceScope(api, 'openid profile');
    // The grant id is fixed up front so the grant and its tokens are saved together (one batch).
    const g = grant as unknown as { jti: string; generateTokenId(): string };
    g.jti = g.generateTokenId();
    const grantId = g.jti;
    const authTime = Math.floor(session.authTime.getTime() / 1000);
    const common = { accountId: account.id, client, grantId, gty: opts.gty, sid: session.id, sessionUid: session.id };
    const at = new provider.AccessToken({
      ...common,
      scope: 'openid profile',
      expiresIn: Math.min(deps.accessTokenTtlS, remaining),
      // For the Sillage API only: what /sillage/* accepts, and what a DPI token never is.
      resourceServer: resourceServer(api),
      // What this request proved, not the session's first login: a token exchanged from it says the same.
      extra: { sid: session.id, acr: opts.acr, amr: opts.amr, auth_time: authTime },
    });
    // The refresh token dies with the roaming window: refresh never extends the 4 hours.
    const rt = new provider.RefreshToken({
      ...common,
      scope: 'openid profile offline_access',
      acr: opts.acr,
      amr: opts.amr,
      authTime,
      expiresIn: remaining,
      resource: api,
      rotations: 0,
      // Asked for explicitly so the ID tokens of refreshes carry them too.
      claims: { id_token: { acr: null, amr: null, auth_time: null, sid: null } },
    });
    const id = new provider.IdToken({ ...accountClaims(account) }, { ctx });
    (id as unknown as { scope: string }).scope = 'openid profile';
    // The honest part: auth_time is the 2-factor login, acr/amr what this request proved.
    id.set('acr', opts.acr);
    id.set('amr', opts.amr);
    id.set('auth_time', authTime);
    id.set('sid', session.id);
    id.set('sillage_mfa_exp', Math.floor(session.expiresAt.getTime() / 1000));
    // The decision's audit record and the tokens are written together (one round trip each, in
    // parallel), the ID token signed meanwhile; tokens leave only once both are committed, so nothing is
    // issued unaudited. Typings lag the implementation: Grant#save takes the TTL in seconds.
    const [, , accessToken, refreshToken, idToken] = await Promise.all([
      audited,
      (grant.save as (ttl?: number) => Promise<string>)(remaining),
      at.save(),
      rt.save(),
      id.issue({ use: 'idtoken' }),
    ]);
    ctx.body = {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: at.expiration,
      refresh_token: refreshToken,
      id_token: idToken,
      scope: 'openid profile offline_access',
      mfa_expires_at: Math.floor(session.expiresAt.getTime() / 1000),
    };
  };
}
