// The session server as one HTTP listener: OIDC endpoints (oidc-provider), Sillage endpoints (the route
// table in routes/: nonce, badge key relay, workstation registration, roaming-session status and global
// logout, badge self-enrolment), health and readiness. Stateless: every instance on the same database
// behaves as one. Its start reads top-down: open the storage, listen, build the provider and the front of
// the route table, then the chores each instance runs on its own clock (start/).
import { DEFAULT_CLOCK_SKEW_S } from '@sillage/protocol';
import type { WeakBadgeProofKind } from '@sillage/protocol';
import { WorkstationAssertions } from './assertions';
import type { Audit } from './audit';
import { NonceIssuer, TrustStore } from './cps';
import type { Db } from './db';
import type { Directory, DirectoryPolicy } from './directory';
import { jsonLog } from './log';
import type { Log } from './log';
import { DesfireRelay, relayKeysFrom } from './desfire-relay';
import type { RelayKeys } from './desfire-relay';
import { DEFAULT_LOGIN_TICKET_SECONDS, loginTicketSeconds } from './grants/badge';
import { sillageApi } from './provider';
import type { RelyingParty } from './provider';
import type { Kek } from './secrets';
import { serveMetrics } from './metrics';
import type { Sessions } from './sessions';
import { SingleUse } from './single-use';
import type { RefusalLimits } from './refusals';
import type { RouteKit } from './routes';
import { startChores } from './start/chores';
import { front, koaErrorLog } from './start/front';
import { listen } from './start/listener';
import { liveProvider } from './start/live-provider';
import { bearerCheck, refusalAudit } from './start/requests';
import { openStorage } from './start/storage';

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

/** How far a workstation's clock may be from the server's: whole seconds, 0 to 900. */
function clockSkew(s: number | undefined): number {
  const skewS = s ?? DEFAULT_CLOCK_SKEW_S;
  if (!(Number.isInteger(skewS) && skewS >= 0 && skewS <= 900))
    throw new Error(`clock skew must be a whole number of seconds from 0 to 900 (got ${skewS})`);
  return skewS;
}

export async function startServer(opts: ServerOptions): Promise<SessionServer> {
  const ticketSeconds = loginTicketSeconds(opts.loginTicketSeconds ?? DEFAULT_LOGIN_TICKET_SECONDS);
  const log = opts.log ?? jsonLog();
  const now = opts.now ?? (() => new Date());
  const { db } = opts;
  const accessTokenTtlS = opts.accessTokenTtlS ?? 600;
  const storage = await openStorage({ ...opts, accessTokenTtlS, metrics: !!opts.metrics, now, log });
  const { directory, sessions, audit, keys, metrics, nonceKey } = storage;
  const nonces = new NonceIssuer(nonceKey, 120_000, now);
  const trust = new TrustStore(opts.trustAnchorsPem, opts.intermediateCasPem ?? []);
  const skewS = clockSkew(opts.clockSkewS);

  const listener = await listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  const issuer = (opts.issuer ?? `http://127.0.0.1:${listener.port}`).replace(/\/$/, '');
  const assertions = new WorkstationAssertions(db, directory, issuer, skewS);
  const once = new SingleUse(db);
  const relayKeys = opts.desfireKeyStore ?? relayKeysFrom(opts.desfireKeys ?? {});
  const relay = new DesfireRelay(relayKeys, nonceKey, assertions, once, now);
  const { refusals, auditRefusal } = refusalAudit({ audit, log, now, limits: opts.refusalLimits, metrics });
  const common = { db, directory, sessions, audit, relay, issuer, log, now };
  const kit: RouteKit = {
    ...common,
    nonces,
    // Against the provider of the moment, built below.
    bearer: bearerCheck({ provider: () => live.provider, api: sillageApi(issuer), sessions, directory, auditRefusal }),
    auditRefusal,
    badgeEnrolmentWindowMs: opts.badgeEnrolmentWindowMs ?? 5 * 60_000,
  };
  const live = liveProvider({
    provider: {
      ...common,
      trust,
      relyingParties: opts.relyingParties ?? [],
      weakBadgeProofs: opts.weakBadgeProofs ?? [],
      once,
      serverSecret: nonceKey,
      accessTokenTtlS,
      loginTicketSeconds: ticketSeconds,
      assertions,
    },
    keys,
    nonces,
    middleware: front({ db, kit, log, metrics, auditRefusal, closing: () => listener.closing }),
    onError: koaErrorLog(log),
    log,
  });
  listener.serve(live.handle);

  const keyRefreshMs = opts.keyRefreshMs ?? 30_000;
  const checkpointMs = opts.auditCheckpointMs ?? 300_000;
  const chores = startChores({ db, audit, log, refreshKeys: live.refreshKeys, keyRefreshMs, checkpointMs });
  const metricsServer = metrics
    ? await serveMetrics(metrics, opts.metrics!.port, opts.metrics!.host ?? '127.0.0.1', log)
    : null;
  log.info('session server started', {
    issuer,
    database: db.kind,
    trustAnchors: trust.size,
    secretsSealed: storage.store.sealed,
    signing: [keys.plan.signing.ES256.kid, keys.plan.signing.RS256.kid],
    ...(metricsServer ? { metricsPort: metricsServer.port } : {}),
  });

  return {
    issuer,
    port: listener.port,
    directory,
    sessions,
    audit,
    refreshKeys: live.refreshKeys,
    ...(metricsServer ? { metricsPort: metricsServer.port } : {}),
    async close() {
      await chores.stop();
      await metricsServer?.close();
      metrics?.close();
      await listener.close();
      // The counts of refusals not recorded one by one.
      await refusals.close();
    },
  };
}
