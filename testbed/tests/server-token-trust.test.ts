// What the session server trusts, attacked from outside over HTTP on PostgreSQL: tokens only by their
// audience, a revoked workstation's tokens at once, honest acr/amr after refresh and exchange, client
// assertions bounded in time and used once, workstation keys, hostile text, clock skew. The attacker side
// signs with its own JWT library (jose) and speaks raw HTTP; the legitimate side is the agent's client.
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, importPKCS8, SignJWT } from 'jose';
import type { JWK } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerWorkstation, SessionServerClient } from '../../electron/core/oidc/server-client';
import { SoftwareKey } from '../../electron/core/keys/software-key';
import { pruneExpired } from '../../server/src/adapter';
import type { SessionServer } from '../../server/src/app';
import type { Db } from '../../server/src/db';
import { forSillageApi } from '../../server/src/provider';
import { ROUTES } from '../../server/src/routes';
import { badgeCodeParams, badgeTapParams } from '@sillage/protocol';
import { tapIn, tapProof, twinOf, uidOf } from '../badges';
import { hospitalBadge } from '../cards/desfire-card';
import type { DesfireEmulator } from '../cards/desfire-card';
import { pinVerifiedCard } from '../key-card';
import { makeTestPki } from '../pki';
import type { TestPki } from '../pki';
import { startServerStack } from '../stack';
import type { ServerStack } from '../stack';

const DPI = { clientId: 'dpi-trust', clientSecret: 'dpi-secret-for-tests-only', audiences: ['https://dpi.test'] };
const GRANT_BADGE = 'urn:sillage:params:oauth:grant-type:badge';
const GRANT_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const RELAY_BEGIN = {
  scheme: 'ev2',
  aid: Buffer.from([0x30, 0x12, 0xf5]).toString('base64url'),
  keyNo: 1,
  encRndB: Buffer.alloc(16, 7).toString('base64url'),
};

let stack: ServerStack;
let db: Db;
let server: SessionServer;
let pki: TestPki;
let dir: string;
let issuer: string;
let seq = 0;

interface Ws {
  /** What an attacker holding the workstation's software key would have. */
  creds: { clientId: string; privateJwk: JWK };
  client: SessionServerClient;
}

async function workstation(name: string): Promise<Ws> {
  const token = await server.directory.createEnrolmentToken(name);
  const key = SoftwareKey.generate();
  const creds = await registerWorkstation(issuer, token, name, { key });
  return {
    creds: { clientId: creds.clientId, privateJwk: key.privateJwk },
    client: await SessionServerClient.connect(issuer, creds, { allowHttp: true }),
  };
}

/** A nurse (code 2468) and her badge, bound by its chip UID (and `number`). */
async function nurse(number: string, secret = '2468'): Promise<DesfireEmulator> {
  seq++;
  const a = await server.directory.addAccount({
    idNat: `8999990${String(70000 + seq).padStart(5, '0')}`,
    adLogin: `nurse${seq}`,
    lastName: `INFIRMIER${seq}`,
    firstName: 'Alex',
    profession: 'Infirmier',
    secret,
  });
  const badge = hospitalBadge(number);
  await server.directory.bindBadge({ uid: uidOf(badge), number }, a.id);
  return badge;
}

/** A tap's grant parameters, proven by `ws` (what a hand-made token request carries). */
const tapParams = async (ws: Ws, badge: DesfireEmulator) => ({
  grant_type: GRANT_BADGE,
  ...badgeTapParams(await tapProof(ws.client, badge)),
});

/** A client assertion signed with the attacker's own tooling: any times, any jti. */
async function assertion(
  creds: { clientId: string; privateJwk: JWK },
  o: { iat?: number; exp?: number; jti?: string; iss?: string; alg?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const alg = o.alg ?? 'ES256';
  const claims: Record<string, unknown> = {
    iss: o.iss ?? creds.clientId,
    sub: o.iss ?? creds.clientId,
    aud: issuer,
    jti: o.jti ?? randomUUID(),
    exp: o.exp ?? now + 60,
  };
  if (o.iat !== null) claims.iat = o.iat ?? now;
  return new SignJWT(claims)
    .setProtectedHeader({ alg, ...(creds.privateJwk.kid ? { kid: creds.privateJwk.kid } : {}) })
    .sign(await importJWK(creds.privateJwk, alg));
}

const form = async (p: string, params: Record<string, string>, headers: Record<string, string> = {}) => {
  const res = await fetch(`${issuer}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
};

/** A token request authenticated by `clientAssertion` (the workstation's own or a forged one). */
const token = (creds: { clientId: string }, clientAssertion: string, params: Record<string, string>) =>
  form('/token', {
    client_id: creds.clientId,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: clientAssertion,
    ...params,
  });

const json = async (
  method: string,
  p: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> => {
  const res = await fetch(`${issuer}${p}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(method === 'GET' ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
};

const dpiBasic = { authorization: `Basic ${Buffer.from(`${DPI.clientId}:${DPI.clientSecret}`).toString('base64')}` };
const introspect = (t: string) => form('/token/introspection', { token: t }, dpiBasic);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-trust-'));
  pki = makeTestPki(path.join(dir, 'pki'));
  stack = await startServerStack({
    trustAnchorsPem: [pki.root.certPem],
    intermediateCasPem: [pki.ca.certPem],
    relyingParties: [DPI],
  });
  ({ db, server } = stack);
  issuer = server.issuer;
}, 120_000);

afterEach(() => {
  vi.useRealTimers();
});

afterAll(async () => {
  await stack?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A doctor of the directory (CPS card only, no session code) and the certificate of their card. */
async function doctor(who: { idNat: string; adLogin: string; lastName: string; firstName: string }) {
  const person = { ...who, profession: 'Médecin' };
  await server.directory.addAccount(person);
  return pki.issue(person);
}

describe('tokens are accepted by their audience only', () => {
  it('a DPI token (token exchange) enrols no badge, ends no session and reads none, on every /sillage route; audited', async () => {
    const ws = await workstation('PC-AUD-01');
    const person = await doctor({ idNat: '899999000129', adLogin: 'lroux', lastName: 'ROUX', firstName: 'Léa' });
    const card = await pinVerifiedCard(person);
    // A 2-factor CPS login: the one token kind that may enrol a badge.
    const login = await ws.client.cardLogin(card, '899999000129');
    const dpiToken = (await ws.client.exchange(login.accessToken, 'https://dpi.test')).accessToken;
    const asDpi = { authorization: `Bearer ${dpiToken}` };

    // Every route of the table, with what it would need besides a workstation token.
    const stolen = hospitalBadge('CHU-STOLEN-BY-DPI');
    const bodies: Record<string, unknown> = {
      'POST /sillage/nonce': {},
      'POST /sillage/desfire/auth/begin': RELAY_BEGIN,
      'POST /sillage/desfire/auth/finish': { handle: 'AAAA', cardReply: 'AAAA' },
      'POST /sillage/workstations': { enrolment_token: 'not-a-token', name: 'PC', jwks: { keys: [] } },
      'GET /sillage/session': null,
      'POST /sillage/session/end': {},
      'POST /sillage/badges': badgeTapParams(await tapProof(ws.client, stolen)),
    };
    expect(Object.keys(bodies).sort()).toEqual(Object.keys(ROUTES).sort());
    const answers: Record<string, number> = {};
    for (const [route, body] of Object.entries(bodies)) {
      const [method, p] = route.split(' ') as [string, string];
      answers[route] = (await json(method, p, body, asDpi)).status;
    }
    expect(answers).toEqual({
      // Public: the token adds nothing.
      'POST /sillage/nonce': 200,
      // Authenticated by a workstation assertion or an enrolment token, which a bearer token is not.
      'POST /sillage/desfire/auth/begin': 401,
      'POST /sillage/desfire/auth/finish': 401,
      'POST /sillage/workstations': 400,
      // Workstation tokens only.
      'GET /sillage/session': 401,
      'POST /sillage/session/end': 401,
      'POST /sillage/badges': 401,
    });
    // Nothing happened: the session is live, the badge unknown.
    expect(await ws.client.sessionStatus(login.accessToken)).toMatchObject({ active: true });
    expect(await server.directory.badgeOwner({ uid: uidOf(stolen) })).toEqual({ refused: 'unknown' });
    const refusals = (await server.audit.query({ action: 'token.use', limit: 10 })).filter(
      (r) => r.workstation === ws.creds.clientId,
    );
    expect(refusals.map((r) => [r.reason, r.details?.path])).toEqual([
      ['wrong_audience', '/sillage/session'],
      ['wrong_audience', '/sillage/session/end'],
      ['wrong_audience', '/sillage/badges'],
    ]);
    // Nor is a DPI token exchanged again.
    const again = await token(ws.creds, await assertion(ws.creds), {
      grant_type: GRANT_EXCHANGE,
      subject_token: dpiToken,
      subject_token_type: AT_TYPE,
      audience: 'https://dpi.test',
    });
    expect(again).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });

    // The workstation's own tokens, first and refreshed, work on the same routes.
    const refreshed = await ws.client.refresh(login.refreshToken!);
    expect(await ws.client.sessionStatus(refreshed.accessToken)).toMatchObject({ active: true });
    const lea = hospitalBadge('CHU-LEA');
    const proof = await tapProof(ws.client, lea);
    if (proof.kind !== 'desfire') throw new Error('relay proof expected');
    await ws.client.enrolBadge(refreshed.accessToken, proof);
    expect(await server.directory.badgeOwner({ uid: uidOf(lea) })).toMatchObject({ account: { lastName: 'ROUX' } });
    await ws.client.logout(login.accessToken);
    expect(await ws.client.sessionStatus(refreshed.accessToken)).toMatchObject({ active: false });
  });

  it('knows a workstation token for the Sillage API by its audience, or (issued before it had one) by its login grant', () => {
    const api = `${issuer}/sillage`;
    expect(forSillageApi({ aud: api, gty: GRANT_BADGE }, api)).toBe(true);
    expect(forSillageApi({ aud: 'https://dpi.test', gty: GRANT_EXCHANGE }, api)).toBe(false);
    expect(forSillageApi({ aud: ['https://dpi.test', api], gty: GRANT_BADGE }, api)).toBe(false);
    expect(forSillageApi({ gty: `${GRANT_BADGE} refresh_token` }, api)).toBe(true);
    expect(forSillageApi({ gty: 'urn:ietf:params:oauth:grant-type:jwt-bearer' }, api)).toBe(true);
    expect(forSillageApi({ gty: GRANT_EXCHANGE }, api)).toBe(false);
    expect(forSillageApi({}, api)).toBe(false);
  });

  it("a revoked workstation's live tokens stop at once on /sillage, and introspecting them says inactive (no 500)", async () => {
    const ws = await workstation('PC-REVOKED');
    const t = await tapIn(ws.client, await nurse('CHU-REVOKED-WS'), '2468');
    const dpiToken = (await ws.client.exchange(t.accessToken, 'https://dpi.test')).accessToken;
    expect(await introspect(dpiToken)).toMatchObject({ status: 200, body: { active: true } });

    expect(await server.directory.revokeWorkstation(ws.creds.clientId)).toBe(true);
    expect(await json('GET', '/sillage/session', null, { authorization: `Bearer ${t.accessToken}` })).toMatchObject({
      status: 401,
      body: { active: false },
    });
    expect(await introspect(dpiToken)).toEqual({ status: 200, body: { active: false } });
    expect(await introspect(t.accessToken)).toEqual({ status: 200, body: { active: false } });
    expect(await introspect(t.refreshToken!)).toEqual({ status: 200, body: { active: false } });
    const [use] = await server.audit.query({ action: 'token.use', limit: 1 });
    expect(use).toMatchObject({ workstation: ws.creds.clientId, outcome: 'refused', reason: 'workstation_revoked' });
    // Its key no longer authenticates anything, though this instance remembers it from the requests above.
    const refresh = await token(ws.creds, await assertion(ws.creds), {
      grant_type: 'refresh_token',
      refresh_token: t.refreshToken!,
    });
    expect(refresh).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const exchanged = await token(ws.creds, await assertion(ws.creds), {
      grant_type: GRANT_EXCHANGE,
      subject_token: t.accessToken,
      subject_token_type: AT_TYPE,
      audience: 'https://dpi.test',
    });
    expect(exchanged).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const revocation = await form('/token/revocation', {
      token: t.refreshToken!,
      client_id: ws.creds.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(ws.creds),
    });
    expect(revocation).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(
      await json('POST', '/sillage/desfire/auth/begin', {
        ...RELAY_BEGIN,
        client_assertion: await assertion(ws.creds),
      }),
    ).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    // The refresh and the exchange, audited as refusals: the first one found the workstation revoked
    // while recording its assertion, and this instance forgot it; the next one no longer finds it.
    const refusals = await server.audit.query({ action: 'token.request', limit: 2 });
    expect(refusals.map((r) => [r.outcome, r.reason])).toEqual([
      ['refused', expect.stringMatching(/^invalid_client: .*\(unknown or revoked workstation\)/)],
      ['refused', expect.stringMatching(/^invalid_client: .*\(client not found\)/)],
    ]);
  });

  it("a badge tap begun before its workstation's revocation issues nothing after it", async () => {
    const ws = await workstation('PC-REVOKED-MID-TAP');
    const badge = await nurse('CHU-REVOKED-MID-TAP');
    await tapIn(ws.client, badge, '2468');
    const params = await tapParams(ws, badge);
    expect(await server.directory.revokeWorkstation(ws.creds.clientId)).toBe(true);
    const tap = await token(ws.creds, await assertion(ws.creds), params);
    expect(tap).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(tap.body.access_token).toBeUndefined();
    const [reopen] = await server.audit.query({ action: 'reopen.badge', limit: 1 });
    expect(reopen?.workstation === ws.creds.clientId && reopen.outcome === 'ok').toBe(false);
    const [refused] = await server.audit.query({ action: 'token.request', limit: 1 });
    expect(refused).toMatchObject({ workstation: ws.creds.clientId, outcome: 'refused' });
    expect(refused!.reason).toMatch(/unknown or revoked workstation/);
  });
});

describe('acr, amr and auth_time tell the truth', () => {
  it('after a refresh, in a token exchanged from a 1-factor re-open, in introspection and in discovery', async () => {
    const pc1 = await workstation('PC-CLAIMS-1');
    const pc2 = await workstation('PC-CLAIMS-2');
    const badge = await nurse('CHU-CLAIMS');
    const login = await tapIn(pc1.client, badge, '2468');
    const reopen = await pc2.client.badge(await tapProof(pc2.client, badge));
    const mfa = { acr: 'urn:sillage:loa:mfa', amr: ['hwk', 'pin', 'mfa'], auth_time: login.claims.auth_time };
    const oneFactor = { acr: 'urn:sillage:loa:reopen', amr: ['hwk'], auth_time: login.claims.auth_time };
    expect(login.claims).toMatchObject(mfa);
    expect(reopen.claims).toMatchObject(oneFactor);

    // Refreshed ID tokens keep acr, amr, auth_time (and the profile).
    const r1 = await pc1.client.refresh(login.refreshToken!);
    const r2 = await pc2.client.refresh(reopen.refreshToken!);
    expect(r1.claims).toMatchObject({ ...mfa, family_name: login.claims.family_name, sid: login.claims.sid });
    expect(r2.claims).toMatchObject(oneFactor);

    // Tokens exchanged for the DPI say what the workstation's own token proved, refreshed or not.
    const intro = async (t: string) =>
      (await introspect((await pc2.client.exchange(t, 'https://dpi.test')).accessToken)).body;
    expect(await intro(reopen.accessToken)).toMatchObject({ active: true, aud: 'https://dpi.test', ...oneFactor });
    expect(await intro(r2.accessToken)).toMatchObject({ active: true, ...oneFactor });
    expect(
      (await introspect((await pc1.client.exchange(r1.accessToken, 'https://dpi.test')).accessToken)).body,
    ).toMatchObject({ active: true, ...mfa });

    // Discovery advertises what a client can use, and no logout page that would leave the session open.
    const disc = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(disc.acr_values_supported).toEqual(['urn:sillage:loa:mfa', 'urn:sillage:loa:reopen']);
    expect(disc.grant_types_supported).toEqual([
      'refresh_token',
      'urn:ietf:params:oauth:grant-type:jwt-bearer',
      GRANT_BADGE,
      GRANT_EXCHANGE,
    ]);
    expect(disc.response_types_supported).toEqual([]);
    expect(disc.sillage_clock_skew_seconds).toBe(120);
    for (const gone of [
      'end_session_endpoint',
      'userinfo_endpoint',
      'pushed_authorization_request_endpoint',
      'dpop_signing_alg_values_supported',
    ])
      expect(disc).not.toHaveProperty(gone);
    expect((await fetch(`${issuer}/session/end`)).status).toBe(404);
  });
});

describe('workstation assertions', () => {
  it('live 5 minutes at most, at the token endpoint and the relay; refused ones are audited', async () => {
    const ws = await workstation('PC-LIFETIME');
    const badge = await nurse('CHU-LIFETIME');
    await tapIn(ws.client, badge, '2468');
    const now = Math.floor(Date.now() / 1000);
    const reopen = await tapParams(ws, badge);
    const threeHours = await assertion(ws.creds, { iat: now, exp: now + 3 * 3600 });
    expect(await token(ws.creds, threeHours, reopen)).toMatchObject({
      status: 401,
      body: { error: 'invalid_client' },
    });
    expect(
      await json('POST', '/sillage/desfire/auth/begin', { ...RELAY_BEGIN, client_assertion: threeHours }),
    ).toMatchObject({
      status: 401,
      body: { error: 'invalid_client', error_description: expect.stringMatching(/lifetime/) },
    });
    // No iat: the lifetime cannot be known.
    const noIat = await assertion(ws.creds, { iat: null as unknown as number });
    expect((await token(ws.creds, noIat, reopen)).status).toBe(401);
    const [refused] = await server.audit.query({ action: 'token.request', limit: 1 });
    expect(refused).toMatchObject({
      outcome: 'refused',
      workstation: ws.creds.clientId,
      reason: expect.stringMatching(/^invalid_client: .*iat and exp/),
    });
    // Five minutes is fine (the refused assertions spent nothing: the tap's proof re-opens now).
    const five = await assertion(ws.creds, { iat: now, exp: now + 300 });
    expect((await token(ws.creds, five, reopen)).status).toBe(200);
  });

  it('are used once, on either endpoint, and their record outlives them: a replay an hour later is refused', async () => {
    const ws = await workstation('PC-REPLAY-1H');
    const badge = await nurse('CHU-REPLAY-1H');
    await tapIn(ws.client, badge, '2468');
    const now = Math.floor(Date.now() / 1000);
    const jti = randomUUID();
    const a = await assertion(ws.creds, { iat: now, exp: now + 300, jti });
    const login = await tapParams(ws, badge);
    expect((await token(ws.creds, a, login)).status).toBe(200);
    // The record is kept until the assertion's exp plus the accepted skew, and pruning leaves it there.
    await pruneExpired(db);
    const id = createHash('sha256').update(`${ws.creds.clientId}${jti}`).digest('base64url');
    const { rows } = await db.query<{ until: number }>(
      "SELECT extract(epoch FROM expires_at)::int AS until FROM oidc_payloads WHERE type = 'ReplayDetection' AND id = $1",
      [id],
    );
    expect(rows).toEqual([{ until: now + 300 + 120 }]);
    expect(await token(ws.creds, a, login)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    // Used at the relay, it is used at the token endpoint too (and the other way round).
    const b = await assertion(ws.creds);
    expect((await json('POST', '/sillage/desfire/auth/begin', { ...RELAY_BEGIN, client_assertion: b })).status).toBe(
      200,
    );
    expect((await token(ws.creds, b, login)).status).toBe(401);
    expect(
      (await json('POST', '/sillage/desfire/auth/begin', { ...RELAY_BEGIN, client_assertion: a })).body,
    ).toMatchObject({ error: 'invalid_client', error_description: 'client_assertion replayed' });

    // An hour later (the server's clock moved; records and PostgreSQL's clock unchanged).
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 3600_000);
    expect(await token(ws.creds, a, login)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect((await json('POST', '/sillage/desfire/auth/begin', { ...RELAY_BEGIN, client_assertion: a })).status).toBe(
      401,
    );
  });

  it('already used, in a badge grant: nothing is decided, audited or issued; the code step keeps its ticket', async () => {
    const ws = await workstation('PC-REPLAY-BADGE');
    const badge = await nurse('CHU-REPLAY-BADGE');
    const spent = await assertion(ws.creds);
    expect(
      (await json('POST', '/sillage/desfire/auth/begin', { ...RELAY_BEGIN, client_assertion: spent })).status,
    ).toBe(200);
    const decisions = async () =>
      (await server.audit.query({ limit: 1000 }))
        .filter((r) => r.workstation === ws.creds.clientId)
        .map((r) => r.action);
    const replayRefusal = {
      status: 401,
      body: { error: 'invalid_client', error_description: 'client authentication failed' },
    };
    // A first tap of the shift (a code is needed), then its code step, each with the spent assertion.
    const first = await tapParams(ws, badge);
    expect(await token(ws.creds, spent, first)).toMatchObject(replayRefusal);
    const asked = await token(ws.creds, await assertion(ws.creds), await tapParams(ws, badge));
    expect(asked.body.sillage_error).toBe('mfa_required');
    const before = await decisions();
    const code = { grant_type: GRANT_BADGE, ...badgeCodeParams(String(asked.body.login_ticket), '2468') };
    expect(await token(ws.creds, spent, code)).toMatchObject(replayRefusal);
    // Refused as the replay it is, and nothing else recorded: no tap, no code check.
    expect((await decisions()).slice(before.length)).toEqual(['token.request']);
    const [refused] = await server.audit.query({ action: 'token.request', limit: 1 });
    expect(refused!.reason).toMatch(/client assertion already used \(replay\)/);
    const login = await token(ws.creds, await assertion(ws.creds), code);
    expect(login.status).toBe(200);
    // A re-open with the spent assertion: refused, not issued.
    const reopen = await tapParams(ws, badge);
    const taps = (await decisions()).length;
    expect(await token(ws.creds, spent, reopen)).toMatchObject(replayRefusal);
    expect((await decisions()).slice(taps)).toEqual(['token.request']);
  });

  it('from a clock 30 s ahead are accepted (token endpoint, relay, CPS card); 5 h ahead refused as clock_skew, audited', async () => {
    const ws = await workstation('PC-SKEW');
    const skewBadge = await nurse('CHU-SKEW');
    await tapIn(ws.client, skewBadge, '2468');
    const person = await doctor({ idNat: '899999000137', adLogin: 'hpetit', lastName: 'PETIT', firstName: 'Hugo' });
    const cardKey = await importPKCS8(person.keyPem, 'RS256');
    const certB64 = person.certPem.replace(/-----[A-Z ]+-----|\s/g, '');
    const ahead = (s: number) => {
      const t = Math.floor(Date.now() / 1000) + s;
      return { iat: t, exp: t + 60 };
    };
    const cardAssertion = async (s: number) => {
      const { nonce } = (await json('POST', '/sillage/nonce', {})).body as { nonce: string };
      return new SignJWT({ nonce, jti: randomUUID(), ...ahead(s) })
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', x5c: [certB64] })
        .setIssuer(ws.creds.clientId)
        .setSubject('899999000137')
        .setAudience(issuer)
        .sign(cardKey);
    };
    const badge = await tapParams(ws, skewBadge);
    const jwtBearer = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

    // 30 s ahead, nothing corrected: within the accepted skew.
    expect((await token(ws.creds, await assertion(ws.creds, ahead(30)), badge)).status).toBe(200);
    const relay30 = await json('POST', '/sillage/desfire/auth/begin', {
      ...RELAY_BEGIN,
      client_assertion: await assertion(ws.creds, ahead(30)),
    });
    expect(relay30.status).toBe(200);
    const card30 = await token(ws.creds, await assertion(ws.creds, ahead(30)), {
      grant_type: jwtBearer,
      assertion: await cardAssertion(30),
    });
    expect(card30).toMatchObject({ status: 200 });

    // 5 hours ahead: refused for the clock, which the agent turns into "call IT".
    const far = await token(ws.creds, await assertion(ws.creds, ahead(5 * 3600)), badge);
    expect(far).toMatchObject({ status: 401, body: { error: 'invalid_client', sillage_error: 'clock_skew' } });
    const behind = await token(ws.creds, await assertion(ws.creds, ahead(-5 * 3600)), badge);
    expect(behind).toMatchObject({ status: 401, body: { error: 'invalid_client', sillage_error: 'clock_skew' } });
    expect(
      await json('POST', '/sillage/desfire/auth/begin', {
        ...RELAY_BEGIN,
        client_assertion: await assertion(ws.creds, ahead(5 * 3600)),
      }),
    ).toMatchObject({ status: 401, body: { error: 'invalid_client', sillage_error: 'clock_skew' } });
    const cardFar = await token(ws.creds, await assertion(ws.creds), {
      grant_type: jwtBearer,
      assertion: await cardAssertion(5 * 3600),
    });
    expect(cardFar).toMatchObject({ status: 400, body: { error: 'invalid_grant', sillage_error: 'clock_skew' } });
    const audited = (await server.audit.query({ limit: 20 })).filter((r) => r.outcome === 'refused');
    expect(audited.map((r) => `${r.action} ${r.reason}`)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^token\.request invalid_client: .*\(client assertion issued in the future/),
        expect.stringMatching(/^token\.request invalid_client: .*\(jwt expired\)/),
        expect.stringMatching(/^badge\.relay-auth invalid_client: client assertion issued in the future/),
        expect.stringMatching(/^login\.cps clock_skew: assertion issued in the future/),
      ]),
    );
  });
});

describe('workstation registration', () => {
  it('refuses symmetric, private, weak and foreign keys and unprintable names, audited; keeps public members only', async () => {
    const enrol = await server.directory.createEnrolmentToken('Pavillon K');
    const ec = await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey);
    const ecPrivate = await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey);
    const p384 = await exportJWK((await generateKeyPair('ES384', { extractable: true })).publicKey);
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    const register = (keys: unknown[], name = 'PC-REG') =>
      json('POST', '/sillage/workstations', { enrolment_token: enrol, name, jwks: { keys } });
    const refusals: [string, unknown[], RegExp, string?][] = [
      ['symmetric (oct) key', [{ kty: 'oct', k: 'c2VjcmV0LWtleS1vZi10aGUtd29ya3N0YXRpb24' }], /public keys only/],
      ['private EC key', [ecPrivate], /public keys only/],
      ['RSA 1024', [rsa1024], /2048 bits/],
      ['P-384', [p384], /P-256/],
      ['EC key claiming RS256', [{ ...ec, alg: 'RS256' }], /signs ES256/],
      ['encryption key', [{ ...ec, use: 'enc' }], /signatures only/],
      ['bad point', [{ ...ec, x: ec.y }], /malformed/],
      ['no key', [], /1 to 4/],
      // Names are refused at the edge, before the route reads them.
      ['NUL in the name', [ec], /name: control character U\+0000/, 'PC\u0000-A'],
      ['bidi override in the name', [ec], /name: control character U\+202E/, 'PC-\u202eA'],
    ];
    for (const [what, keys, why, name] of refusals) {
      const r = await register(keys, name);
      expect(r.status, what).toBe(400);
      expect(r.body, what).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(why) });
    }
    const audited = await server.audit.query({ action: 'workstation.register', limit: refusals.length - 2 });
    expect(audited.map((r) => [r.outcome, r.details])).toEqual(
      // Nobody authenticated: their source is the address they came from (see server-refusal-flood).
      Array.from({ length: refusals.length - 2 }, () => ['refused', { name: 'PC-REG', source: 'address 127.0.0.1' }]),
    );
    const edge = await server.audit.query({ action: 'request.refused', limit: 2 });
    expect(edge.map((r) => [r.reason, r.details])).toEqual([
      [
        'invalid_request: name: control character U+0000 not allowed',
        { method: 'POST', path: '/sillage/workstations', source: 'address 127.0.0.1' },
      ],
      [
        'invalid_request: name: control character U+202E not allowed',
        { method: 'POST', path: '/sillage/workstations', source: 'address 127.0.0.1' },
      ],
    ]);

    // The enrolment token was not spent by the refusals: an RSA 2048 key registers with it and signs RS256.
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pub = { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa-1', x5c: ['ignored'], extra: 'dropped' };
    const ok = await register([pub], 'PC-RSA');
    expect(ok.status).toBe(201);
    const clientId = ok.body.client_id as string;
    expect((await server.directory.workstation(clientId))?.jwks.keys).toEqual([
      { kty: 'RSA', n: pub.n, e: pub.e, kid: 'rsa-1', use: 'sig' },
    ]);
    const creds = { clientId, privateJwk: { ...rsa.privateKey.export({ format: 'jwk' }), kid: 'rsa-1' } as JWK };
    const introspected = await form('/token/introspection', {
      token: 'x'.repeat(43),
      client_id: clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(creds, { alg: 'RS256' }),
    });
    expect(introspected).toEqual({ status: 200, body: { active: false } });
  });
});

describe('hostile text', () => {
  /** Requests carrying NUL bytes, control characters or over-long values in every kind of parameter. */
  async function hostile(ws: Ws, refreshToken: string, accessToken: string) {
    const nul = 'desfire:\u0000evil';
    const a = () => assertion(ws.creds);
    const badge = { grant_type: GRANT_BADGE, badge_proof: 'uid-only' };
    return [
      async () => form('/token', { ...badge, badge_uid: 'x', client_id: 'ws-\u0000', client_assertion: await a() }),
      async () => token(ws.creds, await a(), { ...badge, badge_uid: nul }),
      async () =>
        token(ws.creds, await a(), {
          grant_type: GRANT_BADGE,
          badge_proof: 'desfire',
          badge_challenge: 'B'.repeat(2000),
          badge_response: 'A'.repeat(43),
        }),
      async () =>
        token(ws.creds, await a(), { grant_type: GRANT_BADGE, login_ticket: 'T'.repeat(60), secret: '12\u202e34' }),
      async () =>
        token(ws.creds, await a(), {
          grant_type: GRANT_EXCHANGE,
          subject_token: accessToken,
          subject_token_type: AT_TYPE,
          audience: 'https://dpi.test\u0000',
        }),
      async () => token(ws.creds, await a(), { grant_type: 'refresh_token', refresh_token: `${refreshToken}\u0000` }),
      async () => introspect('\u0000'),
      async () => form('/token/revocation', { token: '\u0000', client_id: DPI.clientId }, dpiBasic),
      // A client_id hidden in the assertion (no client_id parameter): unknown, without a query.
      async () =>
        form('/token', {
          ...badge,
          badge_uid: 'x',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: await assertion(ws.creds, { iss: 'ws-\u0000' }),
        }),
      async () => json('GET', '/sillage/session?x=%00', null),
      async () => json('GET', '/.well-known/openid-configuration?ui=%00', null),
      async () =>
        json(
          'POST',
          '/sillage/workstations',
          '{"enrolment_token":"t","name":"PC\\u0000","jwks":{"keys":[{"kty":"EC"}]}}',
        ),
      async () =>
        json(
          'POST',
          '/sillage/badges',
          { badge_uid: nul, badge_proof: 'x' },
          { authorization: `Bearer ${accessToken}` },
        ),
      async () =>
        json('POST', '/sillage/desfire/auth/begin', {
          ...RELAY_BEGIN,
          client_assertion: await assertion(ws.creds, { iss: 'ws-\u0000' }),
        }),
      async () => json('POST', '/sillage/workstations', { ['k\u0000']: 1 }),
    ];
  }

  it('gets a clean 4xx for each, never a 500', async () => {
    const ws = await workstation('PC-HOSTILE');
    const t = await tapIn(ws.client, await nurse('CHU-HOSTILE'), '2468');
    const answers = await Promise.all((await hostile(ws, t.refreshToken!, t.accessToken)).map((h) => h()));
    for (const a of answers) {
      expect(a.status).toBeGreaterThanOrEqual(400);
      expect(a.status).toBeLessThan(500);
      expect(typeof a.body.error).toBe('string');
    }
    // At the edge, every text parameter: 400 invalid_request naming the parameter.
    expect(answers.filter((a) => a.status === 400).map((a) => a.body.error_description)).toEqual(
      expect.arrayContaining([
        'client_id: printable ASCII only (found U+0000)',
        'badge_uid: printable ASCII only (found U+0000)',
        'badge_challenge: longer than 1024 characters',
        'secret: control character U+202E not allowed',
        'audience: printable ASCII only (found U+0000)',
        'refresh_token: control character U+0000 not allowed',
        'token: control character U+0000 not allowed',
        'x: control character U+0000 not allowed',
        'name: control character U+0000 not allowed',
      ]),
    );
    const edge = await server.audit.query({ action: 'request.refused', limit: 50 });
    expect(edge.length).toBeGreaterThanOrEqual(9);
  });

  it('a burst of it amid 36 legitimate re-opens from 6 workstations fails none of them (measured)', async () => {
    const pcs = await Promise.all(Array.from({ length: 6 }, (_, i) => workstation(`PC-BURST-${i}`)));
    const badges = await Promise.all(pcs.map((_, i) => nurse(`CHU-BURST-${i}`)));
    // Each nurse's shift opens with badge + code; the burst re-opens them by tap on every PC.
    const first = await Promise.all(pcs.map((pc, i) => tapIn(pc.client, badges[i]!, '2468')));
    const bad = await hostile(pcs[0]!, first[0]!.refreshToken!, first[0]!.accessToken);
    // Each tap with a card of its own (the same badge tapped on six PCs at once).
    const legitimate = pcs.flatMap((pc) =>
      badges.map((b) => async () => pc.client.badge(await tapProof(pc.client, twinOf(b)))),
    );
    const hostileCalls = Array.from({ length: 36 }, (_, i) => bad[i % bad.length]!);
    // Interleaved, all in flight together: they share the group-committed statements.
    const calls = legitimate.flatMap((l, i) => [l().then(() => 'ok' as const), hostileCalls[i]!()]);
    const settled = await Promise.allSettled(calls);
    const legit = settled.filter((_, i) => i % 2 === 0);
    const rest = settled.filter((_, i) => i % 2 === 1);
    const legitOk = legit.filter((r) => r.status === 'fulfilled').length;
    const statuses = rest.map((r) => (r.status === 'fulfilled' ? (r.value as { status: number }).status : 0));
    console.log(
      `hostile burst: ${legitOk}/${legit.length} legitimate re-opens ok, ${statuses.filter((s) => s >= 400 && s < 500).length}/${rest.length} hostile requests refused 4xx, ${statuses.filter((s) => s >= 500 || s === 0).length} 5xx or failed`,
    );
    expect(
      legit.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
    ).toEqual([]);
    expect(legitOk).toBe(36);
    expect(statuses.every((s) => s >= 400 && s < 500)).toBe(true);
  });

  it('a bad row that gets past the edge fails alone in its group-committed statement (real PostgreSQL)', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `CHU-BATCH-${i}`);
    for (const id of ids.slice(0, 4)) await nurse(id);
    const lookups = await Promise.allSettled([
      ...ids.map((id) => server.directory.badgeOwner({ number: id })),
      server.directory.badgeOwner({ number: 'desfire:\u0000' }),
    ]);
    expect(lookups.slice(0, 4).every((r) => r.status === 'fulfilled' && 'account' in r.value)).toBe(true);
    expect(lookups.slice(4, 12).every((r) => r.status === 'fulfilled' && 'refused' in r.value)).toBe(true);
    expect(lookups[12]).toMatchObject({ status: 'rejected' });
    // Audit records quoting hostile text are kept, readable, with every other record of their batch.
    await Promise.all([
      server.audit.append({ action: 'test.batch', outcome: 'ok', details: { n: 1 } }),
      server.audit.append({
        action: 'test.batch',
        outcome: 'refused',
        reason: 'claimed \u0000',
        details: { id: 'a\u0000' },
      }),
      server.audit.append({ action: 'test.batch', outcome: 'ok', details: { n: 3 } }),
    ]);
    const rows = await server.audit.query({ action: 'test.batch' });
    expect(rows.map((r) => [r.reason, r.details])).toEqual([
      [null, { n: 1 }],
      ['claimed \u2400', { id: 'a\u2400' }],
      [null, { n: 3 }],
    ]);
    expect(await server.audit.verify()).toMatchObject({ ok: true });
  });
});
