// One instance of two failing under the agents: its connections cut before or after it processed a
// request, or stopped for a restart while taps keep coming. The agent's client sends the same request
// again through the balancer, which moves refused connections to the other instance. Nothing is issued
// twice for one tap (each account taps once here: never two re-open records for one account), what was
// processed but unanswered is told as "server unreachable" (a badge tap: sent once more newly signed, its
// single-use challenge deciding), the audit chain stays one.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWorkstation, ServerError, SessionServerClient } from '../../electron/core/oidc/server-client';
import { startServer } from '../../server/src/app';
import type { ServerOptions, SessionServer } from '../../server/src/app';
import { postgresDb } from '../../server/src/db';
import type { Db } from '../../server/src/db';
import { jsonLog } from '../../server/src/log';
import { boundBadge, tapIn, tapProof, TEST_DESFIRE_KEYS } from '../badges';
import { pinVerifiedCard } from '../key-card';
import { startLoadBalancer } from '../lb';
import type { LoadBalancer } from '../lb';
import { makeTestPki } from '../pki';
import type { TestPki } from '../pki';
import { startPostgres } from '../postgres';
import type { PostgresHandle } from '../postgres';

let pg: PostgresHandle;
let db: Db;
let pki: TestPki;
let dir: string;
let lb: LoadBalancer;
let issuer: string;
const servers: SessionServer[] = [];
const traps: net.Server[] = [];
const extraBalancers: LoadBalancer[] = [];
let serial = 0;

const serverOptions = (): ServerOptions => ({
  db,
  issuer,
  trustAnchorsPem: [pki.root.certPem],
  intermediateCasPem: [pki.ca.certPem],
  desfireKeys: TEST_DESFIRE_KEYS,
  log: jsonLog(() => {}, 'silent'),
});

/** Someone with a roaming session open and a contactless CPS (technical key) to tap with. */
async function people(n: number, client: SessionServerClient) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const p = {
      idNat: `8999998${String(serial++).padStart(5, '0')}`,
      lastName: `FAIL${serial}`,
      firstName: 'Test',
      profession: 'Infirmier',
    };
    const account = await servers[0]!.directory.addAccount({ ...p, adLogin: `fail${serial}` });
    const auth = pki.issue(p, `auth-${serial}`);
    const tech = pki.issue(p, `tech-${serial}`, { kind: 'tech' });
    const card = await pinVerifiedCard(auth);
    await client.cardLogin(card, p.idNat);
    const techCard = await pinVerifiedCard(tech);
    out.push({ account, tap: () => client.cardLogin(techCard, p.idNat) });
  }
  return out;
}

/** Someone whose badge opened a roaming session (code typed), to tap it again: relay challenge, then grant. */
async function badgeHolder(client: SessionServerClient) {
  serial++;
  const account = await servers[0]!.directory.addAccount({
    idNat: `8999997${String(serial).padStart(5, '0')}`,
    adLogin: `badge${serial}`,
    lastName: `BADGE${serial}`,
    firstName: 'Test',
    profession: 'Infirmier',
    secret: '2468',
  });
  const emu = await boundBadge(servers[0]!.directory, account.id, `CHU-FAIL-${serial}`);
  await tapIn(client, emu, '2468');
  return { account, tap: async () => client.badge(await tapProof(client, emu)) };
}

async function reopenRecords(accountId: string, action = 'reopen.cps'): Promise<number> {
  const rows = await servers[0]!.audit.query({ accountId, action, limit: 10 });
  return rows.filter((r) => r.outcome === 'ok').length;
}

/**
 * A proxy to instance `target` that fails the first request to `route` it carries once armed: `drop` cuts it before the
 * instance sees it, `lose-answer` lets the instance process it and cuts the connection as the answer
 * comes back. Everything else passes through.
 */
async function faulty(
  mode: 'drop' | 'lose-answer',
  target: number,
  route = 'POST /token',
): Promise<{ port: number; arm(): void; fired: () => boolean }> {
  let armed = false;
  let fired = false;
  const s = net.createServer((c) => {
    const up = net.connect(target, '127.0.0.1');
    let losing = false;
    c.on('data', (chunk: Buffer) => {
      if (armed && !fired && chunk.subarray(0, route.length + 1).toString() === `${route} `) {
        fired = true;
        if (mode === 'drop') {
          up.destroy();
          return c.destroy();
        }
        losing = true;
      }
      up.write(chunk);
    });
    up.on('data', (chunk: Buffer) => {
      if (!losing) return c.write(chunk);
      up.destroy();
      c.destroy();
    });
    const end = () => {
      c.destroy();
      up.destroy();
    };
    c.on('error', end);
    up.on('error', end);
    c.on('close', end);
    up.on('close', end);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  traps.push(s);
  return {
    port: (s.address() as net.AddressInfo).port,
    arm: () => (armed = true),
    fired: () => fired,
  };
}

/** New connections through the balancer (no keep-alive): which instance each lands on is its business. */
const probe = () =>
  new Promise<number>((resolve, reject) =>
    http
      .get(`${issuer}/readyz`, { agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject),
  );

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-failover-'));
  pki = makeTestPki(path.join(dir, 'pki'));
  pg = await startPostgres();
  pg.createDatabase('sillage');
  db = postgresDb(pg.url('sillage'), 8);
  lb = await startLoadBalancer();
  issuer = `http://127.0.0.1:${lb.port}`;
  for (let i = 0; i < 2; i++) servers.push(await startServer(serverOptions()));
  lb.setBackends(servers.map((s) => s.port));
}, 120_000);

afterAll(async () => {
  for (const t of traps) t.close();
  for (const b of extraBalancers) await b.close();
  for (const s of servers) await s.close();
  await lb?.close();
  await db?.close();
  await pg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A workstation; `via` routes its requests through another balancer (its own, fresh connections). */
async function workstation(name: string, via?: LoadBalancer) {
  const creds = await registerWorkstation(issuer, await servers[0]!.directory.createEnrolmentToken(name), name);
  const route: typeof fetch = (url, init) =>
    fetch(String(url instanceof Request ? url.url : url).replace(issuer, `http://127.0.0.1:${via!.port}`), init);
  return SessionServerClient.connect(issuer, creds, { allowHttp: true, ...(via ? { fetch: route } : {}) });
}

/** A balancer of its own in front of `port` only. */
async function balancerTo(port: number): Promise<LoadBalancer> {
  const b = await startLoadBalancer();
  b.setBackends([port]);
  extraBalancers.push(b);
  return b;
}

describe('an instance failing under the agents', () => {
  it('cut before it processed the tap: sent again, served by the instance, issued once', async () => {
    const proxy = await faulty('drop', servers[0]!.port);
    const client = await workstation('PC-FAIL-1', await balancerTo(proxy.port));
    const [alice] = await people(1, client);
    proxy.arm();
    {
      const t = await alice!.tap();
      expect(proxy.fired()).toBe(true);
      expect(t.claims.acr).toBe('urn:sillage:loa:reopen');
      expect(await reopenRecords(alice!.account.id)).toBe(1);
    }
  });

  it('cut after it processed the tap: the repeat is refused as a replay, nothing issued twice, told as unreachable', async () => {
    const proxy = await faulty('lose-answer', servers[0]!.port);
    const client = await workstation('PC-FAIL-2', await balancerTo(proxy.port));
    const [bob] = await people(1, client);
    proxy.arm();
    {
      const err = await bob!.tap().then(
        () => null,
        (e: unknown) => e,
      );
      expect(proxy.fired()).toBe(true);
      expect(err).toBeInstanceOf(ServerError);
      expect((err as ServerError).code).toBe('server-unreachable');
      // Issued once (its answer lost), the repeat refused and audited as a replayed assertion.
      expect(await reopenRecords(bob!.account.id)).toBe(1);
      const refused = await servers[0]!.audit.query({ action: 'token.request', limit: 20 });
      expect(refused.map((r) => [r.workstation, r.reason])).toContainEqual([
        client.clientId,
        'invalid_client: client authentication failed (client assertion already used (replay))',
      ]);
    }
  });

  it("a badge tap's relay challenge taken and its answer lost: asked again, newly signed, and the tap goes through", async () => {
    const proxy = await faulty('lose-answer', servers[0]!.port, 'POST /sillage/desfire/auth/begin');
    const client = await workstation('PC-FAIL-3', await balancerTo(proxy.port));
    const carol = await badgeHolder(client);
    proxy.arm();
    const t = await carol.tap();
    expect(proxy.fired()).toBe(true);
    expect(t.claims.acr).toBe('urn:sillage:loa:reopen');
    expect(await reopenRecords(carol.account.id, 'reopen.badge')).toBe(1);
  });

  it('a badge grant processed and its answer lost: the newly signed repeat finds its challenge used, issued once, tap again', async () => {
    const proxy = await faulty('lose-answer', servers[0]!.port);
    const client = await workstation('PC-FAIL-4', await balancerTo(proxy.port));
    const dave = await badgeHolder(client);
    proxy.arm();
    const err = await dave.tap().then(
      () => null,
      (e: unknown) => e,
    );
    expect(proxy.fired()).toBe(true);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).code).toBe('badge_replayed');
    expect(await reopenRecords(dave.account.id, 'reopen.badge')).toBe(1);
    const refused = await servers[0]!.audit.query({ accountId: dave.account.id, action: 'reopen.badge', limit: 10 });
    expect(refused.filter((r) => r.outcome === 'refused').map((r) => r.reason)).toHaveLength(1);
  });

  it('stopped and restarted while taps keep coming: every tap answered, once; it serves again after', async () => {
    const clients = await Promise.all([0, 1, 2, 3].map((i) => workstation(`PC-WARD-${i}`)));
    const staff = (await Promise.all(clients.map((c) => people(4, c)))).flat();
    const port = servers[0]!.port;
    let answered = 0;
    const taps = staff.map(async (s, i) => {
      // Spread over ~300 ms while the instance stops at ~100 ms.
      await new Promise((r) => setTimeout(r, i * 20));
      const t = await s.tap();
      answered++;
      return t;
    });
    await new Promise((r) => setTimeout(r, 100));
    await servers[0]!.close();
    const results = await Promise.allSettled(taps);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason)).toEqual([]);
    expect(answered).toBe(staff.length);
    for (const s of staff) expect(await reopenRecords(s.account.id)).toBe(1);
    servers[0] = await startServer({ ...serverOptions(), port });
    // The balancer tries it again once its down mark is over and finds it back; every probe meanwhile answered.
    const after = lb.counts.get(port) ?? 0;
    const end = performance.now() + 15_000;
    while ((lb.counts.get(port) ?? 0) <= after && performance.now() < end) {
      expect(await Promise.all([probe(), probe()])).toEqual([200, 200]);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(lb.counts.get(port) ?? 0).toBeGreaterThan(after);
    const later = await people(2, clients[0]!);
    await Promise.all(later.map((s) => s.tap()));
    expect(await servers[1]!.audit.verify()).toMatchObject({ ok: true });
  }, 120_000);
});
