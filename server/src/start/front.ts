// What every request meets before oidc-provider or a route: the Host and parameter checks of the edge,
// health and readiness, the route table of /sillage/*, the answers to refusals and to a database down,
// the request log and metrics.
import type Koa from 'koa';
import { isClockRefusal } from '../assertions';
import type { Db } from '../db';
import { isDatabaseUnavailable } from '../db';
import { checkForm, claimedClient, EdgeRefusal, FORM_LIMIT, paramsProblem, readBody, replayable } from '../edge';
import type { Log } from '../log';
import type { Metrics } from '../metrics';
import { ROUTES } from '../routes';
import type { RouteKit } from '../routes';
import type { AuditRefusal } from './requests';

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

type OidcContext = { oidc?: { client?: { clientId: string }; params?: Record<string, unknown> } };

/** oidc-provider's endpoints a workstation or a DPI authenticates to, and the audit action of their refusals. */
const AUDITED_ENDPOINTS: Record<string, string> = {
  '/token': 'token.request',
  '/token/introspection': 'token.introspection',
  '/token/revocation': 'token.revocation',
};

/** oidc-provider's endpoints, after the edge read and checked their form body. */
async function oidcEndpoint(ctx: Koa.Context, next: Koa.Next, auditRefusal: AuditRefusal): Promise<void> {
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
  // Refusals decided by oidc-provider itself (unknown or revoked workstation, bad client assertion or
  // secret...) are audited here, once the response is known; our grants audit their own.
  const action = AUDITED_ENDPOINTS[ctx.path];
  if (ctx.method === 'POST' && action && ctx.status >= 400 && !state.audited) {
    const body = (ctx.body ?? {}) as { error?: string; error_description?: string };
    const detail = (state.refusal as { error_detail?: string } | undefined)?.error_detail;
    const oc = (ctx as unknown as OidcContext).oidc;
    await auditRefusal(ctx, oc?.client?.clientId ?? claimedClient(oc?.params ?? {}), {
      action,
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

/** Health and readiness probes: true when the request was one. */
async function probe(ctx: Koa.Context, db: Db): Promise<boolean> {
  if (ctx.path === '/healthz') {
    ctx.body = { status: 'ok' };
    return true;
  }
  if (ctx.path !== '/readyz') return false;
  try {
    await db.query('SELECT 1');
    ctx.body = { status: 'ready' };
  } catch {
    ctx.status = 503;
    ctx.body = { status: 'database unreachable' };
  }
  return true;
}

/** The answer to what a request threw: a refusal of the edge (audited), a client's fault, a database down. */
async function answerThrown(ctx: Koa.Context, e: unknown, log: Log, auditRefusal: AuditRefusal): Promise<void> {
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
}

export interface FrontDeps {
  db: Db;
  kit: RouteKit;
  log: Log;
  metrics: Metrics | null;
  auditRefusal: AuditRefusal;
  /** True once the server is stopping. */
  closing: () => boolean;
}

export function front(deps: FrontDeps): Koa.Middleware {
  const { db, kit, log, metrics, auditRefusal } = deps;
  return async (ctx, next) => {
    const started = performance.now();
    // Stopping: answer what is under way, on connections that then close (the agents reconnect elsewhere).
    if (deps.closing()) ctx.set('connection', 'close');
    try {
      // A Host that is no host[:port] (quotes, '<', '%', spaces) makes URL building throw deep inside
      // oidc-provider: refuse it here, as the 400 it is.
      if (!validHost(ctx.get('host'))) {
        ctx.status = 400;
        ctx.body = { error: 'invalid_request', error_description: 'invalid Host header' };
        return;
      }
      if (await probe(ctx, db)) return;
      // The edge: no text parameter reaches oidc-provider or a route unchecked.
      const problem = paramsProblem(ctx.query);
      if (problem) throw new EdgeRefusal(400, problem);
      if (!ctx.path.startsWith('/sillage/')) return await oidcEndpoint(ctx, next, auditRefusal);
      ctx.set('cache-control', 'no-store');
      const route = ROUTES[`${ctx.method} ${ctx.path}`];
      if (!route) {
        ctx.status = 404;
        ctx.body = { error: 'not_found' };
        return;
      }
      await route(ctx, kit);
    } catch (e) {
      await answerThrown(ctx, e, log, auditRefusal);
    } finally {
      if (ctx.path !== '/healthz' && ctx.path !== '/readyz') {
        const ms = performance.now() - started;
        log.info('request', { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms) });
        metrics?.request(routeLabel(ctx), grantTypeOf(ctx), ctx.status, ms / 1000);
      }
    }
  };
}

/**
 * Koa prints every error it is told of to stderr, a client's own fault included (a connection reset,
 * a malformed chunk mid-body): those go to our log as the requests they are, server faults as errors.
 */
export function koaErrorLog(log: Log) {
  return (err: Error & { code?: string; status?: number }, ctx?: Koa.Context) => {
    const client =
      (err.status !== undefined && err.status < 500) ||
      err.message === 'aborted' ||
      err.code?.startsWith('HPE_') ||
      ['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE'].includes(err.code ?? '');
    const fields = { err: err.message, ...(ctx ? { method: ctx.method, path: ctx.path } : {}) };
    if (client) log.info('request broken by the client', fields);
    else log.error('server error', fields);
  };
}
