// What the front and the routes work with about requests: the audit of refusals of requests nobody
// authenticated, and the bearer check of a workstation's access token for the Sillage API.
import type Koa from 'koa';
import type Provider from 'oidc-provider';
import type { Audit, AuditEntry } from '../audit';
import type { Directory } from '../directory';
import type { Log } from '../log';
import type { Metrics } from '../metrics';
import { forSillageApi } from '../provider';
import { RefusalAudit, refusalSource } from '../refusals';
import type { RefusalLimits } from '../refusals';
import type { RouteKit } from '../routes';
import type { Sessions } from '../sessions';

export type AuditRefusal = RouteKit['auditRefusal'];

/**
 * The refusal of a request nobody authenticated: recorded in full a few times per window and source
 * (`client`: the client it names, else the address it came from), then counted. When the database
 * holding the audit is down, the log keeps the record.
 */
export function refusalAudit(deps: {
  audit: Audit;
  log: Log;
  now: () => Date;
  limits: RefusalLimits | undefined;
  metrics: Metrics | null;
}): { refusals: RefusalAudit; auditRefusal: AuditRefusal } {
  const { audit, log, metrics } = deps;
  async function appendRefusal(entry: AuditEntry): Promise<void> {
    try {
      await audit.append(entry);
    } catch (e) {
      log.error('audit unavailable: refusal recorded in this log', { ...entry, err: (e as Error).message });
    }
  }
  const refusals = new RefusalAudit(appendRefusal, deps.now, deps.limits, {
    ...(metrics ? { counted: (e: AuditEntry) => metrics.decision(e) } : {}),
  });
  const auditRefusal: AuditRefusal = (ctx, client, entry) =>
    refusals.record(refusalSource(client, ctx.req.socket.remoteAddress), entry);
  return { refusals, auditRefusal };
}

/**
 * The roaming session behind a workstation's access token for the Sillage API, or null: unknown,
 * revoked or expired token, a token for another audience (a DPI's), a revoked workstation's. The last
 * two are attempts, audited.
 */
export function bearerCheck(deps: {
  /** The provider of the moment (it changes with the signing keys). */
  provider: () => Provider;
  api: string;
  sessions: Sessions;
  /** Read fresh for each token: oidc-provider's client lookup answers from memory (adapter.ts). */
  directory: Pick<Directory, 'workstation'>;
  auditRefusal: AuditRefusal;
}): RouteKit['bearer'] {
  const { api, sessions, directory, auditRefusal } = deps;
  return async (ctx: Koa.Context) => {
    const m = /^Bearer ([\w.~+/-]{1,512}=*)$/.exec(ctx.get('authorization'));
    if (!m) return null;
    const provider = deps.provider();
    const at = await provider.AccessToken.find(m[1]!);
    if (!at || at.isExpired || !at.sid) return null;
    const refused = !forSillageApi(at, api)
      ? 'wrong_audience'
      : !(await directory.workstation(at.clientId!))?.active
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
  };
}
