// The session server's Prometheus endpoint as the hospital's supervision scrapes it: its own listener
// (off unless asked), logins and re-opens per factor and outcome, refusals by reason, request latency
// histograms, the database pool and batch sizes, the roaming sessions open now — and nothing personal.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWorkstation, SessionServerClient } from '../../electron/core/oidc/server-client';
import { startServer } from '../../server/src/app';
import type { SessionServer } from '../../server/src/app';
import type { Db } from '../../server/src/db';
import { jsonLog } from '../../server/src/log';
import { label } from '../../server/src/metrics';
import { pinVerifiedCard } from '../key-card';
import { makeTestPki } from '../pki';
import type { TestPki } from '../pki';
import { refusal } from '../server-refusal';
import { startServerStack } from '../stack';
import type { ServerStack } from '../stack';

let stack: ServerStack;
let db: Db;
let server: SessionServer;
let pki: TestPki;
let dir: string;

/** The value of one sample line of the exposition text (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(/,(?=[a-z_]+=")/).filter(Boolean);
    if (want.every((w) => have.includes(w)) && have.length === want.length) return Number(m[3]);
  }
  return 0;
}

const scrape = async (port = server.metricsPort!) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-metrics-'));
  pki = makeTestPki(path.join(dir, 'pki'));
  stack = await startServerStack({
    trustAnchorsPem: [pki.root.certPem],
    intermediateCasPem: [pki.ca.certPem],
    metrics: { port: 0 },
  });
  ({ db, server } = stack);
}, 120_000);

afterAll(async () => {
  await stack?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('session server metrics', () => {
  it('counts logins, re-opens and refusals, times the grants, and names no one', async () => {
    const creds = await registerWorkstation(
      server.issuer,
      await server.directory.createEnrolmentToken('PC-METRICS'),
      'PC-METRICS',
    );
    const client = await SessionServerClient.connect(server.issuer, creds, { allowHttp: true });
    const person = { idNat: '899999000045', lastName: 'MARTIN', firstName: 'Alice', profession: 'Infirmier' };
    const account = await server.directory.addAccount({ ...person, adLogin: 'amartin' });
    const auth = pki.issue(person, 'alice-auth');
    const tech = pki.issue(person, 'alice-tech', { kind: 'tech' });
    const before = await scrape();
    expect(sample(before, 'sillage_roaming_sessions_active')).toBe(0);

    // A technical-key tap before any login: refused (no roaming session), then the 2-factor login, a re-open.
    // The technical key needs no PIN on a real card; this stand-in signs once "logged in".
    const techCard = await pinVerifiedCard(tech);
    expect((await refusal(client.cardLogin(techCard, person.idNat))).code).toBe('mfa_required');
    const card = await pinVerifiedCard(auth);
    const assertion = await client.cardAssertion(card, person.idNat);
    await client.assertionGrant(assertion);
    expect((await refusal(client.assertionGrant(assertion))).code).toBe('replayed_nonce');
    await client.cardLogin(techCard, person.idNat);

    const text = await scrape();
    const auths = (labels: Record<string, string>) => sample(text, 'sillage_authentications_total', labels);
    expect(auths({ kind: 'login', factor: 'cps+pin', outcome: 'ok' })).toBe(1);
    expect(auths({ kind: 'login', factor: 'cps', outcome: 'refused' })).toBe(1);
    expect(auths({ kind: 'reopen', factor: 'cps-tech', outcome: 'ok' })).toBe(1);
    expect(auths({ kind: 'reopen', factor: 'cps-tech', outcome: 'refused' })).toBe(1);
    expect(sample(text, 'sillage_refusals_total', { action: 'reopen.cps', reason: 'mfa_required' })).toBe(1);
    expect(sample(text, 'sillage_refusals_total', { action: 'login.cps', reason: 'replayed_nonce' })).toBe(1);
    expect(sample(text, 'sillage_decisions_total', { action: 'workstation.register', outcome: 'ok' })).toBe(1);
    // Four token requests with the card grant: two answered 200, two 400; each in the histogram once (and
    // the three nonces the card assertions carried).
    const grants = (status: string) =>
      sample(text, 'sillage_request_duration_seconds_count', { route: 'POST /token', grant: 'cps-card', status });
    expect(grants('200')).toBe(2);
    expect(grants('400')).toBe(2);
    expect(
      sample(text, 'sillage_request_duration_seconds_bucket', {
        le: '+Inf',
        route: 'POST /token',
        grant: 'cps-card',
        status: '200',
      }),
    ).toBe(2);
    expect(
      sample(text, 'sillage_request_duration_seconds_count', {
        route: 'POST /sillage/nonce',
        grant: '',
        status: '200',
      }),
    ).toBe(3);
    expect(sample(text, 'sillage_roaming_sessions_active')).toBe(1);
    expect(sample(text, 'sillage_database_up')).toBe(1);
    expect(sample(text, 'sillage_db_pool_connections', { state: 'max' })).toBe(4);
    expect(sample(text, 'sillage_db_pool_connections', { state: 'open' })).toBeGreaterThan(0);
    expect(sample(text, 'sillage_db_batch_size_count', { statement: 'audit-append' })).toBeGreaterThan(0);
    expect(sample(text, 'sillage_db_batch_size_count', { statement: 'workstation-lookup' })).toBeGreaterThan(0);
    expect(sample(text, 'sillage_process_cpu_seconds_total')).toBeGreaterThan(0);
    // No person, account, workstation or certificate in any label.
    for (const secret of [person.idNat, account.id, creds.clientId, 'MARTIN', 'PC-METRICS'])
      expect(text).not.toContain(secret);
  });

  it('serves /metrics on its own listener only, and nothing else there', async () => {
    expect((await fetch(`${server.issuer}/metrics`)).status).toBe(404);
    const other = await fetch(`http://127.0.0.1:${server.metricsPort}/token`, { method: 'POST' });
    expect(other.status).toBe(404);
    const res = await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
  });

  it('is off unless asked for', async () => {
    const plain = await startServer({ db, trustAnchorsPem: [], log: jsonLog(() => {}, 'silent') });
    try {
      expect(plain.metricsPort).toBeUndefined();
    } finally {
      await plain.close();
    }
  });

  it('keeps labels to the server’s own words', () => {
    expect(label('badge_unknown')).toBe('badge_unknown');
    expect(label('invalid_client: client authentication failed')).toBe('invalid_client');
    expect(label('no-secret')).toBe('no-secret');
    expect(label('desfire:CHU-000123')).toBe('desfire');
    expect(label('Jean DUPONT')).toBe('other');
    expect(label('a'.repeat(41))).toBe('other');
    expect(label(null)).toBe('none');
  });
});
