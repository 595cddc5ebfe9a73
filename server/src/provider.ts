// The OpenID provider: oidc-provider (OpenID-certified) with PostgreSQL storage, workstations as
// private_key_jwt clients, and the grants of a shared ward PC, one file each in grants/:
//   - CPS card: JWT-bearer assertion (RFC 7523) signed by the card, x5c chain, server nonce.
//   - Badge: badge credential + PIN / code de session (2 factors), or badge alone within the roaming
//     window (re-open, 1 factor; auth_time stays the 2-factor login).
//   - Token exchange (RFC 8693) to audience-bound tokens for the DPI and other relying parties.
//   - Refresh and revocation as oidc-provider implements them.
import { ACR, AUDIT_HEAD_PARAM, CLOCK_SKEW_METADATA, GRANT, parseAuditHead } from '@sillage/protocol';
import Provider, { errors } from 'oidc-provider';
import type { Configuration } from 'oidc-provider';
import type { JWK } from 'jose';
import { adapterFactory } from './adapter';
import { assertionRecorded, WORKSTATION_ALGS } from './assertions';
import type { WorkstationAssertions } from './assertions';
import { registerBadgeGrant } from './grants/badge';
import { registerCpsCardGrant } from './grants/cps-card';
import { tokenIssuer } from './grants/issue';
import type { Ctx, GrantKit } from './grants/kit';
import { registerTokenExchangeGrant } from './grants/token-exchange';
import type { WeakBadgeProofKind } from '@sillage/protocol';
import type { Audit, AuditEntry } from './audit';
import type { NonceIssuer, TrustStore } from './cps';
import type { Db } from './db';
import type { DesfireRelay } from './desfire-relay';
import type { Account, Directory } from './directory';
import type { Log } from './log';
import type { Sessions } from './sessions';
import type { SingleUse } from './single-use';

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
  /** Badge proofs the server cannot check itself that it accepts anyway (none by default). */
  weakBadgeProofs: readonly WeakBadgeProofKind[];
  /** Checks a badge's answer to this server's challenge (DESFire relay). */
  relay: DesfireRelay;
  /** Single use of challenges and tickets across instances. */
  once: SingleUse;
  /** The server-wide secret (shared by every instance) that seals what the server hands out. */
  serverSecret: Buffer;
  accessTokenTtlS: number;
  /** How long a badge tap's login ticket waits for the code (seconds). */
  loginTicketSeconds: number;
  /** Workstations' client assertions: lifetime, clock skew, single use. */
  assertions: WorkstationAssertions;
}

/**
 * The audience (RFC 8707 resource) of a workstation's own access tokens: the session server's API
 * (/sillage/*). Every other token (a DPI's, from token exchange) has its relying party's audience.
 */
export const sillageApi = (issuer: string) => `${issuer}/sillage`;

const LOGIN_GRANTS: ReadonlySet<string> = new Set([GRANT.jwtBearer, GRANT.badge]);

/**
 * Whether an access token is a workstation's own, for the Sillage API: its audience says so. Tokens
 * issued before this audience existed (by an instance not yet upgraded, or before the upgrade) have none;
 * a workstation's login or re-open made them (possibly refreshed), never token exchange, whose tokens
 * always carry their relying party's audience.
 */
export function forSillageApi(at: { aud?: unknown; gty?: string }, api: string): boolean {
  if (at.aud !== undefined) return at.aud === api;
  return LOGIN_GRANTS.has(at.gty?.split(' ')[0] ?? '');
}

/** The provider's keys of the moment (secrets.ts: the signing keys change with each rotation). */
export interface ProviderKeys {
  /** Private JWKs, the signing key of each algorithm first. */
  jwks: JWK[];
  cookieKeys: string[];
  nonces: NonceIssuer;
}

const resourceServerInfo = (audience: string, accessTokenTtlS: number) => ({
  scope: 'openid profile',
  audience,
  accessTokenFormat: 'opaque' as const,
  accessTokenTTL: accessTokenTtlS,
});

const accountClaims = (a: Account) => ({
  sub: a.id,
  family_name: a.lastName,
  given_name: a.firstName,
  name: `${a.firstName} ${a.lastName}`,
  preferred_username: a.adLogin ?? a.idNat ?? a.id,
  idnat: a.idNat,
  profession: a.profession,
});

/** oidc-provider's features: introspection and revocation for their owners, audiences, no browser flow. */
function features(
  deps: ProviderDeps,
  api: string,
  audiences: ReadonlyMap<string, RelyingParty>,
): Configuration['features'] {
  return {
    devInteractions: { enabled: false },
    introspection: {
      enabled: true,
      // A relying party may introspect the tokens minted for its audiences; a workstation its own. A
      // revoked workstation's tokens are inactive, whoever asks.
      allowedPolicy: async (_ctx, client, token) => {
        // Read fresh: oidc-provider's client lookup answers from memory (adapter.ts).
        if (!token.clientId || !(await deps.directory.workstation(token.clientId))?.active) return false;
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
      // A refresh keeps the token's audience: a workstation's refreshed token is for the Sillage API.
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        // The Sillage API is for workstations only (a relying party has no grant to ask with).
        if (resource !== api && !audiences.has(resource))
          throw new errors.InvalidTarget(`audience ${resource} is not a registered relying party`);
        return resourceServerInfo(resource, deps.accessTokenTtlS);
      },
    },
    // Sessions live on the workstations and in roaming_sessions, never in a browser: no authorization
    // or logout pages, no userinfo (a workstation's token is for the Sillage API, a DPI's for the DPI),
    // no pushed requests, no DPoP (the Sillage API takes bearer tokens only).
    rpInitiatedLogout: { enabled: false },
    userinfo: { enabled: false },
    pushedAuthorizationRequests: { enabled: false },
    dPoP: { enabled: false },
  };
}

/** The provider's configuration: storage, keys, clients, claims, features, lifetimes, accounts. */
function configuration(
  deps: ProviderDeps,
  keys: ProviderKeys,
  api: string,
  audiences: ReadonlyMap<string, RelyingParty>,
): Configuration {
  return {
    adapter: adapterFactory(deps.db, deps.assertions),
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
    // Opaque tokens keep only what this hook returns: carry what our grants say about the user (acr,
    // amr, auth_time, idnat) so introspection tells how and when they authenticated. An access token
    // minted by a refresh says what the refresh token's login or re-open proved (a refresh proves nothing).
    extraTokenClaims: async (ctx, token) => {
      const own = (token as unknown as { extra?: Record<string, unknown> }).extra;
      if (own) return own;
      const rt = ctx?.oidc?.entities.RefreshToken;
      return rt && token.kind === 'AccessToken'
        ? { sid: rt.sid, acr: rt.acr, amr: rt.amr, auth_time: rt.authTime }
        : undefined;
    },
    features: features(deps, api, audiences),
    clientAuthMethods: ['private_key_jwt', 'client_secret_basic'],
    // Ward PCs drift: a workstation's assertions are accepted this far from the server's clock (oidc-provider
    // checks exp and nbf with it, WorkstationAssertions iat and the lifetime, and records single use).
    clockTolerance: deps.assertions.skewS,
    assertJwtClientAuthClaimsAndHeader: (ctx, claims) => deps.assertions.clientAuthHook(claims, ctx),
    // Declared, so ID tokens keep acr after a refresh too, and discovery lists them.
    acrValues: [ACR.mfa, ACR.reopen],
    // Only the grants a workstation uses (listed in discovery); no response type: no browser flow.
    responseTypes: [],
    discovery: { claim_types_supported: ['normal'], [CLOCK_SKEW_METADATA]: deps.assertions.skewS },
    enabledJWA: {
      clientAuthSigningAlgValues: WORKSTATION_ALGS,
      idTokenSigningAlgValues: ['ES256', 'RS256'],
    },
    ttl: {
      AccessToken: deps.accessTokenTtlS,
      IdToken: deps.accessTokenTtlS,
      Grant: Math.ceil(deps.sessions.windowMs / 1000),
      RefreshToken: Math.ceil(deps.sessions.windowMs / 1000),
    },
    rotateRefreshToken: false,
    issueRefreshToken: async () => true,
    findAccount: async (_ctx, sub) => {
      const a = await deps.directory.account(sub);
      if (!a || a.disabled) return undefined;
      return { accountId: a.id, claims: () => accountClaims(a) };
    },
    renderError: (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  };
}

export function createProvider(deps: ProviderDeps, keys: ProviderKeys) {
  const { audit, log } = deps;
  const { nonces } = keys;
  const audiences = new Map<string, RelyingParty>();
  for (const rp of deps.relyingParties) for (const a of rp.audiences) audiences.set(a, rp);
  const api = sillageApi(deps.issuer);
  if (audiences.has(api)) throw new Error(`relying party audience ${api} is the session server's own API`);
  const provider: Provider = new Provider(deps.issuer, configuration(deps, keys, api, audiences));
  provider.proxy = true;

  // A grant's record also keeps where the workstation's own audit chain stood (`audit verify-agent`).
  // A decision is recorded only for a request whose client assertion was its first use (a replay is
  // refused as such, and audited by the token route).
  const auditFor = async (ctx: Ctx, e: Omit<AuditEntry, 'workstation'>) => {
    await assertionRecorded(ctx);
    (ctx.state as { audited?: boolean }).audited = true;
    const sent = (ctx.oidc.params as Record<string, unknown> | undefined)?.[AUDIT_HEAD_PARAM];
    const head = sent === undefined ? undefined : (parseAuditHead(sent) ?? 'malformed');
    await audit.append({
      ...e,
      workstation: ctx.oidc.client?.clientId ?? null,
      ...(head ? { details: { ...e.details, agent_audit: head } } : {}),
    });
  };

  const resourceServer = (audience: string) =>
    new provider.ResourceServer(audience, resourceServerInfo(audience, deps.accessTokenTtlS));
  const issue = tokenIssuer(provider, deps, { api, accountClaims, resourceServer });
  const kit: GrantKit = { provider, deps, nonces, audiences, api, resourceServer, accountClaims, auditFor, issue };
  registerCpsCardGrant(kit);
  registerBadgeGrant(kit);
  registerTokenExchangeGrant(kit);

  // The session server's middleware reads the refusal itself (clock skew, audit detail), not only its body.
  const keepRefusal = (ctx: Ctx, err: Error) => {
    (ctx.state as { refusal?: unknown }).refusal = err;
  };
  provider.on('grant.error', keepRefusal);
  provider.on('introspection.error', keepRefusal);
  provider.on('revocation.error', keepRefusal);

  provider.on('server_error', (ctx: Ctx, err: Error) => {
    // The session server's middleware turns a database outage into a 503 the agents understand.
    (ctx.state as { serverError?: unknown }).serverError = err;
    log.error('server error', { err: err.message });
  });

  return { provider, nonces, accountClaims };
}
