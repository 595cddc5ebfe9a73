// The session server as one HTTP listener: OIDC endpoints (oidc-provider), Sillage endpoints (the route
// table in routes/: nonce, badge key relay, workstation registration, roaming-session status and global
// logout, badge self-enrolment), health and readiness. Stateless: every instance on the same database
// behaves as one.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import { DEFAULT_CLOCK_SKEW_S } from '@sillage/protocol';
import type { WeakBadgeProofKind } from '@sillage/protocol';
import { pruneExpired } from './adapter';
import { isClockRefusal, WorkstationAssertions } from './assertions';
import { Audit } from './audit';
import type { AuditEntry } from './audit';
import { NonceIssuer, TrustStore } from './cps';
import type { Db } from './db';
import { isDatabaseUnavailable, migrate } from './db';
import { DEFAULT_DIRECTORY_POLICY, Directory } from './directory';
import type { DirectoryPolicy } from './directory';
import { jsonLog } from './log';
import type { Log } from './log';
import { DesfireRelay, relayKeysFrom } from './desfire-relay';
import type { RelayKeys } from './desfire-relay';
import { checkForm, claimedClient, EdgeRefusal, FORM_LIMIT, paramsProblem, readBody, replayable } from './edge';
import { DEFAULT_LOGIN_TICKET_SECONDS, loginTicketSeconds } from './grants/badge';
import { createProvider, forSillageApi, sillageApi } from './provider';
import type { RelyingParty } from './provider';
import { checkpointKeys, keyPlan, SecretStore } from './secrets';
import type { Kek, KeyPlan } from './secrets';
import { Metrics, serveMetrics } from './metrics';
import { Sessions } from './sessions';
import { SingleUse } from './single-use';
import { RefusalAudit, refusalSource } from './refusals';
import type { RefusalLimits } from './refusals';
import { ROUTES } from './routes';
import type { RouteKit } from './routes';

export interface ServerOptions {
  db: Db;
  /** Public base URL; when omitted it is http://127.0.0.1:<port>. */
  issuer?: string;
  port?: number;
  host?: string;
  trustAnchorsPem: string[];
  intermediateCasPem?: string[];
  relyingParties?: RelyingParty[];
  mfaWindowMs?: number;
  accessTokenTtlS?: number;
  /** How far a workstation's clock may be from the server's, in seconds (default 120). */
  clockSkewS?: number;
  /**
   * Badge proofs the server cannot check that it accepts anyway: `local-key` (keys on the workstation),
   * `reader-verified` (readers that check badges with their own keys), `uid-only`. None by default.
   */
  weakBadgeProofs?: WeakBadgeProofKind[];
  /**
   * How long the code step of a first login may come after the badge tap (its login ticket's lifetime), in
   * seconds: 30 to 600, default 120.
   */
  loginTicketSeconds?: number;
  /** How long after a CPS login its workstation may enrol a badge for that person (default 5 min). */
  badgeEnrolmentWindowMs?: number;
  /** DESFire master keys held for the badge relay, "AID/keyNo" → hex (server custody). */
  desfireKeys?: Record<string, string>;
  /** Or the keys in a PKCS#11 token (HSM): takes precedence over desfireKeys. */
  desfireKeyStore?: RelayKeys;
  directoryPolicy?: DirectoryPolicy;
  /** Key-encryption key sealing the server's secrets in the database (secrets.ts); none: kept in clear. */
  secretsKey?: Kek | null;
  /** How often each instance re-reads the signing keys (a rotation, an expiry): every 30 s by default. */
  keyRefreshMs?: number;
  /**
   * How many refusals of unauthenticated requests are recorded in full before they are only counted
   * (default: per minute, 10 per action and source, 200 in all, 100 sources per action).
   */
  refusalLimits?: RefusalLimits;
  /** How often the audit head gets a signed checkpoint when it moved: every 5 min by default; 0: never. */
  auditCheckpointMs?: number;
  /** Prometheus metrics on their own listener (off when omitted; port 0 = any free port). */
  metrics?: { port: number; host?: string };
  now?: () => Date;
  log?: Log;
}

export interface SessionServer {
  issuer: string;
  port: number;
  directory: Directory;
  sessions: Sessions;
  audit: Audit;
  /** Re-reads the signing keys now, as the periodic refresh does: a rotation or an expiry due applies. */
  refreshKeys(): Promise<void>;
  /** Port of the metrics listener, when enabled. */
  metricsPort?: number;
  close(): Promise<void>;
}

/**
 * Every route, when the database is down: 503, nothing issued or changed. The agents read it as
 * "server unreachable" (locked screen says so; an open session stays open, no surprise logout).
 */
function databaseUnavailable(ctx: Koa.Context): void {
  ctx.status = 503;
  ctx.set('retry-after', '5');
  ctx.body = {
    error: 'temporarily_unavailable',
    error_description: 'session database unavailable: nothing was issued, try again',
    sillage_error: 'server_unavailable',
  };
}

/** RFC 3986 host (reg-name, IPv4 or [IPv6]) and an optional port, that URL parsing takes as a host. */
const HOST_SYNTAX = /^(?:[A-Za-z0-9._~!$&'()*+,;=-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const validHost = (h: string) => h.length <= 260 && HOST_SYNTAX.test(h) && URL.canParse(`http://${h}/`);

/** How long a stopping instance waits for the requests under way before cutting them. */
const DRAIN_MS = 5000;

/** The route of a request as a metrics label: a /sillage route, the token endpoint, or the rest of OIDC. */
function routeLabel(ctx: Koa.Context): string {
  const key = `${ctx.method} ${ctx.path}`;
  if (ROUTES[key] || key === 'POST /token') return key;
  return ctx.path.startsWith('/sillage/') ? 'unknown' : 'oidc';
}

function grantTypeOf(ctx: Koa.Context): string | undefined {
  if (ctx.path !== '/token') return undefined;
  const params = (ctx as unknown as { oidc?: { params?: Record<string, unknown> } }).oidc?.params;
  return typeof params?.grant_type === 'string' ? params.grant_type : 'unknown';
}

export async function startServer(opts: ServerOptions): Promise<SessionServer> {
  const ticketSeconds = loginTicketSeconds(opts.loginTicketSeconds ?? DEFAULT_LOGIN_TICKET_SECONDS);
  const log = opts.log ?? jsonLog();
  const now = opts.now ?? (() => new Date());
  const db = opts.db;
  await migrate(db);
  const directory = new Directory(db, opts.directoryPolicy ?? DEFAULT_DIRECTORY_POLICY, now);
  const sessions = new Sessions(db, opts.mfaWindowMs ?? 4 * 3600_000, now);
  const store = new SecretStore(db, opts.secretsKey ?? null);
  let secrets = await store.open(now());
  if (!store.sealed)
    log.warn(
      'server secrets stored in clear in the database: give a key-encryption key (--secrets-key-file) to seal them',
    );
  const accessTokenTtlS = opts.accessTokenTtlS ?? 600;
  // A replaced signing key stays published while the ID tokens it signed live (their TTL, plus clock skew).
  const retainMs = (accessTokenTtlS + 300) * 1000;
  let plan: KeyPlan = keyPlan(secrets, now(), retainMs);
  const metrics = opts.metrics ? new Metrics({ db, activeSessions: () => sessions.countActive() }) : null;
  const audit = new Audit(
    db,
    now,
    async () => checkpointKeys(secrets, plan),
    metrics ? (e) => metrics.decision(e) : undefined,
  );
  const nonceKey = Buffer.from(secrets.nonceKey, 'base64url');
  const nonces = new NonceIssuer(nonceKey, 120_000, now);
  const trust = new TrustStore(opts.trustAnchorsPem, opts.intermediateCasPem ?? []);
  const skewS = opts.clockSkewS ?? DEFAULT_CLOCK_SKEW_S;
  if (!(Number.isInteger(skewS) && skewS >= 0 && skewS <= 900))
    throw new Error(`clock skew must be a whole number of seconds from 0 to 900 (got ${skewS})`);

  // The issuer must be known before the provider exists: bind first when the port is chosen by the OS.
  // Until the provider is ready (migrations, keys), answer 503 rather than leave requests unanswered:
  // probes and early agents get a clear "not ready" instead of a hung connection.
  const starting = (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"status":"starting"}');
  };
  const server = http.createServer(starting);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = (opts.issuer ?? `http://127.0.0.1:${port}`).replace(/\/$/, '');
  const api = sillageApi(issuer);
  const assertions = new WorkstationAssertions(db, directory, issuer, skewS);
  const once = new SingleUse(db);
  const relay = new DesfireRelay(
    opts.desfireKeyStore ?? relayKeysFrom(opts.desfireKeys ?? {}),
    nonceKey,
    assertions,
    once,
    now,
  );

  const providerDeps = {
    issuer,
    db,
    directory,
    sessions,
    audit,
    trust,
    log,
    now,
    relyingParties: opts.relyingParties ?? [],
    weakBadgeProofs: opts.weakBadgeProofs ?? [],
    relay,
    once,
    serverSecret: nonceKey,
    accessTokenTtlS,
    loginTicketSeconds: ticketSeconds,
    assertions,
  };

  /** An audit record of a refusal; when the database holding the audit is down, the log keeps it. */
  async function appendRefusal(entry: AuditEntry): Promise<void> {
    try {
      await audit.append(entry);
    } catch (e) {
      log.error('audit unavailable: refusal recorded in this log', { ...entry, err: (e as Error).message });
    }
  }
  const refusals = new RefusalAudit(appendRefusal, now, opts.refusalLimits, {
    ...(metrics ? { counted: (e: AuditEntry) => metrics.decision(e) } : {}),
  });
  /**
   * The refusal of a request nobody authenticated: recorded in full a few times per window and source
   * (`client`: the client it names, else the address it came from), then counted.
   */
  const auditRefusal = (ctx: Koa.Context, client: string | null | undefined, entry: AuditEntry) =>
    refusals.record(refusalSource(client, ctx.req.socket.remoteAddress), entry);

  /**
   * The roaming session behind a workstation's access token for the Sillage API, or null: unknown,
   * revoked or expired token, a token for another audience (a DPI's), a revoked workstation's. The last
   * two are attempts, audited.
   */
  async function bearer(ctx: Koa.Context) {
    const m = /^Bearer ([\w.~+/-]{1,512}=*)$/.exec(ctx.get('authorization'));
    if (!m) return null;
    const { provider } = current;
    const at = await provider.AccessToken.find(m[1]!);
    if (!at || at.isExpired || !at.sid) return null;
    const refused = !forSillageApi(at, api)
      ? 'wrong_audience'
      : !(await provider.Client.find(at.clientId!))
        ? 'workstation_revoked'
        : null;
    if (refused) {
      await auditRefusal(ctx, at.clientId, {
        action: 'token.use',
        outcome: 'refused',
        accountId: at.accountId,
        workstation: at.clientId,
        reason: refused,
        details: { path: ctx.path, aud: (at.aud as string | undefined) ?? null, gty: at.gty ?? null },
      });
      return null;
    }
    const s = await sessions.get(at.sid);
    return s ? { at, session: s } : null;
  }

  /** oidc-provider's endpoints, after the edge read and checked their form body. */
  async function oidcEndpoint(ctx: Koa.Context, next: Koa.Next): Promise<void> {
    if (ctx.method === 'POST' && ctx.is('application/x-www-form-urlencoded')) {
      const body = await readBody(ctx.req, FORM_LIMIT);
      checkForm(body);
      ctx.req = replayable(ctx.req, body);
    }
    await next();
    const state = ctx.state as { audited?: boolean; serverError?: unknown; refusal?: unknown };
    if (ctx.status === 500 && isDatabaseUnavailable(state.serverError)) databaseUnavailable(ctx);
    // A workstation assertion outside the accepted clock skew: the agent tells its user to call IT.
    if (ctx.status === 401 && isClockRefusal(state.refusal))
      ctx.body = { ...(ctx.body as Record<string, unknown>), sillage_error: 'clock_skew' };
    // Refusals decided by oidc-provider itself (unknown or revoked workstation, bad client assertion...)
    // are audited here, once the response is known; our grants audit their own.
    if (ctx.method === 'POST' && ctx.path === '/token' && ctx.status >= 400 && !state.audited) {
      const body = (ctx.body ?? {}) as { error?: string; error_description?: string };
      const detail = (state.refusal as { error_detail?: string } | undefined)?.error_detail;
      const oc = (ctx as unknown as { oidc?: { client?: { clientId: string }; params?: Record<string, unknown> } })
        .oidc;
      await auditRefusal(ctx, oc?.client?.clientId ?? claimedClient(oc?.params ?? {}), {
        action: 'token.request',
        outcome: 'refused',
        workstation: oc?.client?.clientId ?? null,
        reason: `${body.error ?? 'error'}: ${body.error_description ?? ''}${detail ? ` (${detail})` : ''}`,
        // Who asked, as claimed (not authenticated) when authentication is what failed.
        details: {
          grant_type: (oc?.params?.grant_type as string | undefined) ?? null,
          ...(oc?.client ? {} : { claimed_client_id: (oc?.params?.client_id as string | undefined) ?? null }),
        },
      });
    }
  }

  const kit: RouteKit = {
    db,
    directory,
    sessions,
    audit,
    nonces,
    relay,
    issuer,
    log,
    bearer,
    auditRefusal,
    now,
    badgeEnrolmentWindowMs: opts.badgeEnrolmentWindowMs ?? 5 * 60_000,
  };

  // Koa prints every error it is told of to stderr, a client's own fault included (a connection reset,
  // a malformed chunk mid-body): those go to our log as the requests they are, server faults as errors.
  const onKoaError = (err: Error & { code?: string; status?: number }, ctx?: Koa.Context) => {
    const client =
      (err.status !== undefined && err.status < 500) ||
      err.message === 'aborted' ||
      err.code?.startsWith('HPE_') ||
      ['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE'].includes(err.code ?? '');
    const fields = { err: err.message, ...(ctx ? { method: ctx.method, path: ctx.path } : {}) };
    if (client) log.info('request broken by the client', fields);
    else log.error('server error', fields);
  };

  let closing = false;
  const middleware: Koa.Middleware = async (ctx, next) => {
    const started = performance.now();
    // Stopping: answer what is under way, on connections that then close (the agents reconnect elsewhere).
    if (closing) ctx.set('connection', 'close');
    try {
      // A Host that is no host[:port] (quotes, '<', '%', spaces) makes URL building throw deep inside
      // oidc-provider: refuse it here, as the 400 it is.
      if (!validHost(ctx.get('host'))) {
        ctx.status = 400;
        ctx.body = { error: 'invalid_request', error_description: 'invalid Host header' };
        return;
      }
      if (ctx.path === '/healthz') {
        ctx.body = { status: 'ok' };
        return;
      }
      if (ctx.path === '/readyz') {
        try {
          await db.query('SELECT 1');
          ctx.body = { status: 'ready' };
        } catch {
          ctx.status = 503;
          ctx.body = { status: 'database unreachable' };
        }
        return;
      }
      // The edge: no text parameter reaches oidc-provider or a route unchecked.
      const problem = paramsProblem(ctx.query);
      if (problem) throw new EdgeRefusal(400, problem);
      if (!ctx.path.startsWith('/sillage/')) return await oidcEndpoint(ctx, next);
      ctx.set('cache-control', 'no-store');
      const route = ROUTES[`${ctx.method} ${ctx.path}`];
      if (!route) {
        ctx.status = 404;
        ctx.body = { error: 'not_found' };
        return;
      }
      await route(ctx, kit);
    } catch (e) {
      if (e instanceof EdgeRefusal) {
        ctx.status = e.status;
        ctx.body = { error: 'invalid_request', error_description: e.message };
        await auditRefusal(ctx, e.claimedClient ?? claimedClient(ctx.query), {
          action: 'request.refused',
          outcome: 'refused',
          reason: `invalid_request: ${e.message}`,
          details: { method: ctx.method, path: ctx.path.slice(0, 200) },
        });
        return;
      }
      const status = (e as { status?: number }).status;
      if (status && status < 500) {
        ctx.status = status;
        ctx.body = { error: 'invalid_request', error_description: (e as Error).message };
        return;
      }
      if (isDatabaseUnavailable(e)) {
        log.error('server error', { err: (e as Error).message });
        return databaseUnavailable(ctx);
      }
      throw e;
    } finally {
      if (ctx.path !== '/healthz' && ctx.path !== '/readyz') {
        const ms = performance.now() - started;
        log.info('request', { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms) });
        metrics?.request(routeLabel(ctx), grantTypeOf(ctx), ctx.status, ms / 1000);
      }
    }
  };

  // oidc-provider takes its keys at construction (rotating them means a new provider, as a restart
  // would): a key change builds the next one, which takes the following requests.
  const build = (p: KeyPlan) => {
    const { provider } = createProvider(providerDeps, { jwks: p.jwks, cookieKeys: secrets.cookieKeys, nonces });
    provider.use(middleware);
    // The provider is the Koa app itself.
    (provider as Koa).on('error', onKoaError);
    return { provider, plan: p, handle: provider.callback() };
  };
  let current = build(plan);

  let refreshing: Promise<void> | null = null;
  const refreshKeys = () =>
    (refreshing ??= (async () => {
      try {
        secrets = (await store.read()) ?? secrets;
        let next = keyPlan(secrets, now(), retainMs);
        if (next.expired.length) {
          secrets = await store.expire(next.expired);
          log.info('signing keys expired', { kids: next.expired });
          next = keyPlan(secrets, now(), retainMs);
        }
        plan = next;
        if (next.id !== current.plan.id) {
          current = build(next);
          log.info('signing keys changed', {
            signing: [next.signing.ES256.kid, next.signing.RS256.kid],
            published: next.jwks.map((k) => k.kid),
          });
        }
      } finally {
        refreshing = null;
      }
    })());

  server.off('request', starting);
  server.on('request', (req, res) => void current.handle(req, res));
  // Agents reuse their connection from one tap to the next (a tap is two requests): keep idle ones a
  // minute, longer than the agents' own idle timeout learnt from this header.
  server.keepAliveTimeout = 65_000;
  const prune = setInterval(() => void pruneExpired(db).catch(() => {}), 60_000);
  prune.unref();
  const keyRefresh = setInterval(
    () =>
      void refreshKeys().catch((e: unknown) => log.error('signing keys not refreshed', { err: (e as Error).message })),
    opts.keyRefreshMs ?? 30_000,
  );
  keyRefresh.unref();
  const checkpointEvery = opts.auditCheckpointMs ?? 300_000;
  // Each checkpoint also goes to the log, kept apart from the database (verify --checkpoints reads it back).
  // One checkpoint at a time; close() waits for the one under way, so none is signed after it.
  let checkpointing: Promise<unknown> | null = null;
  const checkpoints = checkpointEvery
    ? setInterval(() => {
        checkpointing ??= audit
          .checkpoint()
          .then((cp) => cp && log.info('audit checkpoint', { seq: cp.seq, hash: cp.hash, jws: cp.jws }))
          .catch((e: unknown) => log.error('audit checkpoint failed', { err: (e as Error).message }))
          .finally(() => (checkpointing = null));
      }, checkpointEvery)
    : null;
  checkpoints?.unref();
  const metricsServer = metrics
    ? await serveMetrics(metrics, opts.metrics!.port, opts.metrics!.host ?? '127.0.0.1', log)
    : null;
  log.info('session server started', {
    issuer,
    database: db.kind,
    trustAnchors: trust.size,
    secretsSealed: store.sealed,
    signing: [plan.signing.ES256.kid, plan.signing.RS256.kid],
    ...(metricsServer ? { metricsPort: metricsServer.port } : {}),
  });

  return {
    issuer,
    port,
    directory,
    sessions,
    audit,
    refreshKeys,
    ...(metricsServer ? { metricsPort: metricsServer.port } : {}),
    async close() {
      clearInterval(prune);
      clearInterval(keyRefresh);
      if (checkpoints) clearInterval(checkpoints);
      await checkpointing;
      await metricsServer?.close();
      metrics?.close();
      // No new connection; idle ones close now, requests under way are answered (a rolling restart fails
      // none of them), and whatever is still open after a few seconds is cut.
      closing = true;
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), DRAIN_MS)));
      if ((await Promise.race([closed, late])) === 'late') server.closeAllConnections();
      clearTimeout(timer);
      await closed;
      // The counts of refusals not recorded one by one.
      await refusals.close();
    },
  };
}
