// The agent as a client of the session server (openid-client): a confidential client authenticated by
// private_key_jwt with a key generated on the workstation, registered once with an enrolment token.
// Tokens stay in memory (the session engine holds them); nothing here writes them anywhere.
import { GRANT } from '@sillage/protocol';
import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import type { JWK } from 'jose';
import type { CardHandle, SignatureAlgorithm } from '../readers/types';

export interface WorkstationCredentials {
  clientId: string;
  /** ES256 private key of the workstation: OS-protected storage only (safeStorage / DPAPI). */
  privateJwk: JWK;
}

export interface ServerTokens {
  accessToken: string;
  refreshToken: string | undefined;
  idToken: string | undefined;
  claims: {
    sub: string;
    auth_time?: number;
    acr?: string;
    amr?: string[];
    sid?: string;
    given_name?: string;
    family_name?: string;
    idnat?: string | null;
    profession?: string | null;
    [k: string]: unknown;
  };
  expiresAt: number;
  /** End of the roaming MFA window (epoch seconds). */
  mfaExpiresAt: number | undefined;
}

export type ServerErrorCode =
  | 'server-unreachable'
  | 'mfa_required'
  | 'secret_wrong'
  | 'secret_locked'
  | 'no_secret'
  | 'badge_unknown'
  | 'badge_revoked'
  | 'badge_disabled'
  | 'uid_only'
  | 'invalid_assertion'
  | 'untrusted_certificate'
  | 'expired_certificate'
  | 'replayed_nonce'
  | 'unknown_account'
  | 'invalid_client'
  | 'invalid_target'
  | 'invalid_grant'
  | 'unknown_key'
  | 'access_denied'
  | 'invalid_request'
  | 'unexpected';

export class ServerError extends Error {
  constructor(
    readonly code: ServerErrorCode,
    message: string,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const JWS_ALG: Record<SignatureAlgorithm, string> = {
  'RSA-PKCS1-SHA256': 'RS256',
  'RSA-PSS-SHA256': 'PS256',
  'ECDSA-P256-SHA256': 'ES256',
};

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/**
 * 5xx from any route: the server (or its database, or the balancer in front) cannot answer now and
 * nothing was issued or changed: the same as unreachable for the engine (no login, no surprise logout).
 */
function unavailable(status: number): ServerError {
  return new ServerError('server-unreachable', `session server unavailable (${status})`);
}

function toServerError(e: unknown): ServerError {
  if (e instanceof ServerError) return e;
  const status =
    e instanceof oidc.ResponseBodyError
      ? e.status
      : (e as { cause?: unknown }).cause instanceof Response
        ? (e as { cause: Response }).cause.status
        : 0;
  if (status >= 500) return unavailable(status);
  if (e instanceof oidc.ResponseBodyError) {
    const body = (e.cause ?? {}) as Record<string, unknown>;
    const code = (body.sillage_error as ServerErrorCode | undefined) ?? (e.error as ServerErrorCode);
    return new ServerError(code ?? 'unexpected', e.error_description ?? e.error, body);
  }
  const err = e as { code?: string; cause?: { code?: string }; message?: string };
  const net = err.cause?.code ?? err.code;
  if (
    (net && /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|UND_ERR|ABORT/i.test(net)) ||
    /fetch failed|timeout/i.test(err.message ?? '')
  ) {
    return new ServerError('server-unreachable', 'session server unreachable');
  }
  return new ServerError('unexpected', err.message ?? String(e));
}

/** First start after install: creates the workstation key and registers it with the one-time token. */
export async function registerWorkstation(
  serverUrl: string,
  enrolmentToken: string,
  name: string,
  fetchImpl: typeof fetch = fetch,
): Promise<WorkstationCredentials> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = randomUUID();
  const pub = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  let res: Response;
  try {
    res = await fetchImpl(new URL('/sillage/workstations', serverUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ enrolment_token: enrolmentToken, name, jwks: { keys: [pub] } }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (e) {
    throw toServerError(e);
  }
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (res.status !== 201 || typeof body.client_id !== 'string')
    throw new ServerError(
      'invalid_client',
      String(body.error_description ?? `registration refused (${res.status})`),
      body,
    );
  return { clientId: body.client_id, privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' } };
}

export interface ClientOptions {
  /** http:// issuers are refused unless allowed (tests and the embedded demo server on loopback). */
  allowHttp?: boolean;
  timeoutMs?: number;
  /** Transport override (tests and benchmarks route requests to a given server instance). */
  fetch?: typeof fetch;
}

export class SessionServerClient {
  private constructor(
    private readonly config: oidc.Configuration,
    readonly clientId: string,
    private readonly timeoutMs: number,
    private readonly fetchImpl: typeof fetch = fetch,
    private readonly signer: { key: Awaited<ReturnType<typeof importJWK>>; kid: string | undefined } | null = null,
  ) {}

  get issuer(): string {
    return this.config.serverMetadata().issuer;
  }

  static async connect(
    serverUrl: string,
    creds: WorkstationCredentials,
    opts: ClientOptions = {},
  ): Promise<SessionServerClient> {
    const key = await importJWK(creds.privateJwk, 'ES256');
    const timeoutMs = opts.timeoutMs ?? 10_000;
    try {
      const config = await oidc.discovery(
        new URL(serverUrl),
        creds.clientId,
        { id_token_signed_response_alg: 'ES256' },
        oidc.PrivateKeyJwt({ key, kid: creds.privateJwk.kid } as unknown as oidc.PrivateKey),
        {
          execute: opts.allowHttp ? [oidc.allowInsecureRequests] : [],
          timeout: timeoutMs / 1000,
          ...(opts.fetch ? { [oidc.customFetch]: opts.fetch as unknown as oidc.CustomFetch } : {}),
        },
      );
      config.timeout = timeoutMs / 1000;
      if (opts.fetch) config[oidc.customFetch] = opts.fetch as unknown as oidc.CustomFetch;
      return new SessionServerClient(config, creds.clientId, timeoutMs, opts.fetch ?? fetch, {
        key,
        kid: creds.privateJwk.kid,
      });
    } catch (e) {
      throw toServerError(e);
    }
  }

  private url(path: string): URL {
    return new URL(path, this.issuer.endsWith('/') ? this.issuer : this.issuer + '/');
  }

  private async json(path: string, init: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
    try {
      const res = await this.fetchImpl(this.url(path), { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
      if (res.status >= 500) throw unavailable(res.status);
      return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
    } catch (e) {
      throw toServerError(e);
    }
  }

  private async grant(type: string, params: Record<string, string>): Promise<ServerTokens> {
    try {
      const r = await oidc.genericGrantRequest(this.config, type, params);
      return tokensOf(r);
    } catch (e) {
      throw toServerError(e);
    }
  }

  async nonce(): Promise<string> {
    const r = await this.json('sillage/nonce', { method: 'POST' });
    if (typeof r.body.nonce !== 'string') throw new ServerError('unexpected', 'no nonce from the server');
    return r.body.nonce;
  }

  /**
   * CPS login: an RFC 7523 assertion signed by the card (already unlocked by its PIN), certificate in
   * x5c, server nonce inside. The card computes the signature; the agent only assembles the JWS.
   */
  async cardLogin(
    card: CardHandle,
    idNat: string,
    algorithm: SignatureAlgorithm = 'RSA-PKCS1-SHA256',
    chain: Buffer[] = [],
  ): Promise<ServerTokens> {
    return this.assertionGrant(await this.cardAssertion(card, idNat, algorithm, chain));
  }

  async assertionGrant(assertion: string): Promise<ServerTokens> {
    return this.grant(GRANT.jwtBearer, { assertion, scope: 'openid profile offline_access' });
  }

  async cardAssertion(
    card: CardHandle,
    idNat: string,
    algorithm: SignatureAlgorithm = 'RSA-PKCS1-SHA256',
    chain: Buffer[] = [],
  ): Promise<string> {
    const nonce = await this.nonce();
    const now = Math.floor(Date.now() / 1000);
    // The certificate is read (no PIN needed) before signing so the JWS header can carry it.
    const cert = await card.readCertificate();
    if (!cert) throw new ServerError('invalid_assertion', 'the card holds no authentication certificate');
    const header = { alg: JWS_ALG[algorithm], typ: 'JWT', x5c: [cert, ...chain].map((c) => c.toString('base64')) };
    const payload = {
      iss: this.clientId,
      sub: idNat,
      aud: this.issuer,
      iat: now,
      exp: now + 60,
      jti: randomUUID(),
      nonce,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    const sig = await card.sign(Buffer.from(input, 'ascii'), algorithm);
    return `${input}.${b64url(sig.signature)}`;
  }

  /** Badge tap: with `secret` a 2-factor login, without it a re-open of the roaming session. */
  badge(badgeId: string, proof: string, secret?: string): Promise<ServerTokens> {
    const params: Record<string, string> = {
      badge_id: badgeId,
      badge_proof: proof,
      scope: 'openid profile offline_access',
    };
    if (secret !== undefined) params.secret = secret;
    return this.grant(GRANT.badge, params);
  }

  async refresh(refreshToken: string): Promise<ServerTokens> {
    try {
      return tokensOf(await oidc.refreshTokenGrant(this.config, refreshToken));
    } catch (e) {
      throw toServerError(e);
    }
  }

  /** RFC 8693: a token for one relying party (the DPI), never the workstation's own token. */
  async exchange(accessToken: string, audience: string): Promise<{ accessToken: string; expiresAt: number }> {
    try {
      const r = await oidc.genericGrantRequest(this.config, GRANT.tokenExchange, {
        subject_token: accessToken,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        audience,
      });
      return { accessToken: r.access_token, expiresAt: Math.floor(Date.now() / 1000) + (r.expires_in ?? 60) };
    } catch (e) {
      throw toServerError(e);
    }
  }

  /** Roaming session status; `active: false` when it was ended elsewhere or by an administrator. */
  async sessionStatus(
    accessToken: string,
  ): Promise<{ active: true; expiresAt: number } | { active: false; reason: string }> {
    const r = await this.json('sillage/session', { headers: { authorization: `Bearer ${accessToken}` } });
    if (r.status === 200 && r.body.active === true) return { active: true, expiresAt: Number(r.body.expires_at) };
    if (r.status === 401) return { active: false, reason: String(r.body.reason ?? 'revoked') };
    throw new ServerError('unexpected', `session status answered ${r.status}`);
  }

  /** Global logout: the roaming session ends on every workstation. */
  async logout(accessToken: string): Promise<void> {
    const r = await this.json('sillage/session/end', {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}` },
    });
    if (r.status !== 200) throw new ServerError('invalid_grant', 'logout refused', r.body);
  }

  /**
   * One step of a badge authentication relayed to the server's key custody. The workstation signs a
   * short private_key_jwt assertion per call (no user session exists yet at tap time).
   */
  async desfireRelay(step: 'begin' | 'finish', body: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (!this.signer) throw new ServerError('unexpected', 'no workstation key');
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', ...(this.signer.kid ? { kid: this.signer.kid } : {}) })
      .setIssuer(this.clientId)
      .setSubject(this.clientId)
      .setAudience(this.issuer)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('60s')
      .sign(this.signer.key);
    const r = await this.json(`sillage/desfire/auth/${step}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, client_assertion: assertion }),
    });
    if (r.status !== 200)
      throw new ServerError(
        String(r.body.error ?? 'unexpected') as ServerErrorCode,
        String(r.body.error_description ?? `relay ${step} refused (${r.status})`),
        r.body,
      );
    return r.body;
  }

  async enrolBadge(accessToken: string, badgeId: string, proof: string): Promise<void> {
    const r = await this.json('sillage/badges', {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ badge_id: badgeId, badge_proof: proof }),
    });
    if (r.status !== 201)
      throw new ServerError(
        'invalid_grant',
        String(r.body.error_description ?? `enrolment refused (${r.status})`),
        r.body,
      );
  }

  async revoke(token: string): Promise<void> {
    try {
      await oidc.tokenRevocation(this.config, token);
    } catch (e) {
      throw toServerError(e);
    }
  }
}

function tokensOf(r: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): ServerTokens {
  const claims = (r.claims() ?? {}) as ServerTokens['claims'];
  const mfa =
    (r as unknown as { mfa_expires_at?: number }).mfa_expires_at ?? (claims.sillage_mfa_exp as number | undefined);
  return {
    accessToken: r.access_token,
    refreshToken: r.refresh_token,
    idToken: r.id_token,
    claims,
    expiresAt: Math.floor(Date.now() / 1000) + (r.expires_in ?? 60),
    mfaExpiresAt: mfa,
  };
}

/**
 * A client connected on first use and kept; while the server is unreachable every call fails fast
 * with 'server-unreachable' and the next one tries again (no retry storm: callers are user taps).
 */
export function lazyClient(
  serverUrl: string,
  creds: () => Promise<WorkstationCredentials>,
  opts: ClientOptions = {},
): () => Promise<SessionServerClient> {
  let connected: SessionServerClient | null = null;
  let pending: Promise<SessionServerClient> | null = null;
  return async () => {
    if (connected) return connected;
    pending ??= (async () => SessionServerClient.connect(serverUrl, await creds(), opts))()
      .then((c) => (connected = c))
      .finally(() => (pending = null));
    return pending;
  };
}
