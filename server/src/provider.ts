// The OpenID provider: oidc-provider (OpenID-certified) with PostgreSQL storage, workstations as
// private_key_jwt clients, and the grants of a shared ward PC, one file each in grants/:
//   - CPS card: JWT-bearer assertion (RFC 7523) signed by the card, x5c chain, server nonce.
//   - Badge: badge credential + PIN / code de session (2 factors), or badge alone within the roaming
//     window (re-open, 1 factor; auth_time stays the 2-factor login).
//   - Token exchange (RFC 8693) to audience-bound tokens for the DPI and other relying parties.
//   - Refresh and revocation as oidc-provider implements them.
import Provider, { errors } from 'oidc-provider';
import type { Configuration } from 'oidc-provider';
import type { JWK } from 'jose';
import { adapterFactory } from './adapter';
import { registerBadgeGrant } from './grants/badge';
import { registerCpsCardGrant } from './grants/cps-card';
import { tokenIssuer } from './grants/issue';
import type { Ctx, GrantKit } from './grants/kit';
import { registerTokenExchangeGrant } from './grants/token-exchange';
import type { Audit, AuditEntry } from './audit';
import type { NonceIssuer, TrustStore } from './cps';
import type { Db } from './db';
import type { Account, Directory } from './directory';
import type { Log } from './log';
import type { Sessions } from './sessions';

export interface RelyingParty {
  clientId: string;
  clientSecret: string;
  /** Audiences (resource identifiers) this relying party accepts tokens for. */
  audiences: string[];
}

export interface ProviderDeps {
  issuer: string;
  db: Db;
  directory: Directory;
  sessions: Sessions;
  audit: Audit;
  trust: TrustStore;
  log: Log;
  now: () => Date;
  relyingParties: RelyingParty[];
  allowUidOnlyBadges: boolean;
  accessTokenTtlS: number;
}

/** The provider's keys of the moment (secrets.ts: the signing keys change with each rotation). */
export interface ProviderKeys {
  /** Private JWKs, the signing key of each algorithm first. */
  jwks: JWK[];
  cookieKeys: string[];
  nonces: NonceIssuer;
}

export function createProvider(deps: ProviderDeps, keys: ProviderKeys) {
  const { db, directory, sessions, audit, log } = deps;
  const { nonces } = keys;
  const audiences = new Map<string, RelyingParty>();
  for (const rp of deps.relyingParties) for (const a of rp.audiences) audiences.set(a, rp);

  const accountClaims = (a: Account) => ({
    sub: a.id,
    family_name: a.lastName,
    given_name: a.firstName,
    name: `${a.firstName} ${a.lastName}`,
    preferred_username: a.adLogin ?? a.idNat ?? a.id,
    idnat: a.idNat,
    profession: a.profession,
  });

  const configuration: Configuration = {
    adapter: adapterFactory(db),
    jwks: { keys: keys.jwks } as Configuration['jwks'],
    cookies: { keys: keys.cookieKeys },
    clients: deps.relyingParties.map((rp) => ({
      client_id: rp.clientId,
      client_secret: rp.clientSecret,
      grant_types: [],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    clientDefaults: { id_token_signed_response_alg: 'ES256', grant_types: [], response_types: [] },
    claims: {
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
      openid: ['sub'],
      profile: ['family_name', 'given_name', 'name', 'preferred_username', 'idnat', 'profession'],
    },
    scopes: ['openid', 'profile', 'offline_access'],
    // Opaque tokens keep only what this hook returns: carry the claims our grants set (acr, auth_time,
    // idnat) so introspection tells a relying party how and when the user authenticated.
    extraTokenClaims: async (_ctx, token) => (token as unknown as { extra?: Record<string, unknown> }).extra,
    features: {
      devInteractions: { enabled: false },
      introspection: {
        enabled: true,
        // A relying party may introspect the tokens minted for its audiences; a workstation its own.
        allowedPolicy: async (_ctx, client, token) => {
          if (token.clientId === client.clientId) return true;
          const rp = deps.relyingParties.find((r) => r.clientId === client.clientId);
          const aud = (token as unknown as { aud?: string | string[] }).aud;
          const auds = Array.isArray(aud) ? aud : aud ? [aud] : [];
          return !!rp && auds.some((a) => rp.audiences.includes(a));
        },
      },
      // Only the workstation a token was issued to may revoke it (a relying party must not end a user's session).
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined as unknown as string,
        useGrantedResource: () => false,
        getResourceServerInfo: (_ctx, resource) => {
          if (!audiences.has(resource))
            throw new errors.InvalidTarget(`audience ${resource} is not a registered relying party`);
          return {
            scope: 'openid profile',
            audience: resource,
            accessTokenFormat: 'opaque',
            accessTokenTTL: deps.accessTokenTtlS,
          };
        },
      },
    },
    clientAuthMethods: ['private_key_jwt', 'client_secret_basic'],
    enabledJWA: {
      clientAuthSigningAlgValues: ['ES256', 'RS256', 'PS256'],
      idTokenSigningAlgValues: ['ES256', 'RS256'],
    },
    ttl: {
      AccessToken: deps.accessTokenTtlS,
      IdToken: deps.accessTokenTtlS,
      Grant: Math.ceil(sessions.windowMs / 1000),
      RefreshToken: Math.ceil(sessions.windowMs / 1000),
    },
    rotateRefreshToken: false,
    issueRefreshToken: async () => true,
    findAccount: async (_ctx, sub) => {
      const a = await directory.account(sub);
      if (!a || a.disabled) return undefined;
      return { accountId: a.id, claims: () => accountClaims(a) };
    },
    renderError: (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  };

  const provider = new Provider(deps.issuer, configuration);
  provider.proxy = true;

  const auditFor = (ctx: Ctx, e: Omit<AuditEntry, 'workstation'>) => {
    (ctx.state as { audited?: boolean }).audited = true;
    return audit.append({ ...e, workstation: ctx.oidc.client?.clientId ?? null });
  };

  const issue = tokenIssuer(provider, deps, accountClaims);
  const kit: GrantKit = { provider, deps, nonces, audiences, accountClaims, auditFor, issue };
  registerCpsCardGrant(kit);
  registerBadgeGrant(kit);
  registerTokenExchangeGrant(kit);

  provider.on('server_error', (ctx: Ctx, err: Error) => {
    // The session server's middleware turns a database outage into a 503 the agents understand.
    (ctx.state as { serverError?: unknown }).serverError = err;
    log.error('server error', { err: err.message });
  });

  return { provider, nonces, accountClaims };
}
