// The agent as a client of the session server (openid-client): a confidential client authenticated by
// private_key_jwt with a key generated on the workstation, registered once with an enrolment token.
// Tokens stay in memory (the session engine holds them); nothing here writes them anywhere.
//
// Ward PCs drift: every answer's Date header tells the server's time, and every assertion this client
// signs (client authentication, CPS card, badge relay) is dated by it, as openid-client's checks of the
// ID tokens are, so a clock a few minutes off logs in as well as a right one. Beyond the skew the server
// accepts, a login is refused with 'clock_skew' (the PC's clock needs IT) rather than failing for a
// reason nobody can act on.
import {
  answers,
  AUDIT_HEAD_PARAM,
  BADGE_ENROL_PATH,
  BADGE_PARAM,
  badgeCodeParams,
  badgeEnrolRequest,
  badgeTapParams,
  CLOCK_SKEW_METADATA,
  DEFAULT_CLOCK_SKEW_S,
  formatAuditHead,
  GRANT,
  parseRelayBeginResponse,
  parseRelayFinishResponse,
  refusalCode,
  RELAY_PATH,
  TEXT,
  textProblem,
} from '@sillage/protocol';
import type {
  AuditHead,
  BadgeProof,
  RelayBeginRequest,
  RelayBeginResponse,
  RelayFinishRequest,
  RelayFinishResponse,
  TextRule,
} from '@sillage/protocol';
import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { SoftwareKey } from '../keys/software-key';
import { AssertionStock } from './assertion-stock';
import type { WorkstationKey } from '../keys/workstation-key';
import type { CardHandle, SignatureAlgorithm } from '../devices/types';
import { LostAnswer, retryingFetch } from './retry';
import type { ServerErrorCode } from './server-codes';

export interface WorkstationCredentials {
  clientId: string;
  /** The workstation's ES256 key: in the TPM where there is one, else a software key the OS seals. */
  key: WorkstationKey;
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
  /** When the access token expires, on this workstation's clock (epoch seconds). */
  expiresAt: number;
  /** End of the roaming MFA window, on this workstation's clock (epoch seconds). */
  mfaExpiresAt: number | undefined;
}

export type { ServerErrorCode };

export class ServerError extends Error {
  constructor(
    readonly code: ServerErrorCode,
    message: string,
    readonly body: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
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

/** A refusal's answer body: its most precise declared code, else `fallback`. */
function refused(body: Record<string, unknown>, fallback: ServerErrorCode, message: string): ServerError {
  return new ServerError(refusalCode(body) ?? fallback, String(body.error_description ?? message), body);
}

const lostAnswer = (e: unknown) =>
  e instanceof LostAnswer || (e as { cause?: unknown } | null)?.cause instanceof LostAnswer;

/**
 * The call's time limit ran out: our own fetch's signal (a TimeoutError) or openid-client's, which wraps it
 * as OAUTH_TIMEOUT ("operation timed out"). A server too slow to answer is unreachable for now, never a
 * refusal: a token refresh that times out must not end the session.
 */
const timedOut = (e: unknown) => {
  const err = e as { name?: string; code?: unknown; cause?: { name?: string } } | null;
  return err?.name === 'TimeoutError' || err?.cause?.name === 'TimeoutError' || err?.code === 'OAUTH_TIMEOUT';
};

function toServerError(e: unknown): ServerError {
  if (e instanceof ServerError) return e;
  if (lostAnswer(e))
    return new ServerError('server-unreachable', 'session server answer lost: try again', {}, { cause: e });
  if (timedOut(e))
    return new ServerError('server-unreachable', 'session server did not answer in time', {}, { cause: e });
  const status =
    e instanceof oidc.ResponseBodyError
      ? e.status
      : (e as { cause?: unknown }).cause instanceof Response
        ? (e as { cause: Response }).cause.status
        : 0;
  if (status >= 500) return unavailable(status);
  if (e instanceof oidc.ResponseBodyError)
    return refused((e.cause ?? {}) as Record<string, unknown>, 'unexpected', e.error_description ?? e.error);
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

/** What the agent sends follows the rules the server checks at its edge: refused here, never sent. */
function outgoing(what: string, value: string, rule: TextRule): void {
  const problem = textProblem(value, rule);
  if (problem) throw new ServerError('invalid_request', `${what}: ${problem}`);
}

/** Assertions this client signs live one minute on the server's clock. */
const ASSERTION_LIFETIME_S = 60;

/**
 * An RFC 7523 client assertion (private_key_jwt) signed by the workstation key, which may never leave its
 * TPM: what authenticates the PC at the token endpoint and on each relay call. Dated `nowS` (the server's
 * time as this PC knows it), valid one minute, single use (jti).
 */
export async function workstationAssertion(
  key: WorkstationKey,
  clientId: string,
  audience: string,
  nowS = Math.floor(Date.now() / 1000),
): Promise<string> {
  const header = { alg: 'ES256', kid: key.kid };
  const payload = {
    iss: clientId,
    sub: clientId,
    aud: audience,
    jti: randomUUID(),
    iat: nowS,
    exp: nowS + ASSERTION_LIFETIME_S,
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(await key.sign(Buffer.from(input, 'ascii')))}`;
}

/**
 * First start after install: registers the workstation key's public half with the one-time token. The key
 * comes from the machine's key provider (TPM or software); a fresh software key when none is given.
 */
export async function registerWorkstation(
  serverUrl: string,
  enrolmentToken: string,
  name: string,
  opts: { key?: WorkstationKey; fetch?: typeof fetch } = {},
): Promise<WorkstationCredentials> {
  outgoing('enrolment token', enrolmentToken, TEXT.enrolmentToken);
  outgoing('workstation name', name, TEXT.workstationName);
  const key = opts.key ?? SoftwareKey.generate();
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(new URL('/sillage/workstations', serverUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ enrolment_token: enrolmentToken, name, jwks: { keys: [key.publicJwk] } }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (e) {
    throw toServerError(e);
  }
  if (res.status >= 500) throw unavailable(res.status);
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  const answer = res.status === 201 ? answers.registration(body) : null;
  if (!answer) throw refused(body, 'invalid_client', `registration refused (${res.status})`);
  return { clientId: answer.client_id, key };
}

/**
 * The session server's clock as this workstation sees it, learnt from the Date header of each answer:
 * whole seconds, taken at the middle of the request's time in flight. An offset within that precision
 * (half a second and half the round trip) is no offset: a right clock stays uncorrected.
 */
export class ServerClock {
  private offsetMs = 0;

  /** `local`: this workstation's wall clock. */
  constructor(readonly local: () => number = Date.now) {}

  /** What to add to the local clock for the server's time, in whole seconds (openid-client's clockSkew). */
  get offsetS(): number {
    return 0 - this.skewS;
  }

  learn(date: string | null, sentAt: number, receivedAt: number): void {
    const t = date ? Date.parse(date) : Number.NaN;
    if (!Number.isFinite(t)) return;
    const offset = t + 500 - (sentAt + receivedAt) / 2;
    this.offsetMs = Math.abs(offset) <= 500 + (receivedAt - sentAt) / 2 ? 0 : offset;
  }

  /** The server's time now, in epoch seconds. */
  nowS(): number {
    return Math.floor((this.local() + this.offsetMs) / 1000);
  }

  /** How far this workstation's clock is ahead of the server's (negative: behind), in seconds. */
  get skewS(): number {
    return 0 - Math.round(this.offsetMs / 1000);
  }

  /** A fetch that learns the server's time from every answer. */
  fetch(base: typeof fetch): typeof fetch {
    return async (input, init) => {
      const sentAt = this.local();
      const res = await base(input, init);
      this.learn(res.headers.get('date'), sentAt, this.local());
      return res;
    };
  }
}

export interface ClientOptions {
  /** http:// issuers are refused unless allowed (tests and the embedded demo server on loopback). */
  allowHttp?: boolean;
  timeoutMs?: number;
  /**
   * Transport override (tests and benchmarks route requests to a given server instance). Requests are
   * sent again over it when an instance fails under them (retry.ts).
   */
  fetch?: typeof fetch;
  /** The workstation audit chain's head, sent with each login and re-open grant (the server records it). */
  auditHead?: () => AuditHead | null;
}

const SCOPE = 'openid profile offline_access';

export class SessionServerClient {
  private current: { offsetS: number; config: oidc.Configuration } | null = null;

  private constructor(
    /** The openid-client configuration for a clock offset (openid-client's own clockSkew). */
    private readonly configFor: (offsetS: number) => oidc.Configuration,
    readonly clientId: string,
    /** The discovered issuer, the audience of every assertion this client signs. */
    readonly issuer: string,
    /** How far the server lets a workstation's clock be (its discovery metadata), in seconds. */
    readonly clockSkewBoundS: number,
    private readonly timeoutMs: number,
    private readonly fetchImpl: typeof fetch,
    private readonly time: ServerClock,
    private readonly assertions: AssertionStock,
    private readonly auditHead: ClientOptions['auditHead'],
  ) {}

  /**
   * openid-client dates its client assertions and checks ID tokens by the local clock plus its clockSkew,
   * fixed per configuration: one for the offset measured last (a right clock keeps the first).
   */
  private get config(): oidc.Configuration {
    const offsetS = this.time.offsetS;
    if (this.current?.offsetS !== offsetS) this.current = { offsetS, config: this.configFor(offsetS) };
    return this.current.config;
  }

  /** This workstation's clock against the server's (seconds ahead; negative: behind), from the last answer. */
  get clockSkewS(): number {
    return this.time.skewS;
  }

  static async connect(
    serverUrl: string,
    creds: WorkstationCredentials,
    opts: ClientOptions = {},
  ): Promise<SessionServerClient> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const time = new ServerClock();
    // Each attempt teaches the clock; a failing instance's requests are sent again (retry.ts).
    const fetchImpl = retryingFetch(time.fetch(opts.fetch ?? ((input, init) => fetch(input, init))));
    // private_key_jwt assembled here and signed by the workstation key (openid-client's PrivateKeyJwt
    // needs the key itself), dated by the server's time like openid-client's own checks, taken from the
    // assertions signed ahead for the discovered issuer (discovery itself authenticates nothing).
    let stock: AssertionStock | undefined;
    const auth: oidc.ClientAuth = async (_as, client, body) => {
      body.set('client_id', client.client_id);
      body.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      body.set('client_assertion', await stock!.take());
    };
    const metadata: oidc.ClientMetadata = { client_id: creds.clientId, id_token_signed_response_alg: 'ES256' };
    const setUp = (config: oidc.Configuration) => {
      if (opts.allowHttp) oidc.allowInsecureRequests(config);
      config.timeout = timeoutMs / 1000;
      config[oidc.customFetch] = fetchImpl as unknown as oidc.CustomFetch;
      return config;
    };
    try {
      const discovered = setUp(
        await oidc.discovery(new URL(serverUrl), creds.clientId, metadata, auth, {
          execute: opts.allowHttp ? [oidc.allowInsecureRequests] : [],
          timeout: timeoutMs / 1000,
          [oidc.customFetch]: fetchImpl as unknown as oidc.CustomFetch,
        }),
      );
      // The server's metadata as discovered, without the helper functions openid-client adds to its copy.
      const server = Object.fromEntries(
        Object.entries(discovered.serverMetadata()).filter(([, v]) => typeof v !== 'function'),
      ) as oidc.ServerMetadata;
      const configFor = (offsetS: number) =>
        offsetS === 0
          ? discovered
          : setUp(new oidc.Configuration(server, creds.clientId, { ...metadata, [oidc.clockSkew]: offsetS }, auth));
      const issuer = server.issuer;
      const bound = (server as Record<string, unknown>)[CLOCK_SKEW_METADATA];
      stock = new AssertionStock(
        (nowS) => workstationAssertion(creds.key, creds.clientId, issuer, nowS),
        time,
        ASSERTION_LIFETIME_S,
      );
      stock.fillSoon();
      return new SessionServerClient(
        configFor,
        creds.clientId,
        issuer,
        typeof bound === 'number' && Number.isFinite(bound) && bound >= 0 ? bound : DEFAULT_CLOCK_SKEW_S,
        timeoutMs,
        fetchImpl,
        time,
        stock,
        opts.auditHead,
      );
    } catch (e) {
      throw toServerError(e);
    }
  }

  private beyondBound(): boolean {
    return Math.abs(this.time.skewS) > this.clockSkewBoundS;
  }

  private clockSkew(): ServerError {
    const s = this.time.skewS;
    return new ServerError(
      'clock_skew',
      `workstation clock ${Math.abs(s)} s ${s > 0 ? 'ahead of' : 'behind'} the session server (at most ` +
        `${this.clockSkewBoundS} s)`,
    );
  }

  /**
   * A call this client signs an assertion for. The last answer put the local clock beyond the bound:
   * the server's time is asked again first (the clock may have been set right since), and a login is
   * refused while it stays beyond. A refusal for the assertion's times (the clock jumped since the last
   * answer, which carried the server's time) is retried once, redated.
   */
  /**
   * `call` signs its own client assertion. `fresh`: once more, newly signed, after a lost answer (retry.ts:
   * the instance took the assertion and died or lost its answer) — only for requests that carry their own
   * single-use proof, so that the repeat cannot issue twice: a relay call issues nothing; a badge grant's
   * relay challenge and a code step's login ticket are accepted once by every instance, so the repeat
   * either is the first use (the instance died before it) or is refused as `badge_replayed` (tap again).
   */
  private async signed<T>(login: boolean, call: () => Promise<T>, fresh = false): Promise<T> {
    if (this.beyondBound()) {
      await this.json('.well-known/openid-configuration', {});
      if (login && this.beyondBound()) throw this.clockSkew();
    }
    try {
      return await call();
    } catch (e) {
      const se = toServerError(e);
      if (se.code === 'clock_skew') {
        if (login && this.beyondBound()) throw this.clockSkew();
      } else if (!(fresh && lostAnswer(e))) throw se;
      try {
        return await call();
      } catch (again) {
        throw toServerError(again);
      }
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

  /** A login or re-open grant (the user is waiting: beyond the clock bound it says so). */
  private grant(type: string, params: () => Promise<Record<string, string>>, fresh = false): Promise<ServerTokens> {
    return this.signed(
      true,
      async () => {
        const head = this.auditHead?.();
        const extra: Record<string, string> = head ? { [AUDIT_HEAD_PARAM]: formatAuditHead(head) } : {};
        return this.tokensOf(
          await oidc.genericGrantRequest(this.config, type, { ...(await params()), ...extra, scope: SCOPE }),
        );
      },
      fresh,
    );
  }

  private tokensOf(r: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): ServerTokens {
    const claims = (r.claims() ?? {}) as ServerTokens['claims'];
    const mfa =
      (r as unknown as { mfa_expires_at?: number }).mfa_expires_at ?? (claims.sillage_mfa_exp as number | undefined);
    const localNowS = Math.floor(this.time.local() / 1000);
    return {
      accessToken: r.access_token,
      refreshToken: r.refresh_token,
      idToken: r.id_token,
      claims,
      expiresAt: localNowS + (r.expires_in ?? 60),
      // The window ends at a server time: on this clock, that is shifted by the skew.
      mfaExpiresAt: mfa === undefined ? undefined : mfa + this.time.skewS,
    };
  }

  async nonce(): Promise<string> {
    const r = await this.json('sillage/nonce', { method: 'POST' });
    const answer = r.status === 200 ? answers.nonce(r.body) : null;
    if (!answer) throw refused(r.body, 'unexpected', `no nonce from the server (${r.status})`);
    return answer.nonce;
  }

  /**
   * CPS login: an RFC 7523 assertion signed by the card (already unlocked by its PIN), certificate in
   * x5c, server nonce inside. The card computes the signature; the agent only assembles the JWS.
   */
  async cardLogin(
    card: CardHandle,
    idNat: string,
    algorithm: SignatureAlgorithm = card.signatureAlgorithm,
    chain: Buffer[] = [],
  ): Promise<ServerTokens> {
    // A retry signs a fresh assertion with the card (the card's PIN session is still open).
    return this.grant(GRANT.jwtBearer, async () => ({
      assertion: await this.cardAssertion(card, idNat, algorithm, chain),
    }));
  }

  async assertionGrant(assertion: string): Promise<ServerTokens> {
    return this.grant(GRANT.jwtBearer, async () => ({ assertion }));
  }

  async cardAssertion(
    card: CardHandle,
    idNat: string,
    algorithm: SignatureAlgorithm = card.signatureAlgorithm,
    chain: Buffer[] = [],
  ): Promise<string> {
    const nonce = await this.nonce();
    const now = this.time.nowS();
    // The certificate is read (no PIN needed) before signing so the JWS header can carry it.
    const cert = await card.readCertificate();
    if (!cert) throw new ServerError('invalid_assertion', 'the card holds no authentication certificate');
    const header = { alg: JWS_ALG[algorithm], typ: 'JWT', x5c: [cert, ...chain].map((c) => c.toString('base64')) };
    const payload = {
      iss: this.clientId,
      sub: idNat,
      aud: this.issuer,
      iat: now,
      exp: now + ASSERTION_LIFETIME_S,
      jti: randomUUID(),
      nonce,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    const sig = await card.sign(Buffer.from(input, 'ascii'), algorithm);
    return `${input}.${b64url(sig.signature)}`;
  }

  /**
   * Badge tap: the tap's proof re-opens the roaming session, or is refused with `mfa_required` and the
   * login ticket of the code step (BadgeMfaRequired in the error's body); `maxAgeS`: the workstation's
   * own roaming window.
   */
  badge(proof: BadgeProof, maxAgeS?: number): Promise<ServerTokens> {
    const params: Record<string, string> = {
      ...badgeTapParams(proof),
      ...(maxAgeS !== undefined ? { [BADGE_PARAM.maxAge]: String(maxAgeS) } : {}),
    };
    return this.grant(GRANT.badge, async () => params, true);
  }

  /** The code step of a first login: the tap's ticket and the code (a wrong one answers a new ticket). */
  badgeCode(ticket: string, secret: string): Promise<ServerTokens> {
    return this.grant(GRANT.badge, async () => badgeCodeParams(ticket, secret), true);
  }

  /** Background: keeps the open session's tokens fresh, whatever the local clock says. */
  async refresh(refreshToken: string): Promise<ServerTokens> {
    return this.signed(false, async () => this.tokensOf(await oidc.refreshTokenGrant(this.config, refreshToken)));
  }

  /** RFC 8693: a token for one relying party (the DPI), never the workstation's own token. */
  async exchange(accessToken: string, audience: string): Promise<{ accessToken: string; expiresAt: number }> {
    outgoing('audience', audience, TEXT.audience);
    return this.signed(false, async () => {
      const r = await oidc.genericGrantRequest(this.config, GRANT.tokenExchange, {
        subject_token: accessToken,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        audience,
      });
      return { accessToken: r.access_token, expiresAt: Math.floor(this.time.local() / 1000) + (r.expires_in ?? 60) };
    });
  }

  /** Roaming session status; `active: false` when it was ended elsewhere or by an administrator. */
  async sessionStatus(
    accessToken: string,
  ): Promise<{ active: true; expiresAt: number } | { active: false; reason: string }> {
    const r = await this.json('sillage/session', { headers: { authorization: `Bearer ${accessToken}` } });
    const answer = r.status === 200 || r.status === 401 ? answers.sessionStatus(r.body) : null;
    if (!answer) throw refused(r.body, 'unexpected', `session status answered ${r.status}`);
    return answer.active ? { active: true, expiresAt: answer.expires_at } : { active: false, reason: answer.reason };
  }

  /** Global logout: the roaming session ends on every workstation. */
  async logout(accessToken: string): Promise<void> {
    const r = await this.json('sillage/session/end', {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}` },
    });
    if (r.status !== 200 || !answers.logout(r.body)) throw refused(r.body, 'invalid_grant', 'logout refused');
  }

  /** Step 1 of a badge's authentication with the server's keys: its challenge for the card. */
  async relayBegin(body: RelayBeginRequest): Promise<RelayBeginResponse> {
    const r = parseRelayBeginResponse(await this.relay(RELAY_PATH.begin, body));
    if (!r.ok) throw new ServerError('unexpected', r.error);
    return r.value;
  }

  /** Session keys of the application's shared key (random-UID badges read their real UID with them). */
  async relayFinish(body: RelayFinishRequest): Promise<RelayFinishResponse> {
    const r = parseRelayFinishResponse(await this.relay(RELAY_PATH.finish, body));
    if (!r.ok) throw new ServerError('unexpected', r.error);
    return r.value;
  }

  /**
   * A call to the badge key relay. The workstation signs a short private_key_jwt assertion per call (no
   * user session exists yet at tap time), dated by the server's time.
   */
  private relay(path: string, body: object): Promise<Record<string, unknown>> {
    return this.signed(
      false,
      async () => {
        const assertion = await this.assertions.take();
        const r = await this.json(path, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ ...body, client_assertion: assertion }),
        });
        if (r.status !== 200) throw refused(r.body, 'unexpected', `relay refused (${r.status})`);
        return r.body;
      },
      true,
    );
  }

  /**
   * Binds the tapped badge to the person of a CPS login made on this workstation minutes ago, with the
   * badge's relay proof (the server checks it and binds the UID it proves).
   */
  async enrolBadge(
    accessToken: string,
    proof: Extract<BadgeProof, { kind: 'desfire' }>,
    number?: string,
  ): Promise<{ uid: string }> {
    const r = await this.json(BADGE_ENROL_PATH, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(badgeEnrolRequest(proof, number)),
    });
    const answer = r.status === 201 ? answers.enrolment(r.body) : null;
    if (!answer) throw refused(r.body, 'unexpected', `enrolment refused (${r.status})`);
    return { uid: answer.uid };
  }

  async revoke(token: string): Promise<void> {
    await this.signed(false, () => oidc.tokenRevocation(this.config, token));
  }
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
