// The session server as one HTTP listener: OIDC endpoints (oidc-provider), Sillage endpoints
// (nonce, workstation registration, roaming-session status and global logout, badge self-enrolment),
// health and readiness. Stateless: every instance on the same database behaves as one.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import { ACR } from '@sillage/protocol';
import { pruneExpired } from './adapter';
import { Audit } from './audit';
import { TrustStore } from './cps';
import type { Db } from './db';
import { isDatabaseUnavailable, migrate } from './db';
import { DEFAULT_DIRECTORY_POLICY, Directory } from './directory';
import type { DirectoryPolicy } from './directory';
import { jsonLog } from './log';
import type { Log } from './log';
import { DesfireRelay, RelayError, relayKeysFrom } from './desfire-relay';
import type { RelayKeys } from './desfire-relay';
import { createProvider, sharedSecrets } from './provider';
import type { RelyingParty } from './provider';
import { Sessions } from './sessions';

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
  allowUidOnlyBadges?: boolean;
  /** DESFire master keys held for the badge relay, "AID/keyNo" → hex (server custody). */
  desfireKeys?: Record<string, string>;
  /** Or the keys in a PKCS#11 token (HSM): takes precedence over desfireKeys. */
  desfireKeyStore?: RelayKeys;
  directoryPolicy?: DirectoryPolicy;
  now?: () => Date;
  log?: Log;
}

export interface SessionServer {
  issuer: string;
  port: number;
  directory: Directory;
  sessions: Sessions;
  audit: Audit;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

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

async function readJson(ctx: Koa.Context): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of ctx.req) {
    n += (c as Buffer).length;
    if (n > MAX_BODY) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(c as Buffer);
  }
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error();
    return v as Record<string, unknown>;
  } catch {
    throw Object.assign(new Error('body must be a JSON object'), { status: 400 });
  }
}

export async function startServer(opts: ServerOptions): Promise<SessionServer> {
  const log = opts.log ?? jsonLog();
  const now = opts.now ?? (() => new Date());
  const db = opts.db;
  await migrate(db);
  const directory = new Directory(db, opts.directoryPolicy ?? DEFAULT_DIRECTORY_POLICY, now);
  const sessions = new Sessions(db, opts.mfaWindowMs ?? 4 * 3600_000, now);
  const audit = new Audit(db, now);
  const trust = new TrustStore(opts.trustAnchorsPem, opts.intermediateCasPem ?? []);

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

  const { provider, nonces } = await createProvider({
    issuer,
    db,
    directory,
    sessions,
    audit,
    trust,
    log,
    now,
    relyingParties: opts.relyingParties ?? [],
    allowUidOnlyBadges: opts.allowUidOnlyBadges ?? false,
    accessTokenTtlS: opts.accessTokenTtlS ?? 600,
  });

  const relay = new DesfireRelay(
    opts.desfireKeyStore ?? relayKeysFrom(opts.desfireKeys ?? {}),
    (await sharedSecrets(db)).nonceKey,
    directory,
    issuer,
    db,
    now,
  );

  /** The roaming session behind a workstation access token, or null (unknown, revoked, expired). */
  async function bearer(ctx: Koa.Context) {
    const m = /^Bearer (.+)$/.exec(ctx.get('authorization'));
    if (!m) return null;
    const at = await provider.AccessToken.find(m[1]!);
    if (!at || at.isExpired || !at.sid) return null;
    const s = await sessions.get(at.sid);
    return s ? { at, session: s } : null;
  }

  provider.use(async (ctx, next) => {
    const started = Date.now();
    try {
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
      if (!ctx.path.startsWith('/sillage/')) {
        await next();
        const state = ctx.state as { audited?: boolean; serverError?: unknown };
        if (ctx.status === 500 && isDatabaseUnavailable(state.serverError)) databaseUnavailable(ctx);
        // Refusals decided by oidc-provider itself (unknown or revoked workstation, bad client
        // assertion...) are audited here, once the response is known; our grants audit their own.
        if (ctx.method === 'POST' && ctx.path === '/token' && ctx.status >= 400 && !state.audited) {
          const body = (ctx.body ?? {}) as { error?: string; error_description?: string };
          const oc = (ctx as unknown as { oidc?: { client?: { clientId: string }; params?: Record<string, unknown> } })
            .oidc;
          const entry = {
            action: 'token.request',
            outcome: 'refused' as const,
            workstation: oc?.client?.clientId ?? null,
            reason: `${body.error ?? 'error'}: ${body.error_description ?? ''}`,
            // Who asked, as claimed (not authenticated) when authentication is what failed.
            details: {
              grant_type: (oc?.params?.grant_type as string | undefined) ?? null,
              ...(oc?.client ? {} : { claimed_client_id: (oc?.params?.client_id as string | undefined) ?? null }),
            },
          };
          try {
            await audit.append(entry);
          } catch (e) {
            // The audit table lives in the database that is down: the refusal goes to the log instead.
            log.error('audit unavailable: refusal recorded in this log', { ...entry, err: (e as Error).message });
          }
        }
        return;
      }
      ctx.set('cache-control', 'no-store');
      const route = `${ctx.method} ${ctx.path}`;
      switch (route) {
        case 'POST /sillage/nonce': {
          const n = nonces.issue();
          ctx.body = { nonce: n.nonce, expires_at: Math.floor(n.expiresAt.getTime() / 1000) };
          return;
        }
        case 'POST /sillage/desfire/auth/begin':
        case 'POST /sillage/desfire/auth/finish': {
          const body = await readJson(ctx);
          const finish = ctx.path.endsWith('/finish');
          let ws: string | null = null;
          try {
            ws = await relay.workstation(body.client_assertion);
            if (!finish) {
              const r = relay.begin(ws, body);
              ctx.body = { handle: r.handle, reply: r.reply };
              return;
            }
            const r = relay.finish(ws, body);
            await audit.append({
              action: 'badge.relay-auth',
              outcome: 'ok',
              workstation: ws,
              details: { key: r.keyName },
            });
            ctx.body = r.keys;
          } catch (e) {
            if (!(e instanceof RelayError)) throw e;
            if (finish || e.status === 401)
              await audit.append({
                action: 'badge.relay-auth',
                outcome: 'refused',
                workstation: ws,
                reason: `${e.error}: ${e.message}`,
              });
            ctx.status = e.status;
            ctx.body = { error: e.error, error_description: e.message };
          }
          return;
        }
        case 'POST /sillage/workstations': {
          const b = await readJson(ctx);
          const jwks = b.jwks as { keys?: unknown[] } | undefined;
          if (
            typeof b.enrolment_token !== 'string' ||
            typeof b.name !== 'string' ||
            !Array.isArray(jwks?.keys) ||
            jwks.keys.length === 0
          ) {
            ctx.status = 400;
            ctx.body = { error: 'invalid_request', error_description: 'enrolment_token, name and jwks are required' };
            return;
          }
          // Only public keys: a private JWK sent by mistake is refused rather than stored.
          if (jwks.keys.some((k) => typeof k !== 'object' || k === null || 'd' in k)) {
            ctx.status = 400;
            ctx.body = { error: 'invalid_request', error_description: 'jwks must hold public keys only' };
            return;
          }
          const r = await directory.registerWorkstation(b.enrolment_token, b.name.slice(0, 200), { keys: jwks.keys });
          if ('refused' in r) {
            await audit.append({
              action: 'workstation.register',
              outcome: 'refused',
              reason: r.refused,
              details: { name: b.name.slice(0, 200) },
            });
            ctx.status = 403;
            ctx.body = { error: 'access_denied', error_description: r.refused };
            return;
          }
          await audit.append({
            action: 'workstation.register',
            outcome: 'ok',
            workstation: r.clientId,
            details: { name: b.name.slice(0, 200) },
          });
          ctx.status = 201;
          ctx.body = { client_id: r.clientId, issuer };
          return;
        }
        case 'GET /sillage/session': {
          // Polled by agents: a revoked or ended session answers 401 and the workstation locks.
          const b = await bearer(ctx);
          if (!b || !sessions.isLive(b.session)) {
            ctx.status = 401;
            ctx.body = {
              error: 'invalid_token',
              active: false,
              reason: b?.session.endReason ?? (b ? 'expired' : 'unknown'),
            };
            return;
          }
          ctx.body = {
            active: true,
            session_id: b.session.id,
            auth_time: Math.floor(b.session.authTime.getTime() / 1000),
            expires_at: Math.floor(b.session.expiresAt.getTime() / 1000),
          };
          return;
        }
        case 'POST /sillage/session/end': {
          const b = await bearer(ctx);
          if (!b) {
            ctx.status = 401;
            ctx.body = { error: 'invalid_token' };
            return;
          }
          const r = await sessions.end(b.session.id, 'user-logout');
          await audit.append({
            action: 'session.logout',
            outcome: 'ok',
            accountId: b.session.accountId,
            workstation: b.at.clientId,
            details: { session: b.session.id, workstations: r.workstations },
          });
          ctx.body = { ended: r.ended, workstations: r.workstations.length };
          return;
        }
        case 'POST /sillage/badges': {
          // Self-enrolment of a new badge right after a 2-factor login (CPS + PIN) on this workstation.
          const b = await bearer(ctx);
          const body = await readJson(ctx);
          if (!b || !sessions.isLive(b.session)) {
            ctx.status = 401;
            ctx.body = { error: 'invalid_token' };
            return;
          }
          if (
            b.session.acr !== ACR.mfa ||
            !b.session.amr.includes('sc') ||
            (b.at as unknown as { gty?: string }).gty?.includes('badge')
          ) {
            await audit.append({
              action: 'badge.enrol',
              outcome: 'refused',
              accountId: b.session.accountId,
              workstation: b.at.clientId,
              reason: 'needs a CPS login',
            });
            ctx.status = 403;
            ctx.body = {
              error: 'insufficient_user_authentication',
              error_description: 'a badge is enrolled right after a CPS card + PIN login',
            };
            return;
          }
          if (
            typeof body.badge_id !== 'string' ||
            body.badge_proof === 'uid-only' ||
            typeof body.badge_proof !== 'string'
          ) {
            ctx.status = 400;
            ctx.body = {
              error: 'invalid_request',
              error_description: 'a cryptographically proven badge_id is required',
            };
            return;
          }
          const r = await directory.bindBadge(body.badge_id, b.session.accountId);
          await audit.append({
            action: 'badge.enrol',
            outcome: r.ok ? 'ok' : 'refused',
            accountId: b.session.accountId,
            workstation: b.at.clientId,
            reason: r.ok ? null : 'badge already bound to another account',
            details: { badgeId: body.badge_id },
          });
          ctx.status = r.ok ? 201 : 409;
          ctx.body = r.ok
            ? { enrolled: true }
            : { error: 'conflict', error_description: 'ce badge appartient déjà à une autre personne' };
          return;
        }
        default:
          ctx.status = 404;
          ctx.body = { error: 'not_found' };
      }
    } catch (e) {
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
      if (ctx.path !== '/healthz')
        log.info('request', { method: ctx.method, path: ctx.path, status: ctx.status, ms: Date.now() - started });
    }
  });

  server.off('request', starting);
  server.on('request', provider.callback());
  const prune = setInterval(() => void pruneExpired(db).catch(() => {}), 60_000);
  prune.unref();
  log.info('session server started', { issuer, database: db.kind, trustAnchors: trust.size });

  return {
    issuer,
    port,
    directory,
    sessions,
    audit,
    async close() {
      clearInterval(prune);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
