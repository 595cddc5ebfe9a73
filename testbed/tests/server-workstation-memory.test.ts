// Each instance remembers the workstations it has seen active (their keys never change), and reads their
// status with every client assertion's record. Two instances on one PostgreSQL: workstations used on B, so
// B remembers them, then revoked through the admin CLI: B refuses each of them on its next request, at
// every endpoint that authenticates a workstation, and nothing is issued or audited as ok; their tokens
// stop on /sillage and introspect inactive. A workstation registered on A works on B at once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWorkstation, SessionServerClient, workstationAssertion } from '../../electron/core/oidc/server-client';
import type { ServerTokens, WorkstationCredentials } from '../../electron/core/oidc/server-client';
import type { SessionServer } from '../../server/src/app';
import { runAdmin } from '../../server/src/cli';
import { boundBadge, tapIn, tapProof } from '../badges';
import type { DesfireEmulator } from '../cards/desfire-card';
import { pinVerifiedCard } from '../key-card';
import { makeTestPki } from '../pki';
import type { TestPki } from '../pki';
import { refusal } from '../server-refusal';
import { STAFF, startCluster } from '../stack';
import type { ClusterStack } from '../stack';

const DPI = { clientId: 'dpi-memory', clientSecret: 'dpi-secret-for-tests-only', audiences: ['https://dpi.test'] };
const dpiBasic = { authorization: `Basic ${Buffer.from(`${DPI.clientId}:${DPI.clientSecret}`).toString('base64')}` };
const RELAY_BEGIN = {
  scheme: 'ev2',
  aid: Buffer.from([0x30, 0x12, 0xf5]).toString('base64url'),
  keyNo: 1,
  encRndB: Buffer.alloc(16, 7).toString('base64url'),
} as const;

let cluster: ClusterStack;
let A: SessionServer;
let B: SessionServer;
let pki: TestPki;
let dir: string;
let seq = 0;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-ws-memory-'));
  pki = makeTestPki(path.join(dir, 'pki'));
  cluster = await startCluster(2, {
    trustAnchorsPem: [pki.root.certPem],
    intermediateCasPem: [pki.ca.certPem],
    relyingParties: [DPI],
  });
  [A, B] = cluster.servers as [SessionServer, SessionServer];
}, 120_000);

afterAll(async () => {
  await cluster?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Requests to the address workstations use, sent to one instance. */
const to =
  (s: SessionServer): typeof fetch =>
  (url, init) =>
    fetch(String(url instanceof Request ? url.url : url).replace(cluster.issuer, `http://127.0.0.1:${s.port}`), init);

/** A form POST to one instance. */
async function post(s: SessionServer, p: string, params: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${s.port}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

interface Ws {
  creds: WorkstationCredentials;
  client: SessionServerClient;
}

/** A workstation registered on A, whose requests go to `on`. */
async function workstation(name: string, on: SessionServer): Promise<Ws> {
  const token = await A.directory.createEnrolmentToken(name);
  const creds = await registerWorkstation(cluster.issuer, token, name, { fetch: to(A) });
  return {
    creds,
    client: await SessionServerClient.connect(cluster.issuer, creds, { allowHttp: true, fetch: to(on) }),
  };
}

/** A nurse (code 2468) and her badge. */
async function nurse(): Promise<DesfireEmulator> {
  seq++;
  const a = await A.directory.addAccount({
    idNat: `8999991${String(seq).padStart(5, '0')}`,
    adLogin: `memory${seq}`,
    lastName: `MEMOIRE${seq}`,
    firstName: 'Alex',
    profession: 'Infirmier',
    secret: '2468',
  });
  return boundBadge(A.directory, a.id, `CHU-MEM-${seq}`);
}

/** A workstation that logged a nurse in on B (relay call and badge grants there): B remembers it. */
async function rememberedByB(name: string): Promise<Ws & { badge: DesfireEmulator; tokens: ServerTokens }> {
  const ws = await workstation(name, B);
  const badge = await nurse();
  return { ...ws, badge, tokens: await tapIn(ws.client, badge, '2468') };
}

const revoke = async (ws: Ws) => {
  const out: string[] = [];
  expect(
    await runAdmin(['workstation', 'revoke', ws.creds.clientId, '--database-url', cluster.pg.url('sillage')], (l) =>
      out.push(l),
    ),
  ).toBe(0);
  expect(out.at(-1)).toBe('poste révoqué');
};

/** What a workstation has been issued and not yet revoked (grants and tokens). */
async function issuedTo(clientId: string): Promise<number> {
  const { rows } = await cluster.dbs[0]!.query<{ n: string }>(
    "SELECT count(*) AS n FROM oidc_payloads WHERE type IN ('Grant', 'AccessToken', 'RefreshToken') AND payload->>'clientId' = $1",
    [clientId],
  );
  return Number(rows[0]!.n);
}

async function auditSeq(): Promise<number> {
  const { rows } = await cluster.dbs[0]!.query<{ n: string | null }>('SELECT max(seq) AS n FROM audit');
  return Number(rows[0]!.n ?? 0);
}

const auditSince = (after: number) => A.audit.query({ limit: 500 }).then((rows) => rows.filter((r) => r.seq > after));

describe('the memory of workstations seen active', () => {
  it('a workstation B remembers, revoked through the admin CLI: B refuses it at every endpoint on its next request, issues and audits nothing as ok', async () => {
    const doctor = pki.issue(STAFF.louis, 'louis-memory');
    await A.directory.addAccount(STAFF.louis);
    const card = await pinVerifiedCard(doctor);

    // Each workstation meets the revocation on one endpoint, remembered by B until then.
    const tap = await rememberedByB('PC-MEM-TAP');
    const tapAfter = await tapProof(tap.client, tap.badge);
    const code = await workstation('PC-MEM-CODE', B);
    const ticket = String(
      (await refusal(code.client.badge(await tapProof(code.client, await nurse())))).body.login_ticket,
    );
    const cps = await rememberedByB('PC-MEM-CPS');
    const refresh = await rememberedByB('PC-MEM-REFRESH');
    const exchange = await rememberedByB('PC-MEM-EXCHANGE');
    const introspect = await rememberedByB('PC-MEM-INTROSPECT');
    const revocation = await rememberedByB('PC-MEM-REVOKE');
    const relay = await rememberedByB('PC-MEM-RELAY');
    const bearer = await rememberedByB('PC-MEM-BEARER');
    const dpi = await rememberedByB('PC-MEM-DPI');
    const dpiToken = (await dpi.client.exchange(dpi.tokens.accessToken, 'https://dpi.test')).accessToken;
    const introspectByDpi = (t: string) => post(B, '/token/introspection', { token: t }, dpiBasic);
    expect((await introspectByDpi(dpiToken)).body.active).toBe(true);
    const all = [tap, code, cps, refresh, exchange, introspect, revocation, relay, bearer, dpi];
    const issued = await Promise.all(all.map((w) => issuedTo(w.creds.clientId)));

    const before = await auditSeq();
    for (const w of all) await revoke(w);

    expect((await refusal(tap.client.badge(tapAfter))).code).toBe('invalid_client');
    expect((await refusal(code.client.badgeCode(ticket, '2468'))).code).toBe('invalid_client');
    expect((await refusal(cps.client.cardLogin(card, STAFF.louis.idNat))).code).toBe('invalid_client');
    expect((await refusal(refresh.client.refresh(refresh.tokens.refreshToken!))).code).toBe('invalid_client');
    expect((await refusal(exchange.client.exchange(exchange.tokens.accessToken, 'https://dpi.test'))).code).toBe(
      'invalid_client',
    );
    const own = await post(B, '/token/introspection', {
      token: introspect.tokens.accessToken,
      client_id: introspect.creds.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await workstationAssertion(introspect.creds.key, introspect.creds.clientId, cluster.issuer),
    });
    expect(own).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect((await refusal(revocation.client.revoke(revocation.tokens.refreshToken!))).code).toBe('invalid_client');
    const begin = await refusal(relay.client.relayBegin(RELAY_BEGIN));
    expect(begin.body).toMatchObject({ error: 'invalid_client', error_description: 'unknown or revoked workstation' });
    // Its access token for the Sillage API, its token for the DPI: the status read there is fresh.
    expect(await bearer.client.sessionStatus(bearer.tokens.accessToken)).toMatchObject({ active: false });
    expect(await introspectByDpi(dpiToken)).toEqual({ status: 200, body: { active: false } });

    // Nothing issued (nor revoked: the revocation was refused too), nothing audited as ok.
    expect(await Promise.all(all.map((w) => issuedTo(w.creds.clientId)))).toEqual(issued);
    const audited = await auditSince(before);
    const revoked = new Set(all.map((w) => w.creds.clientId));
    expect(audited.filter((r) => r.outcome === 'ok' && r.action !== 'admin.workstation.revoke')).toEqual([]);
    expect(audited.filter((r) => r.action === 'admin.workstation.revoke')).toHaveLength(all.length);
    // The grants' refusals name the workstation and why, as oidc-provider's client-authentication refusals.
    const tokenRefusals = audited.filter((r) => r.action === 'token.request');
    expect(tokenRefusals.map((r) => [r.workstation, r.outcome, r.reason])).toEqual(
      [tap, code, cps, refresh, exchange].map((w) => [
        w.creds.clientId,
        'refused',
        'invalid_client: client authentication failed (unknown or revoked workstation)',
      ]),
    );
    // Introspection and revocation refuse it as the token endpoint does, audited under their own action.
    expect(
      audited
        .filter((r) => r.action === 'token.introspection' || r.action === 'token.revocation')
        .map((r) => [r.action, r.workstation, r.outcome, r.reason]),
    ).toEqual(
      [
        ['token.introspection', introspect],
        ['token.revocation', revocation],
      ].map(([action, w]) => [
        action,
        (w as typeof introspect).creds.clientId,
        'refused',
        'invalid_client: client authentication failed (unknown or revoked workstation)',
      ]),
    );
    const [use] = audited.filter((r) => r.action === 'token.use');
    expect(use).toMatchObject({
      workstation: bearer.creds.clientId,
      outcome: 'refused',
      reason: 'workstation_revoked',
    });
    expect(audited.filter((r) => r.action === 'badge.relay-auth')).toMatchObject([
      { outcome: 'refused', reason: 'invalid_client: unknown or revoked workstation' },
    ]);
    const admin = (r: { action: string }) => r.action.startsWith('admin.');
    expect(audited.filter((r) => !admin(r)).every((r) => r.workstation === null || revoked.has(r.workstation))).toBe(
      true,
    );

    // Refused once, forgotten: B's next lookup of it reads the database, which no longer has it active.
    // (The same tap again: a new one's relay call would be refused, and this challenge was left unspent.)
    const again = await refusal(tap.client.badge(tapAfter));
    expect(again.code).toBe('invalid_client');
    const [last] = (await auditSince(before)).filter((r) => r.action === 'token.request').slice(-1);
    expect(last!.reason).toBe('invalid_client: client authentication failed (client not found)');
  });

  it('a workstation registered on A works on B at once: relay, badge login and re-open, CPS login, refresh, exchange', async () => {
    const ws = await workstation('PC-MEM-NEW', B);
    const badge = await nurse();
    const t = await tapIn(ws.client, badge, '2468');
    expect(t.claims.acr).toBe('urn:sillage:loa:mfa');
    expect((await ws.client.badge(await tapProof(ws.client, badge))).claims.acr).toBe('urn:sillage:loa:reopen');
    const card = await pinVerifiedCard(pki.issue(STAFF.louis, 'louis-memory-new'));
    expect((await ws.client.cardLogin(card, STAFF.louis.idNat)).claims.acr).toBe('urn:sillage:loa:mfa');
    expect((await ws.client.refresh(t.refreshToken!)).accessToken).toBeTruthy();
    const dpiToken = (await ws.client.exchange(t.accessToken, 'https://dpi.test')).accessToken;
    expect((await post(B, '/token/introspection', { token: dpiToken }, dpiBasic)).body.active).toBe(true);
    expect(await ws.client.sessionStatus(t.accessToken)).toMatchObject({ active: true });
  });
});
