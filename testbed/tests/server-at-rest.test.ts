// The session server at rest, on a real PostgreSQL: after a whole login / re-open / exchange / refresh
// flow no table holds a usable token or a private key in clear; a database written before the hashing
// and the sealing upgrades with its sessions running; signing keys rotate (published before use, old
// tokens still verifying, then erased); the audit table refuses edits, a cut tail is reported, and an
// exported slice verifies offline while an edited one does not.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CompactSign, createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWorkstation, SessionServerClient } from '../../electron/core/oidc/server-client';
import { startServer } from '../../server/src/app';
import type { ServerOptions, SessionServer } from '../../server/src/app';
import { runAdmin } from '../../server/src/cli';
import { migrate, pgliteDb, postgresDb } from '../../server/src/db';
import type { Db } from '../../server/src/db';
import { jsonLog } from '../../server/src/log';
import { PGLITE_KEK_FILE, secretsKey } from '../../server/src/options';
import { kekFromText, newKekText, SecretStore } from '../../server/src/secrets';
import type { ProviderSecrets } from '../../server/src/secrets';
import { boundBadge, tapIn, tapProof, TEST_DESFIRE_KEYS } from '../badges';
import { pinVerifiedCard } from '../key-card';
import { startLoadBalancer } from '../lb';
import type { LoadBalancer } from '../lb';
import { makeTestPki } from '../pki';
import type { TestPki } from '../pki';
import { startPostgres } from '../postgres';
import type { PostgresHandle } from '../postgres';
import { refusal } from '../server-refusal';
import { canonicalJson, tamper } from '../tamper';

const ROOT = path.resolve(__dirname, '../..');
const DPI = { clientId: 'dpi-reference', clientSecret: 'dpi-secret-for-tests-only', audiences: ['https://dpi.test'] };
const MINUTE = 60_000;
let pg: PostgresHandle;
let pki: TestPki;
let dir: string;
let kekText: string;
let kekFile: string;
const dbs: Db[] = [];
const servers: SessionServer[] = [];
const lbs: LoadBalancer[] = [];

const database = (name: string, user = 'sillage') => {
  const db = postgresDb(pg.url(name).replace('sillage@', `${user}@`));
  dbs.push(db);
  return db;
};

async function server(db: Db, opts: Partial<ServerOptions> = {}): Promise<SessionServer> {
  const s = await startServer({
    db,
    trustAnchorsPem: [pki.root.certPem],
    intermediateCasPem: [pki.ca.certPem],
    relyingParties: [DPI],
    desfireKeys: TEST_DESFIRE_KEYS,
    log: jsonLog(() => {}, 'silent'),
    ...opts,
  });
  servers.push(s);
  return s;
}

async function balancer(...backends: SessionServer[]): Promise<LoadBalancer> {
  const lb = await startLoadBalancer();
  lbs.push(lb);
  lb.setBackends(backends.map((s) => s.port));
  return lb;
}

async function workstation(s: SessionServer, name: string, issuer = s.issuer) {
  const creds = await registerWorkstation(issuer, await s.directory.createEnrolmentToken(name), name);
  return { creds, client: await SessionServerClient.connect(issuer, creds, { allowHttp: true }) };
}

async function cpsCard(s: SessionServer, idNat: string, lastName: string) {
  const person = { idNat, lastName, firstName: 'Test', profession: 'Médecin' };
  await s.directory.addAccount({ ...person, adLogin: lastName.toLowerCase() });
  const issued = pki.issue(person, `cps-${idNat}-${Math.random().toString(36).slice(2)}`);
  const card = await pinVerifiedCard(issued);
  return card;
}

/** Every table's rows as text, by table (what a database reader, or a dump, sees). */
async function tableTexts(db: Db): Promise<Map<string, string>> {
  const { rows } = await db.query<{ t: string }>(
    "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
  );
  const out = new Map<string, string>();
  for (const { t } of rows) {
    const { rows: text } = await db.query<{ s: string | null }>(
      `SELECT string_agg(x::text, E'\\n') AS s FROM "${t}" x`,
    );
    out.set(t, text[0]?.s ?? '');
  }
  return out;
}

/** Where each secret appears in clear, as "table: label" (empty when nowhere). */
async function inClear(db: Db, secrets: Record<string, string>): Promise<string[]> {
  const texts = await tableTexts(db);
  const found: string[] = [];
  for (const [label, value] of Object.entries(secrets))
    for (const [table, text] of texts) if (text.includes(value)) found.push(`${table}: ${label}`);
  return found;
}

/** The private material of the server's secrets, by name. */
function privateParts(s: ProviderSecrets): Record<string, string> {
  const out: Record<string, string> = { nonceKey: s.nonceKey };
  s.cookieKeys.forEach((k, i) => (out[`cookieKey${i}`] = k));
  for (const k of s.signing)
    for (const p of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) {
      const v = (k.priv as Record<string, string> | undefined)?.[p];
      if (v) out[`${k.kid}.${p}`] = v;
    }
  return out;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

async function jwksOf(issuer: string): Promise<{ keys: JWK[] }> {
  const meta = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
  return (await (await fetch(meta.jwks_uri)).json()) as { keys: JWK[] };
}

const admin = async (args: string[]) => {
  const out: string[] = [];
  const code = await runAdmin(args, (l) => out.push(l));
  return { code, out };
};

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-at-rest-'));
  pki = makeTestPki(path.join(dir, 'pki'));
  kekText = newKekText();
  kekFile = path.join(dir, 'kek');
  fs.writeFileSync(kekFile, kekText, { mode: 0o600 });
  pg = await startPostgres();
}, 120_000);

afterAll(async () => {
  for (const s of servers) await s.close();
  for (const lb of lbs) await lb.close();
  for (const d of dbs) await d.close().catch(() => {});
  await pg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('secrets at rest', () => {
  it('leaves no token, private key or KEK in clear in any table after login, re-open, exchange and refresh', async () => {
    pg.createDatabase('flow');
    const db = database('flow');
    const kek = kekFromText(kekText, 'test');
    const s = await server(db, { secretsKey: kek });
    const pc1 = await workstation(s, 'PC-FLOW-01');
    const pc2 = await workstation(s, 'PC-FLOW-02');
    const card = await cpsCard(s, '899999000101', 'CLAIR');
    const cps = await pc1.client.cardLogin(card, '899999000101');
    const nina = await s.directory.addAccount({
      idNat: '899999000102',
      adLogin: 'nflow',
      lastName: 'FLUX',
      firstName: 'Nina',
      profession: 'Infirmière',
      secret: '1357',
    });
    const badge = await boundBadge(s.directory, nina.id, 'CHU-NINA-FLOW');
    const login = await tapIn(pc1.client, badge, '1357');
    const reopen = await pc2.client.badge(await tapProof(pc2.client, badge));
    const dpi = await pc2.client.exchange(reopen.accessToken, 'https://dpi.test');
    const refreshed = await pc1.client.refresh(login.refreshToken!);

    const tokens: Record<string, string> = {
      'cps access': cps.accessToken,
      'cps refresh': cps.refreshToken!,
      'login access': login.accessToken,
      'login refresh': login.refreshToken!,
      'reopen access': reopen.accessToken,
      'reopen refresh': reopen.refreshToken!,
      'dpi access': dpi.accessToken,
      'refreshed access': refreshed.accessToken,
    };
    const secrets = (await new SecretStore(db, kek).read())!;
    expect(secrets.signing.every((k) => k.priv?.d)).toBe(true);
    expect(
      await inClear(db, { ...tokens, ...privateParts(secrets), kek: kekText, kekHex: kek.key.toString('hex') }),
    ).toEqual([]);
    // The tokens are there, by their hashes, and still work: looked up by what the workstation presents.
    const { rows } = await db.query<{ id: string }>(
      "SELECT id FROM oidc_payloads WHERE type IN ('AccessToken', 'RefreshToken')",
    );
    const ids = new Set(rows.map((r) => r.id));
    for (const t of Object.values(tokens)) expect(ids.has(sha256(t))).toBe(true);
    const { rows: sealed } = await db.query<{ value: { sealed?: { alg: string } } }>(
      'SELECT value FROM server_secrets',
    );
    expect(sealed[0]!.value.sealed?.alg).toBe('A256GCM');
    expect(await pc1.client.sessionStatus(cps.accessToken)).toMatchObject({ active: true });
    expect((await pc1.client.refresh(refreshed.refreshToken ?? login.refreshToken!)).claims.amr).toEqual([
      'hwk',
      'pin',
      'mfa',
    ]);
    // Ending the session still finds every token of it (by session id), on both workstations.
    await pc1.client.logout(login.accessToken);
    expect(await pc2.client.sessionStatus(reopen.accessToken)).toEqual({ active: false, reason: 'unknown' });
    expect((await refusal(pc2.client.refresh(reopen.refreshToken!))).code).toBe('invalid_grant');
  });

  it('upgrades a database written in clear: running sessions survive, the secrets get sealed, and a sealed store needs its KEK', async () => {
    // The server as it ran before: tokens under their own ids, secrets in clear, one JWKS.
    pg.createDatabase('live');
    pg.createDatabase('upgrade');
    pg.createDatabase('scratch');
    const live = database('live');
    const lb = await balancer();
    const issuer = `http://127.0.0.1:${lb.port}`;
    const before = await server(live, { issuer });
    lb.setBackends([before.port]);
    const ws = await workstation(before, 'PC-UPGRADE', issuer);
    const t = await ws.client.cardLogin(await cpsCard(before, '899999000111', 'ANCIEN'), '899999000111');
    await before.close();
    const clearSecrets = (await new SecretStore(live, null).read())!;

    // The same rows in a database at the schema before the hashing (found as the version before the
    // one that added the checkpoints), in the form the server wrote them then.
    const scratch = database('scratch');
    let v = 1;
    for (; ; v++) {
      await migrate(scratch, v);
      const { rows } = await scratch.query<{ t: string | null }>("SELECT to_regclass('audit_checkpoints')::text AS t");
      if (rows[0]!.t) break;
    }
    const old = database('upgrade');
    await migrate(old, v - 1);
    for (const table of ['accounts', 'workstations', 'roaming_sessions', 'oidc_payloads']) {
      const { rows } = await live.query<{ r: unknown }>(`SELECT to_jsonb(x) AS r FROM ${table} x`);
      for (const r of rows)
        await old.query(`INSERT INTO ${table} SELECT * FROM jsonb_populate_record(NULL::${table}, $1::jsonb)`, [
          JSON.stringify(r.r),
        ]);
    }
    for (const token of [t.accessToken, t.refreshToken!]) {
      const { rows } = await old.query(
        "UPDATE oidc_payloads SET id = $2, payload = payload || jsonb_build_object('jti', $2::text) WHERE id = $1 RETURNING id",
        [sha256(token), token],
      );
      expect(rows).toHaveLength(1);
    }
    await old.query("INSERT INTO server_secrets (name, value) VALUES ('provider', $1)", [
      JSON.stringify({
        jwks: { keys: clearSecrets.signing.map((k) => k.priv) },
        cookieKeys: clearSecrets.cookieKeys,
        nonceKey: clearSecrets.nonceKey,
      }),
    ]);
    const secretsInClear = { refresh: t.refreshToken!, ...privateParts(clearSecrets) };
    expect(await inClear(old, secretsInClear)).toEqual(
      expect.arrayContaining(['oidc_payloads: refresh', `server_secrets: ${clearSecrets.signing[0]!.kid}.d`]),
    );

    // First start of the new server, with a KEK: the same session goes on.
    const after = await server(old, { issuer, secretsKey: kekFromText(kekText, 'test') });
    lb.setBackends([after.port]);
    expect(await inClear(old, secretsInClear)).toEqual([]);
    const r = await ws.client.refresh(t.refreshToken!);
    expect(r.claims).toMatchObject({
      auth_time: t.claims.auth_time,
      sid: t.claims.sid,
      amr: ['sc', 'pin', 'hwk', 'mfa'],
    });
    expect(await ws.client.sessionStatus(t.accessToken)).toMatchObject({ active: true });
    // ID tokens signed before the upgrade verify with the upgraded server's JWKS (same keys, now sealed).
    await expect(jwtVerify(t.idToken!, createLocalJWKSet(await jwksOf(issuer)))).resolves.toBeTruthy();
    await after.close();

    await expect(server(old)).rejects.toThrow(
      /secrets are encrypted in the database: start with --secrets-key-file FILE/,
    );
    await expect(server(old, { secretsKey: kekFromText(newKekText(), 'other') })).rejects.toThrow(
      /sealed with another key-encryption key/,
    );
    // A new KEK: the store is sealed again under it, and only it opens the store from then on.
    const nextText = newKekText();
    const nextFile = path.join(dir, 'next-kek');
    fs.writeFileSync(nextFile, nextText, { mode: 0o600 });
    const url = ['--database-url', pg.url('upgrade'), '--secrets-key-file', kekFile];
    const rewrap = await admin(['keys', 'rewrap', '--new-key-file', nextFile, ...url]);
    expect(rewrap.out.at(-1)).toMatch(/^secrets scellés sous la nouvelle clé \S+ : redémarrez chaque instance/);
    await expect(server(old, { secretsKey: kekFromText(kekText, 'old') })).rejects.toThrow(
      /another key-encryption key/,
    );
    const rewrapped = await server(old, { issuer, secretsKey: kekFromText(nextText, 'next') });
    lb.setBackends([rewrapped.port]);
    await expect(jwtVerify(t.idToken!, createLocalJWKSet(await jwksOf(issuer)))).resolves.toBeTruthy();
  });

  it('rotates the signing keys: published before use, picked up by every instance, old tokens verify, then erased', async () => {
    pg.createDatabase('rotation');
    let offsetMs = 0;
    const now = () => new Date(Date.now() + offsetMs);
    const kek = kekFromText(kekText, 'test');
    const db = database('rotation');
    const lb = await balancer();
    const issuer = `http://127.0.0.1:${lb.port}`;
    const a = await server(db, { issuer, secretsKey: kek, now });
    // The second instance refreshes on its own timer, as in production (every 30 s there).
    const b = await server(database('rotation'), { issuer, secretsKey: kek, now, keyRefreshMs: 50 });
    lb.setBackends([a.port]);
    const ws = await workstation(a, 'PC-ROTATION', issuer);
    // Badge taps: the relay's challenges live by the servers' own clock (it moves ahead below).
    const acc = await a.directory.addAccount({
      idNat: '899999000121',
      adLogin: 'tournant',
      lastName: 'TOURNANT',
      firstName: 'Théo',
      profession: 'Infirmier',
      secret: '2468',
    });
    const badge = await boundBadge(a.directory, acc.id, 'CHU-ROTATION');
    const login = () => tapIn(ws.client, badge, '2468');
    const kidOf = (jwt: string) => String(decodeProtectedHeader(jwt).kid);
    const first = await login();
    const oldKid = kidOf(first.idToken!);

    const url = ['--database-url', pg.url('rotation'), '--secrets-key-file', kekFile];
    const rot = await admin(['keys', 'rotate', '--publish-delay-minutes', '60', ...url]);
    expect(rot.code).toBe(0);
    const newKid = /nouvelles clés (es-[0-9a-f]+)/.exec(rot.out[0]!)![1]!;
    await a.refreshKeys();
    const waitFor = async (port: number, want: (kids: string[]) => boolean) => {
      for (let i = 0; i < 200; i++) {
        const kids = (await jwksOf(`http://127.0.0.1:${port}`)).keys.map((k) => k.kid!);
        if (want(kids)) return kids;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`instance on ${port} never published the expected keys`);
    };
    // Published by both instances before either signs with it.
    expect(await waitFor(a.port, (k) => k.includes(newKid))).toEqual(expect.arrayContaining([oldKid, newKid]));
    expect(await waitFor(b.port, (k) => k.includes(newKid))).toEqual(expect.arrayContaining([oldKid, newKid]));
    for (const s of [a, b]) {
      lb.setBackends([s.port]);
      expect(kidOf((await login()).idToken!)).toBe(oldKid);
    }
    expect((await admin(['keys', 'list', ...url])).out).toEqual(
      expect.arrayContaining([expect.stringMatching(new RegExp(`^${newKid}\\tES256\\t\\S+\\tpubliée, signera`))]),
    );
    const cp = await a.audit.checkpoint();
    expect(cp?.kid).toBe(oldKid);

    // After the publication delay the new key signs, on both instances; tokens of the old one verify.
    offsetMs = 61 * MINUTE;
    await Promise.all([a.refreshKeys(), b.refreshKeys()]);
    for (const s of [a, b]) {
      lb.setBackends([s.port]);
      const t = await login();
      expect(kidOf(t.idToken!)).toBe(newKid);
      const jwks = createLocalJWKSet(await jwksOf(issuer));
      await expect(jwtVerify(first.idToken!, jwks)).resolves.toBeTruthy();
      await expect(jwtVerify(t.idToken!, jwks)).resolves.toBeTruthy();
    }
    await expect(a.audit.verify()).resolves.toMatchObject({ ok: true });

    // Once its last tokens have expired the old key leaves the JWKS and its private part is erased;
    // the checkpoint it signed still verifies (public parts are kept).
    offsetMs = 61 * MINUTE + (600 + 300) * 1000 + MINUTE;
    await a.refreshKeys();
    expect(await waitFor(b.port, (k) => !k.includes(oldKid))).toContain(newKid);
    expect((await jwksOf(`http://127.0.0.1:${a.port}`)).keys.map((k) => k.kid)).not.toContain(oldKid);
    const stored = (await new SecretStore(db, kek).read())!;
    expect(stored.signing.find((k) => k.kid === oldKid)).toMatchObject({ pub: { x: expect.any(String) } });
    expect(stored.signing.find((k) => k.kid === oldKid)!.priv).toBeUndefined();
    expect((await admin(['keys', 'list', ...url])).out).toEqual(
      expect.arrayContaining([expect.stringMatching(new RegExp(`^${oldKid}\\tES256\\t\\S+\\teffacée$`))]),
    );
    expect(await a.audit.verify()).toMatchObject({ ok: true, checkpoint: cp!.seq });
    // One generation waits at a time (by the administrator's clock, the new one still waits).
    expect((await admin(['keys', 'rotate', ...url])).out.at(-1)).toMatch(
      /attend déjà son activation .*: une rotation à la fois$/,
    );
  });
});

describe('the audit table defends itself', () => {
  it('refuses UPDATE, DELETE and TRUNCATE of audit rows and checkpoints, even from the table owner', async () => {
    pg.createDatabase('triggers');
    const db = database('triggers');
    const s = await server(db, { secretsKey: kekFromText(kekText, 'test') });
    await s.audit.append({ action: 'test', outcome: 'ok' });
    await s.audit.checkpoint();
    for (const sql of [
      "UPDATE audit SET outcome = 'refused'",
      'DELETE FROM audit WHERE seq = 1',
      'TRUNCATE audit',
      "UPDATE audit_checkpoints SET hash = 'x'",
      'DELETE FROM audit_checkpoints',
      'TRUNCATE audit_checkpoints',
    ])
      await expect(db.query(sql), sql).rejects.toThrow(/append-only: (UPDATE|DELETE|TRUNCATE) refused/);
    expect(await s.audit.verify()).toMatchObject({ ok: true, rows: 1 });
  });

  it('with the owner and server roles of server/README.md: the server runs, and may not change the audit', async () => {
    const readme = fs.readFileSync(path.join(ROOT, 'server/README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Separate owner and server roles'));
    const blocks = [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks).toHaveLength(3);
    const run = async (db: Db, sql: string) => {
      for (const stmt of sql.split(/;\s*\n/).map((x) => x.replace(/--.*$/gm, '').trim()))
        if (stmt) await db.query(stmt);
    };
    await run(database('postgres'), blocks[0]!);
    await run(database('sillage'), blocks[1]!);
    const migrated = await admin([
      'db',
      'migrate',
      '--database-url',
      pg.url('sillage').replace('sillage@', 'sillage_owner@'),
    ]);
    expect(migrated.out.at(-1)).toMatch(/^schéma à la version \d+$/);
    await run(database('sillage', 'sillage_owner'), blocks[2]!);

    const db = database('sillage', 'sillage_server');
    const s = await server(db, { secretsKey: kekFromText(kekText, 'test') });
    const ws = await workstation(s, 'PC-ROLES');
    const t = await ws.client.cardLogin(await cpsCard(s, '899999000131', 'ROLE'), '899999000131');
    await ws.client.refresh(t.refreshToken!);
    await ws.client.logout(t.accessToken);
    await s.audit.checkpoint();
    expect(await s.audit.verify()).toMatchObject({ ok: true });
    for (const sql of [
      "UPDATE audit SET outcome = 'refused'",
      'DELETE FROM audit',
      'TRUNCATE audit',
      'DELETE FROM audit_checkpoints',
      'ALTER TABLE audit DISABLE TRIGGER audit_append_only',
      'SET session_replication_role = replica',
    ])
      await expect(db.query(sql), sql).rejects.toThrow(/permission denied|must be owner/);
    // A schema change it may not make is named as such.
    await expect(db.query('CREATE TABLE intruder (x int)')).rejects.toThrow(/permission denied/);
  });

  it('reports a cut tail: against the stored checkpoints, and against the log’s when those are cut too', async () => {
    pg.createDatabase('cut');
    const db = database('cut');
    const logLines: string[] = [];
    let checkpointLogged!: () => void;
    const logged = new Promise<void>((r) => (checkpointLogged = r));
    const s = await server(db, {
      secretsKey: kekFromText(kekText, 'test'),
      auditCheckpointMs: 20,
      log: jsonLog((l) => {
        logLines.push(l);
        if (l.includes('"audit checkpoint"') && l.includes('"seq":10,')) checkpointLogged();
      }, 'info'),
    });
    for (let i = 0; i < 10; i++) await s.audit.append({ action: 'reopen.badge', outcome: 'ok', details: { i } });
    await logged;
    // No more checkpoints from here: the last one vouches for record 10.
    await s.close();
    for (let i = 10; i < 12; i++) await s.audit.append({ action: 'reopen.badge', outcome: 'ok', details: { i } });
    expect(await s.audit.verify()).toMatchObject({ ok: true, rows: 12 });

    await tamper(db, 'DELETE FROM audit WHERE seq > 7');
    expect(await s.audit.verify()).toEqual({
      ok: false,
      brokenAt: 8,
      reason: expect.stringMatching(
        /^records 8 to 10 are missing: the checkpoint signed at \S+ covers record 10, the chain ends at 7$/,
      ),
    });
    // Cut the checkpoints as well: the database alone now looks whole, the log still tells.
    await tamper(db, 'DELETE FROM audit_checkpoints WHERE seq > 7');
    expect(await s.audit.verify()).toMatchObject({ ok: true, rows: 7 });
    const logFile = path.join(dir, 'server.log');
    fs.writeFileSync(logFile, logLines.join('\n') + '\n');
    const url = ['--database-url', pg.url('cut'), '--secrets-key-file', kekFile];
    const v = await admin(['audit', 'verify', '--checkpoints', logFile, ...url]);
    expect(v.code).toBe(1);
    expect(v.out.at(-1)).toMatch(/^chaîne d’audit ROMPUE à l’enregistrement 8 : records 8 to 10 are missing/);
    // A forged checkpoint (another key) is refused, not believed.
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const forged = await new CompactSign(
      new TextEncoder().encode('{"seq":1,"hash":"' + '0'.repeat(64) + '","at":"2026-01-01T00:00:00Z"}'),
    )
      .setProtectedHeader({ alg: 'ES256', kid: 'es-forged', typ: 'sillage-audit-checkpoint' })
      .sign(privateKey);
    fs.writeFileSync(logFile, forged + '\n');
    expect((await admin(['audit', 'verify', '--checkpoints', logFile, ...url])).out.at(-1)).toMatch(
      /ROMPUE .* checkpoint signed by an unknown key \(es-forged\)/,
    );
  });

  it('exports a slice for the RSSI that verifies offline; an edited, shortened or re-signed copy does not', async () => {
    pg.createDatabase('export');
    const db = database('export');
    const s = await server(db, { secretsKey: kekFromText(kekText, 'test') });
    for (let i = 0; i < 6; i++)
      await s.audit.append({
        action: 'login.badge',
        outcome: 'ok',
        accountId: `acc-${i}`,
        details: { i, note: 'élevé' },
      });
    await s.audit.checkpoint();
    for (let i = 6; i < 9; i++) await s.audit.append({ action: 'reopen.badge', outcome: 'ok', accountId: `acc-${i}` });
    const url = ['--database-url', pg.url('export'), '--secrets-key-file', kekFile];
    const file = path.join(dir, 'slice.jsonl');
    const e = await admin(['audit', 'export', '--from', '3', '--to', '8', '--out', file, ...url]);
    expect(e).toEqual({ code: 0, out: [`enregistrements 3 à 8 exportés dans ${file}`] });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const text = fs.readFileSync(file, 'utf8');
    const lines = text.trimEnd().split('\n');
    expect(lines.filter((l) => l.startsWith('{"record"'))).toHaveLength(6);
    expect(lines.filter((l) => l.startsWith('{"checkpoint"'))).toHaveLength(2);

    // Offline: no database option at all.
    const ok = await admin(['audit', 'verify-export', file]);
    expect(ok.code).toBe(0);
    expect(ok.out[0]).toBe('export vérifié : enregistrements 3 à 8, 2 point(s) de contrôle signé(s)');
    const list = await admin(['keys', 'list', ...url]);
    const thumb = list.out.find((l) => /\tES256\t/.test(l) && l.endsWith('\tsigne'))!.split('\t')[2]!;
    expect(ok.out[1]).toContain(`(empreinte ${thumb})`);

    const verifyText = async (t: string, extra: string[] = []) => {
      const f = path.join(dir, `edited-${Math.random().toString(36).slice(2)}.jsonl`);
      fs.writeFileSync(f, t);
      return admin(['audit', 'verify-export', f, ...extra]);
    };
    const edited = await verifyText(text.replace('"accountId":"acc-4"', '"accountId":"acc-X"'));
    expect(edited).toEqual({ code: 1, out: ['export NON VÉRIFIÉ : record 5: row content does not match its hash'] });
    const noLast = await verifyText(lines.filter((l) => !l.includes('"seq":8,')).join('\n'));
    expect(noLast.code).toBe(1);
    expect(noLast.out[0]).toMatch(/records 3 to 8 announced, 5 present/);

    // Someone rewrites record 5 and re-signs the head with a key of their own, shipped in the file:
    // the file is self-consistent, its signer is not the server's, and the server's JWKS refuses it.
    const rows = lines
      .filter((l) => l.startsWith('{"record"'))
      .map((l) => (JSON.parse(l) as { record: Record<string, unknown> }).record);
    const h = createHash;
    let prev = rows[0]!.prevHash as string;
    for (const r of rows) {
      if (r.seq === 5) r.accountId = 'acc-X';
      const { at, action, outcome, accountId, workstation, factor, reason, details } = r;
      const content = h('sha256')
        .update(canonicalJson({ at, action, outcome, accountId, workstation, factor, reason, details }))
        .digest('hex');
      r.prevHash = prev;
      r.hash = h('sha256').update(`${prev}:${r.seq}:${content}`).digest('hex');
      prev = r.hash as string;
    }
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const cp = await new CompactSign(
      new TextEncoder().encode(JSON.stringify({ seq: 8, hash: prev, at: new Date().toISOString() })),
    )
      .setProtectedHeader({ alg: 'ES256', kid: 'es-mallory', typ: 'sillage-audit-checkpoint' })
      .sign(privateKey);
    const forged = [
      lines[0],
      ...rows.map((record) => JSON.stringify({ record })),
      JSON.stringify({ checkpoint: cp }),
      JSON.stringify({ key: { ...(await exportJWK(publicKey)), kid: 'es-mallory', alg: 'ES256' } }),
    ].join('\n');
    const selfConsistent = await verifyText(forged);
    expect(selfConsistent.code).toBe(0);
    expect(selfConsistent.out[1]).not.toContain(thumb);
    const jwksFile = path.join(dir, 'server-jwks.json');
    fs.writeFileSync(jwksFile, JSON.stringify(await jwksOf(s.issuer)));
    expect(await verifyText(forged, ['--jwks', jwksFile])).toEqual({
      code: 1,
      out: ['export NON VÉRIFIÉ : checkpoint signed by an unknown key (es-mallory)'],
    });
    expect((await verifyText(text, ['--jwks', jwksFile])).code).toBe(0);
    expect((await s.audit.query({ action: 'admin.audit.export' })).map((r) => r.details)).toEqual([{ from: 3, to: 8 }]);
    // By period: a date alone is midnight UTC.
    const byDate = await admin([
      'audit',
      'export',
      '--since',
      '2000-01-01',
      '--until',
      '2100-01-01',
      '--out',
      file,
      ...url,
    ]);
    expect(byDate.out).toEqual([expect.stringMatching(/^enregistrements 1 à 1[01] exportés/)]);
    expect((await admin(['audit', 'verify-export', file])).code).toBe(0);
    expect((await admin(['audit', 'export', '--until', '2000-01-02', '--out', file, ...url])).out).toEqual([
      'erreur : no audit record in that period',
    ]);
  });
});

// PGlite's first start (initdb in WebAssembly) takes seconds on a loaded machine: longer limits here.
describe('on PGlite (the embedded server of npm start)', () => {
  it('makes its own KEK in its data directory (0600), seals its secrets, and refuses audit edits', async () => {
    const dataDir = path.join(dir, 'pglite');
    const argv = ['--data-dir', dataDir];
    const db = await pgliteDb(dataDir);
    dbs.push(db);
    const kek = secretsKey(argv);
    const file = path.join(dataDir, PGLITE_KEK_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(secretsKey(argv)!.id).toBe(kek!.id);
    const s = await server(db, { secretsKey: kek });
    await s.audit.append({ action: 'test', outcome: 'ok' });
    const { rows } = await db.query<{ value: { sealed?: unknown } }>('SELECT value FROM server_secrets');
    expect(rows[0]!.value.sealed).toBeTruthy();
    await expect(db.query('DELETE FROM audit')).rejects.toThrow(/append-only: DELETE refused/);
    await s.close();
    await db.close();
    dbs.splice(dbs.indexOf(db), 1);
    // A KEK file others can read is refused.
    fs.chmodSync(file, 0o644);
    expect(() => secretsKey(argv)).toThrow(/readable by others, chmod 600 it/);
    fs.chmodSync(file, 0o600);
  }, 90_000);

  it('npm run server refuses to start on a sealed store without its KEK, saying what to do', async () => {
    const dataDir = path.join(dir, 'pglite');
    const wrong = path.join(dir, 'wrong-kek');
    fs.writeFileSync(wrong, newKekText(), { mode: 0o600 });
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'server/src/main.ts', '--port', '0', '--data-dir', dataDir, '--secrets-key-file', wrong],
        { cwd: ROOT, timeout: 60_000 },
        (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /failed to start: the server's secrets were sealed with another key-encryption key \(\S+\): start with --secrets-key-file FILE/,
    );
  }, 90_000);
});
