// A flood of refused requests does not grow the server's audit without bound: 2,000 requests nobody
// authenticated, each with a 4 KB value, against the server on PostgreSQL, add a bounded number of rows and
// bytes; every refusal is still counted (recorded in full, or in the count record of its source), the chain
// verifies, the metrics count them all, and a legitimate workstation registers amid it. The window logic itself runs on a fake clock.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftwareKey } from '../../electron/core/keys/software-key';
import { registerWorkstation } from '../../electron/core/oidc/server-client';
import type { SessionServer } from '../../server/src/app';
import { MAX_FIELD } from '../../server/src/audit';
import type { AuditEntry } from '../../server/src/audit';
import type { Db } from '../../server/src/db';
import { DEFAULT_REFUSAL_LIMITS, OTHER_SOURCES, RefusalAudit } from '../../server/src/refusals';
import { makeTestPki } from '../pki';
import { startServerStack } from '../stack';
import type { ServerStack } from '../stack';

let stack: ServerStack;
let db: Db;
let server: SessionServer;
let dir: string;
let issuer: string;

// The shipped limits, in one window for the whole flood (a loaded machine may take over a minute).
const LIMITS = { ...DEFAULT_REFUSAL_LIMITS, windowMs: 3_600_000 };

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-flood-'));
  const pki = makeTestPki(path.join(dir, 'pki'));
  stack = await startServerStack({
    trustAnchorsPem: [pki.root.certPem],
    relyingParties: [],
    refusalLimits: LIMITS,
    metrics: { port: 0 },
  });
  ({ db, server } = stack);
  issuer = server.issuer;
}, 120_000);

afterAll(async () => {
  await stack?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const KB4 = 'A'.repeat(4096);
/** An unsigned JWT naming `iss`, padded to 4 KB: what a forger sends without any workstation key. */
const forged = (iss: string) =>
  [{ alg: 'ES256' }, { iss, sub: iss, pad: KB4 }]
    .map((p) => Buffer.from(JSON.stringify(p)).toString('base64url'))
    .join('.') + '.c2ln';

async function send(p: string, init: RequestInit): Promise<number> {
  const res = await fetch(`${issuer}${p}`, init);
  await res.arrayBuffer();
  return res.status;
}
const json = (p: string, body: unknown, headers: Record<string, string> = {}) =>
  send(p, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

/** Five kinds of refusal, each with a 4 KB value, by the audit action that records it. */
const KINDS: Record<string, (i: number) => Promise<number>> = {
  // Unknown clients (300 of them, more than the sources counted apart), a 4 KB grant type.
  'token.request': (i) =>
    send('/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: `flood-${i % 300}`, grant_type: KB4 }).toString(),
    }),
  // A NUL byte in a 4 KB query parameter.
  'request.refused': () => send(`/sillage/session?q=${KB4}%00`, { method: 'GET' }),
  // A made-up enrolment token, a 4 KB key.
  'workstation.register': () =>
    json('/sillage/workstations', { enrolment_token: 'not-a-token', name: 'PC-FLOOD', jwks: { keys: [{ k: KB4 }] } }),
  // A forged assertion naming one of 50 workstations.
  'badge.relay-auth': (i) =>
    json('/sillage/desfire/auth/begin', { client_assertion: forged(`ws-flood-${i % 50}`), scheme: 'ev2' }),
  // A made-up bearer token, a 4 KB badge proof.
  'badge.enrol': () => json('/sillage/badges', { badge_proof: KB4 }, { authorization: 'Bearer made-up' }),
};

describe('a flood of 2,000 refused requests with 4 KB values', () => {
  it('adds a bounded number of rows and bytes, every refusal still counted, the chain intact', async () => {
    const before = Number((await db.query<{ n: string }>('SELECT coalesce(max(seq), 0) AS n FROM audit')).rows[0]!.n);
    const kinds = Object.entries(KINDS);
    const per = 400;
    const statuses: number[] = [];
    for (let i = 0; i < per; i += 8)
      statuses.push(...(await Promise.all(kinds.flatMap(([, k]) => Array.from({ length: 8 }, (_, j) => k(i + j))))));
    expect(statuses).toHaveLength(2000);
    expect(statuses.filter((s) => s < 400 || s >= 500)).toEqual([]);

    // A workstation registers amid the flood, and its record is written in full.
    const token = await server.directory.createEnrolmentToken('Pavillon F');
    const ws = await registerWorkstation(issuer, token, 'PC-LEGIT', { key: SoftwareKey.generate() });

    // The metrics count every refusal, recorded in full or only counted.
    const metrics = await (await fetch(`http://127.0.0.1:${server.metricsPort!}/metrics`)).text();
    const refusalsOf = (action: string) =>
      metrics
        .split('\n')
        .filter((l) => l.startsWith(`sillage_refusals_total{action="${action}",`))
        .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
    expect(Object.fromEntries(kinds.map(([a]) => [a, refusalsOf(a)]))).toEqual(
      Object.fromEntries(kinds.map(([a]) => [a, per])),
    );

    // The counts of the window are written when it ends, here when the server stops.
    await server.close();
    const { rows } = await db.query<{ action: string; outcome: string; details: Record<string, unknown>; n: number }>(
      'SELECT action, outcome, details, octet_length(a::text) AS n FROM audit a WHERE seq > $1 ORDER BY seq',
      [before],
    );
    const refused = rows.filter((r) => r.outcome === 'refused');
    const full = refused.filter((r) => r.details?.count === undefined);
    const counts = refused.filter((r) => r.details?.count !== undefined);
    const bytes = rows.reduce((s, r) => s + Number(r.n), 0);
    console.log(
      `refusal flood: 2000 requests (${(2000 * 4) / 1024} MB of 4 KB values) → ${rows.length} audit rows (${full.length} in full, ${counts.length} counts), ${Math.round(bytes / 1024)} KB`,
    );
    // Bounded by the limits, whatever the number of requests: the full records of the window, and one count
    // per action and source counted apart (plus the one all other sources share).
    expect(full.length).toBe(LIMITS.maxRecorded);
    expect(counts.length).toBeLessThanOrEqual(kinds.length * (LIMITS.maxSources + 1));
    expect(bytes).toBeLessThan(512 * 1024);
    expect(Math.max(...rows.map((r) => JSON.stringify(r.details ?? {}).length))).toBeLessThan(MAX_FIELD + 500);
    expect(full.every((r) => typeof r.details.source === 'string')).toBe(true);
    expect(counts.filter((r) => r.details.source === OTHER_SOURCES).map((r) => r.action)).toContain('token.request');
    // Countable: for each action, the full records and the counts add up to what was sent.
    const total = (action: string) =>
      refused.filter((r) => r.action === action).reduce((s, r) => s + ((r.details.count as number) ?? 1), 0);
    expect(Object.fromEntries(kinds.map(([a]) => [a, total(a)]))).toEqual(
      Object.fromEntries(kinds.map(([a]) => [a, per])),
    );
    expect(rows.filter((r) => r.outcome === 'ok').map((r) => [r.action, r.details])).toEqual([
      ['workstation.register', { name: 'PC-LEGIT' }],
    ]);
    expect(ws.clientId).toBeTruthy();
    expect(await server.audit.verify()).toMatchObject({ ok: true });
  }, 300_000);
});

describe('the refusal windows (fake monotonic clock)', () => {
  const limits = { perSource: 2, maxRecorded: 3, maxSources: 2, windowMs: 60_000 };
  const setup = () => {
    const written: AuditEntry[] = [];
    let t = 0;
    const r = new RefusalAudit(
      async (e) => void written.push(e),
      () => new Date(Date.UTC(2026, 0, 1) + t),
      limits,
      { monotonic: () => t },
    );
    return { written, r, at: (ms: number) => (t = ms) };
  };
  const refusal = (action = 'request.refused'): AuditEntry => ({ action, outcome: 'refused', reason: 'x' });

  it('records a source’s first refusals in full, counts the rest, and writes the count when the window ends', async () => {
    const { written, r, at } = setup();
    for (let i = 0; i < 5; i++) await r.record('address 10.0.0.1', refusal());
    expect(written.map((e) => e.details)).toEqual([{ source: 'address 10.0.0.1' }, { source: 'address 10.0.0.1' }]);
    at(59_999);
    await r.record('address 10.0.0.1', refusal());
    expect(written).toHaveLength(2);
    // The next window's first refusal hands over the count of the last one, and is recorded in full.
    at(60_000);
    await r.record('address 10.0.0.1', refusal());
    expect(written.slice(2).map((e) => [e.reason, e.details])).toEqual([
      [
        '4 more refusals within 60 s, counted, not recorded one by one',
        {
          source: 'address 10.0.0.1',
          count: 4,
          from: '2026-01-01T00:00:00.000Z',
          to: '2026-01-01T00:00:59.999Z',
        },
      ],
      ['x', { source: 'address 10.0.0.1' }],
    ]);
    await r.close();
    expect(written).toHaveLength(4);
  });

  it('caps the full records of all sources together, and sources beyond the bound share one count', async () => {
    const { written, r } = setup();
    for (const s of ['client a', 'client b', 'client c', 'client d', 'client c']) await r.record(s, refusal());
    await r.record('client e', refusal('token.request'));
    // a, b in full; c and d are beyond 2 sources: one shared source, recorded once before the cap of 3.
    expect(written.map((e) => [e.action, e.details?.source])).toEqual([
      ['request.refused', 'client a'],
      ['request.refused', 'client b'],
      ['request.refused', OTHER_SOURCES],
    ]);
    await r.close();
    expect(written.slice(3).map((e) => [e.action, e.details?.source, e.details?.count])).toEqual([
      ['request.refused', OTHER_SOURCES, 2],
      ['token.request', 'client e', 1],
    ]);
  });
});
