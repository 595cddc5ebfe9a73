// The OpenID provider: oidc-provider (OpenID-certified) with PostgreSQL storage, workstations as
// private_key_jwt clients, and the grants of a shared ward PC:
//   - CPS card: JWT-bearer assertion (RFC 7523) signed by the card, x5c chain, server nonce.
//   - Badge: badge credential + PIN / code de session (2 factors), or badge alone within the roaming
//     window (re-open, 1 factor; auth_time stays the 2-factor login).
//   - Token exchange (RFC 8693) to audience-bound tokens for the DPI and other relying parties.
//   - Refresh and revocation as oidc-provider implements them.
import { randomBytes } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { generateKeyPair, exportJWK } from 'jose';
import { ACR, GRANT } from '@sillage/protocol';
import { adapterFactory } from './adapter';
import type { Audit, AuditEntry } from './audit';
import type { TrustStore } from './cps';
import { NonceIssuer, ProofError, verifyCardAssertion } from './cps';
import type { Db } from './db';
import type { Account, Directory } from './directory';
import type { Log } from './log';
import { toSession } from './sessions';
import type { RoamingSession, Sessions } from './sessions';

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

/** Keys shared by every instance: created once in the database, read by all. */
export async function sharedSecrets(
  db: Db,
): Promise<{ jwks: { keys: Record<string, unknown>[] }; cookieKeys: string[]; nonceKey: Buffer }> {
  const want = async () => {
    const es = await generateKeyPair('ES256', { extractable: true });
    const rs = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
    const kid = randomBytes(8).toString('hex');
    return {
      jwks: {
        keys: [
          { ...(await exportJWK(es.privateKey)), kid: `es-${kid}`, alg: 'ES256', use: 'sig' },
          { ...(await exportJWK(rs.privateKey)), kid: `rs-${kid}`, alg: 'RS256', use: 'sig' },
        ],
      },
      cookieKeys: [randomBytes(32).toString('base64url')],
      nonceKey: randomBytes(32).toString('base64url'),
    };
  };
  const { rows } = await db.query<{ value: unknown }>("SELECT value FROM server_secrets WHERE name = 'provider'");
  if (!rows[0])
    await db.query("INSERT INTO server_secrets (name, value) VALUES ('provider', $1) ON CONFLICT (name) DO NOTHING", [
      JSON.stringify(await want()),
    ]);
  const { rows: again } = await db.query<{
    value: { jwks: { keys: Record<string, unknown>[] }; cookieKeys: string[]; nonceKey: string };
  }>("SELECT value FROM server_secrets WHERE name = 'provider'");
  const v = again[0]!.value;
  return { jwks: v.jwks, cookieKeys: v.cookieKeys, nonceKey: Buffer.from(v.nonceKey, 'base64url') };
}

type Ctx = KoaContextWithOIDC;

function refuse(
  ctx: Ctx,
  status: number,
  error: string,
  description: string,
  extra: Record<string, unknown> = {},
): void {
  ctx.status = status;
  ctx.body = { error, error_description: description, ...extra };
}

export async function createProvider(deps: ProviderDeps) {
  const { db, directory, sessions, audit, trust, log, now } = deps;
  const secrets = await sharedSecrets(db);
  const nonces = new NonceIssuer(secrets.nonceKey, 120_000, now);
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
    jwks: secrets.jwks as Configuration['jwks'],
    cookies: { keys: secrets.cookieKeys },
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

  /** Issues the workstation's tokens for one login or re-open, linked to its roaming session. */
  async function issue(
    ctx: Ctx,
    account: Account,
    session: RoamingSession,
    opts: { amr: string[]; acr: string; gty: string },
    audited: Promise<void>,
  ) {
    // Awaited below; the handler only keeps a failure from going unhandled if building the tokens throws first.
    audited.catch(() => undefined);
    const client = ctx.oidc.client!;
    const remaining = Math.max(1, Math.floor((session.expiresAt.getTime() - now().getTime()) / 1000));
    const grant = new provider.Grant({ accountId: account.id, clientId: client.clientId });
    grant.addOIDCScope('openid profile offline_access');
    grant.addOIDCClaims(['acr', 'amr', 'auth_time', 'sid']);
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
      extra: { sid: session.id },
    });
    // The refresh token dies with the roaming window: refresh never extends the 4 hours.
    const rt = new provider.RefreshToken({
      ...common,
      scope: 'openid profile offline_access',
      acr: opts.acr,
      amr: opts.amr,
      authTime,
      expiresIn: remaining,
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
    // parallel); tokens leave only once both are committed, so nothing is issued unaudited.
    // Typings lag the implementation: Grant#save takes the TTL in seconds.
    const [, , accessToken, refreshToken] = await Promise.all([
      audited,
      (grant.save as (ttl?: number) => Promise<string>)(remaining),
      at.save(),
      rt.save(),
    ]);
    const idToken = await id.issue({ use: 'idtoken' });
    ctx.body = {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: at.expiration,
      refresh_token: refreshToken,
      id_token: idToken,
      scope: 'openid profile offline_access',
      mfa_expires_at: Math.floor(session.expiresAt.getTime() / 1000),
    };
  }

  // --- CPS card: RFC 7523 JWT bearer --------------------------------------------------------------
  provider.registerGrantType(
    GRANT.jwtBearer,
    async (ctx) => {
      const ws = ctx.oidc.client!.clientId;
      const assertion = ctx.oidc.params!.assertion;
      if (typeof assertion !== 'string') return refuse(ctx, 400, 'invalid_request', 'assertion missing');
      let v;
      try {
        v = await verifyCardAssertion(assertion, { trust, nonces, audience: deps.issuer, now: now() });
      } catch (e) {
        const pe = e instanceof ProofError ? e : new ProofError('invalid_assertion', 'assertion rejected');
        await auditFor(ctx, {
          action: 'login.cps',
          outcome: 'refused',
          factor: 'cps',
          reason: `${pe.code}: ${pe.message}`,
        });
        return refuse(ctx, 400, 'invalid_grant', pe.message, { sillage_error: pe.code });
      }
      // Single use: the nonce is recorded; a second presentation (any instance) fails the insert.
      const { rows } = await db.query(
        'INSERT INTO used_nonces (nonce, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING nonce',
        [v.nonce, v.nonceExpiresAt],
      );
      if (!rows[0]) {
        await auditFor(ctx, {
          action: 'login.cps',
          outcome: 'refused',
          factor: 'cps',
          reason: 'replayed_nonce',
          details: { idNat: v.subject.idNat },
        });
        return refuse(ctx, 400, 'invalid_grant', 'assertion already used (replay)', {
          sillage_error: 'replayed_nonce',
        });
      }
      const account = await directory.accountByIdNat(v.subject.idNat);
      if (!account || account.disabled) {
        await auditFor(ctx, {
          action: 'login.cps',
          outcome: 'refused',
          factor: 'cps',
          reason: 'unknown_account',
          details: { idNat: v.subject.idNat },
        });
        return refuse(
          ctx,
          400,
          'invalid_grant',
          `no account for idNat ${v.subject.idNat}: ask the identity team to enrol this card holder`,
          { sillage_error: 'unknown_account' },
        );
      }
      if (v.subject.keyKind === 'auth') {
        // The authentication key signs only after the card checked the PIN: card + PIN = 2 factors.
        const amr = ['sc', 'pin', 'hwk', 'mfa'];
        const session = await sessions.create(account.id, amr, ACR.mfa, ws);
        const audited = auditFor(ctx, {
          action: 'login.cps',
          outcome: 'ok',
          accountId: account.id,
          factor: 'cps+pin',
          details: { session: session.id, serial: v.subject.serialNumber, alg: v.alg },
        });
        return issue(ctx, account, session, { amr, acr: ACR.mfa, gty: GRANT.jwtBearer }, audited);
      }
      // Contactless technical key (no PIN): 1 factor, a re-open within the roaming window only.
      const session = await sessions.active(account.id);
      if (!session) {
        await auditFor(ctx, {
          action: 'reopen.cps',
          outcome: 'refused',
          accountId: account.id,
          factor: 'cps-tech',
          reason: 'mfa_required',
        });
        return refuse(ctx, 400, 'invalid_grant', 'no roaming session: insert the card and type the PIN', {
          sillage_error: 'mfa_required',
        });
      }
      const audited = auditFor(ctx, {
        action: 'reopen.cps',
        outcome: 'ok',
        accountId: account.id,
        factor: 'cps-tech',
        details: { session: session.id },
      });
      return issue(ctx, account, session, { amr: ['hwk'], acr: ACR.reopen, gty: GRANT.jwtBearer }, audited);
    },
    ['assertion', 'scope'],
  );

  // --- Badge: 2-factor login with a secret, or 1-factor re-open within the window -------------------
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

  // --- Token exchange (RFC 8693): the workstation's token → a token for one relying party ----------
  provider.registerGrantType(
    GRANT.tokenExchange,
    async (ctx) => {
      const p = ctx.oidc.params as Record<string, string | undefined>;
      const client = ctx.oidc.client!;
      if (p.subject_token_type !== 'urn:ietf:params:oauth:token-type:access_token')
        return refuse(ctx, 400, 'invalid_request', 'subject_token_type must be an access token');
      if (p.requested_token_type && p.requested_token_type !== 'urn:ietf:params:oauth:token-type:access_token')
        return refuse(ctx, 400, 'invalid_request', 'only access tokens can be requested');
      const audience = p.audience ?? p.resource;
      if (!audience || !audiences.has(audience)) {
        await auditFor(ctx, {
          action: 'token.exchange',
          outcome: 'refused',
          reason: 'invalid_target',
          details: { audience: audience ?? null },
        });
        return refuse(ctx, 400, 'invalid_target', `audience ${audience ?? '(none)'} is not a registered relying party`);
      }
      const subject = p.subject_token ? await provider.AccessToken.find(p.subject_token) : undefined;
      if (!subject || subject.clientId !== client.clientId || subject.isExpired) {
        await auditFor(ctx, {
          action: 'token.exchange',
          outcome: 'refused',
          reason: 'invalid_subject_token',
          details: { audience },
        });
        return refuse(
          ctx,
          400,
          'invalid_grant',
          'subject token unknown, expired, revoked or not issued to this workstation',
        );
      }
      const sid = subject.sid;
      const session = sid ? await sessions.get(sid) : null;
      if (!session || !sessions.isLive(session)) {
        await auditFor(ctx, {
          action: 'token.exchange',
          outcome: 'refused',
          accountId: subject.accountId,
          reason: 'mfa_window_over',
          details: { audience },
        });
        return refuse(ctx, 400, 'invalid_grant', 'roaming session over', { sillage_error: 'mfa_required' });
      }
      const remaining = Math.max(1, Math.floor((session.expiresAt.getTime() - now().getTime()) / 1000));
      const at = new provider.AccessToken({
        accountId: subject.accountId,
        client,
        grantId: subject.grantId,
        gty: GRANT.tokenExchange,
        sid,
        scope: 'openid profile',
        expiresIn: Math.min(deps.accessTokenTtlS, remaining),
        resourceServer: new provider.ResourceServer(audience, {
          scope: 'openid profile',
          audience,
          accessTokenFormat: 'opaque',
          accessTokenTTL: deps.accessTokenTtlS,
        }),
        // The DPI learns who the token is for by introspection: the professional's idNat (RPPS) travels
        // with the token, so the DPI can act in their name (DMP "AIR simplifié" mode needs the RPPS).
        extra: {
          sid,
          acr: session.acr,
          auth_time: Math.floor(session.authTime.getTime() / 1000),
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
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        token_type: 'Bearer',
        expires_in: at.expiration,
      };
    },
    ['subject_token', 'subject_token_type', 'audience', 'resource', 'requested_token_type', 'scope'],
    ['audience', 'resource'],
  );

  provider.on('server_error', (ctx: Ctx, err: Error) => {
    // The session server's middleware turns a database outage into a 503 the agents understand.
    (ctx.state as { serverError?: unknown }).serverError = err;
    log.error('server error', { err: err.message });
  });

  return { provider, nonces, accountClaims };
}
