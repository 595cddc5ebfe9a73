// The session server behind PgBouncer in transaction mode (Debian's pgbouncer), as a hospital group pools
// the connections of many instances: every statement may run on another server connection. Named
// statements do not survive that on PgBouncer before 1.21 (it does not follow them): the server is run
// with them off, and with them on it falls back by itself on the first refusal, nothing failing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWorkstation, SessionServerClient } from '../../electron/core/oidc/server-client';
import { startServer } from '../../server/src/app';
import type { SessionServer } from '../../server/src/app';
import { postgresDb } from '../../server/src/db';
import type { Db } from '../../server/src/db';
import { jsonLog } from '../../server/src/log';
import { keyCard } from '../key-card';
import { startLoadBalancer } from '../lb';
import type { LoadBalancer } from '../lb';
import { startPgBouncer } from '../pgbouncer';
import type { PgBouncerHandle } from '../pgbouncer';
import { makeTestPki } from '../pki';
import type { TestPki } from '../pki';
import { startPostgres } from '../postgres';
import type { PostgresHandle } from '../postgres';

let pg: PostgresHandle;
let bouncer: PgBouncerHandle;
let pki: TestPki;
let dir: string;
const closers: (() => Promise<void>)[] = [];

/** PgBouncer follows named statements from 1.21 on (max_prepared_statements). */
const followsStatements = (version: string) => {
  const [maj, min] = (/(\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number);
  return maj! > 1 || (maj === 1 && min! >= 21);
};

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-pgbouncer-'));
  pki = makeTestPki(path.join(dir, 'pki'));
  pg = await startPostgres();
  pg.createDatabase('sillage');
  // Fewer server connections than the instances open: statements of one client do move between them.
  bouncer = await startPgBouncer(pg.url('sillage'), { poolMode: 'transaction', poolSize: 2 });
}, 120_000);

afterAll(async () => {
  for (const c of closers.reverse()) await c();
  await bouncer?.stop();
  await pg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('session server through PgBouncer in transaction mode', () => {
  it('named statements: refused by the pooler or not, every query answers; the pool falls back once', async () => {
    const fallbacks: string[] = [];
    const db = postgresDb(bouncer.url('sillage'), 6, { onFallback: (r) => fallbacks.push(r) });
    closers.push(() => db.close());
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        db.query<{ n: number }>('SELECT $1::int + 1 AS n', [i], { prepare: `probe-${i % 3}` }),
      ),
    );
    expect(results.map((r) => r.rows[0]!.n)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    if (followsStatements(bouncer.version)) expect(fallbacks).toEqual([]);
    else {
      // Debian 12's PgBouncer 1.18: "prepared statement … does not exist / already exists", told once.
      expect(fallbacks).toHaveLength(1);
      expect(fallbacks[0]).toMatch(/prepared statement/);
    }
  });

  it('two instances with named statements off: concurrent logins and re-opens, one audit chain', async () => {
    const lb: LoadBalancer = await startLoadBalancer();
    closers.push(() => lb.close());
    const issuer = `http://127.0.0.1:${lb.port}`;
    const servers: SessionServer[] = [];
    for (let i = 0; i < 2; i++) {
      const db: Db = postgresDb(bouncer.url('sillage'), 4, { preparedStatements: false });
      const s = await startServer({
        db,
        issuer,
        trustAnchorsPem: [pki.root.certPem],
        intermediateCasPem: [pki.ca.certPem],
        log: jsonLog(() => {}, 'silent'),
      });
      servers.push(s);
      closers.push(async () => {
        await s.close();
        await db.close();
      });
    }
    lb.setBackends(servers.map((s) => s.port));
    const people = Array.from({ length: 8 }, (_, i) => ({
      idNat: `89999900${String(i).padStart(4, '0')}`,
      lastName: `POOL${i}`,
      firstName: 'Test',
      profession: 'Infirmier',
    }));
    // Certificates first: openssl runs synchronously and would stall the servers in this process.
    const certs = people.map((p, i) => ({
      auth: pki.issue(p, `auth-${i}`),
      tech: pki.issue(p, `tech-${i}`, { kind: 'tech' }),
    }));
    const opened = await Promise.all(
      people.map(async (p, i) => {
        await servers[i % 2]!.directory.addAccount({ ...p, adLogin: `pool${i}` });
        const creds = await registerWorkstation(
          issuer,
          await servers[0]!.directory.createEnrolmentToken(`PC-${i}`),
          `PC-${i}`,
        );
        const client = await SessionServerClient.connect(issuer, creds, { allowHttp: true });
        const auth = keyCard(certs[i]!.auth.certPem, certs[i]!.auth.keyPem);
        const techCard = keyCard(certs[i]!.tech.certPem, certs[i]!.tech.keyPem);
        await auth.verifyPin('1234');
        await techCard.verifyPin('1234');
        const login = await client.cardLogin(auth, p.idNat);
        const reopen = await client.cardLogin(techCard, p.idNat);
        return { login, reopen };
      }),
    );
    for (const { login, reopen } of opened) {
      expect(login.claims.acr).toBe('urn:sillage:loa:mfa');
      expect(reopen.claims.acr).toBe('urn:sillage:loa:reopen');
      expect(reopen.claims.auth_time).toBe(login.claims.auth_time);
    }
    expect(await servers[1]!.audit.verify()).toMatchObject({ ok: true });
    const ok = await servers[0]!.audit.query({ action: 'reopen.cps' });
    expect(ok.filter((r) => r.outcome === 'ok')).toHaveLength(8);
  });
});
