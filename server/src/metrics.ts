// Prometheus metrics of one session-server instance (prom-client), for the hospital's supervision
// (Prometheus/Grafana, Centreon's Prometheus connector). Served by their own listener (--metrics-port),
// never by the public one: the balancer in front exposes OIDC, not the counters. No label carries a
// person, a badge, a workstation or a token: labels are the server's own vocabulary, bounded.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GRANT } from '@sillage/protocol';
import client from 'prom-client';
import type { AuditEntry } from './audit';
import { batchChannel } from './batch';
import type { Db } from './db';
import type { Log } from './log';

/** Seconds: a re-open grant takes a few milliseconds, a login with its memory-hard code check ~100. */
export const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10,
];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 200];

const GRANT_LABEL: Record<string, string> = {
  [GRANT.badge]: 'badge',
  [GRANT.jwtBearer]: 'cps-card',
  [GRANT.tokenExchange]: 'token-exchange',
  refresh_token: 'refresh',
};

/**
 * A label value from the server's own words: the leading identifier of `v` (reasons read
 * "badge_unknown" or "invalid_client: …"), lower-case, at most 40 characters; anything else is "other".
 */
export function label(v: string | null | undefined): string {
  const m = /^[a-z][a-z0-9_.+-]{0,39}(?=$|[:\s])/.exec(v ?? '');
  return m ? m[0] : v ? 'other' : 'none';
}

export interface MetricsSources {
  db: Db;
  /** Roaming sessions open now, in the shared database (every instance reports the same number). */
  activeSessions(): Promise<number>;
}

export class Metrics {
  readonly registry = new client.Registry();
  private readonly decisions: client.Counter<'action' | 'outcome'>;
  private readonly authentications: client.Counter<'kind' | 'factor' | 'outcome'>;
  private readonly refusals: client.Counter<'action' | 'reason'>;
  private readonly requests: client.Histogram<'route' | 'grant' | 'status'>;
  private readonly batches: client.Histogram<'statement'>;
  private readonly onBatch = (m: unknown) => {
    const { name, size } = m as { name: string; size: number };
    this.batches.observe({ statement: name }, size);
  };

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'sillage_' });
    this.decisions = new client.Counter({
      name: 'sillage_decisions_total',
      help: 'Security decisions recorded in the audit trail, by action and outcome',
      labelNames: ['action', 'outcome'],
      registers,
    });
    this.authentications = new client.Counter({
      name: 'sillage_authentications_total',
      help: 'Logins (2 factors) and re-opens (1 factor, inside a roaming session) by factor and outcome',
      labelNames: ['kind', 'factor', 'outcome'],
      registers,
    });
    this.refusals = new client.Counter({
      name: 'sillage_refusals_total',
      help: 'Refused requests by action and reason (the audit record’s reason code)',
      labelNames: ['action', 'reason'],
      registers,
    });
    this.requests = new client.Histogram({
      name: 'sillage_request_duration_seconds',
      help: 'Time from request to answer inside this instance, by route, grant type (token endpoint) and status',
      labelNames: ['route', 'grant', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.batches = new client.Histogram({
      name: 'sillage_db_batch_size',
      help: 'Requests served by one group-committed statement, by statement (all instances of this process)',
      labelNames: ['statement'],
      buckets: BATCH_BUCKETS,
      registers,
    });
    const pool = sources.db.pool;
    new client.Gauge({
      name: 'sillage_db_pool_connections',
      help: 'PostgreSQL connections of this instance by state (max: --db-pool-size)',
      labelNames: ['state'],
      registers,
      collect() {
        const p = pool?.();
        if (!p) return;
        this.set({ state: 'open' }, p.total);
        this.set({ state: 'idle' }, p.idle);
        this.set({ state: 'max' }, p.max);
      },
    });
    new client.Gauge({
      name: 'sillage_db_pool_waiting',
      help: 'Queries of this instance waiting for a free connection',
      registers,
      collect() {
        this.set(pool?.().waiting ?? 0);
      },
    });
    const up = new client.Gauge({
      name: 'sillage_database_up',
      help: '1 when this instance reached the database at the last scrape, else 0',
      registers,
    });
    new client.Gauge({
      name: 'sillage_roaming_sessions_active',
      help: 'Roaming sessions open now (shared database: every instance reports the same value, use max())',
      registers,
      async collect() {
        try {
          this.set(await sources.activeSessions());
          up.set(1);
        } catch {
          up.set(0);
        }
      },
    });
    batchChannel.subscribe(this.onBatch);
  }

  /** One audit record committed: counted by what it decided. */
  decision(e: AuditEntry): void {
    // The count record of refusals not recorded one by one (refusals.ts): each was counted here already.
    if (typeof e.details?.count === 'number' && e.outcome === 'refused') return;
    const action = label(e.action);
    this.decisions.inc({ action, outcome: e.outcome });
    const kind = /^(login|reopen)\./.exec(e.action)?.[1];
    if (kind) this.authentications.inc({ kind, factor: label(e.factor), outcome: e.outcome });
    if (e.outcome === 'refused') this.refusals.inc({ action, reason: label(e.reason) });
  }

  /** One answered request (health probes excepted). */
  request(route: string, grantType: string | undefined, status: number, seconds: number): void {
    const grant = grantType === undefined ? '' : (GRANT_LABEL[grantType] ?? 'other');
    this.requests.observe({ route, grant, status: String(status) }, seconds);
  }

  /** The exposition text (Prometheus text format 0.0.4, which Centreon's connector reads too). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    batchChannel.unsubscribe(this.onBatch);
    this.registry.clear();
  }
}

/** `GET /metrics` on its own listener; anything else is a 404. */
export async function serveMetrics(
  metrics: Metrics,
  port: number,
  host: string,
  log: Log,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    metrics.text().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (e: unknown) => {
        log.error('metrics unavailable', { err: (e as Error).message });
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
