// Fuzzing the session server over HTTP, on PostgreSQL: its own routes (/sillage/*) and the token
// endpoint, from valid-looking requests of a registered workstation (fresh private_key_jwt assertions)
// mutated in structure and bytes. None of them holds a proof the server could accept (an unknown badge,
// bogus CPS and subject tokens, no session token, no enrolment token), so: 0 5xx, no token, no session
// read or ended, no workstation registered, no relay step answered without an intact assertion.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workstationAssertion } from '../../electron/core/oidc/server-client';
import type { WorkstationCredentials } from '../../electron/core/oidc/server-client';
import type { SessionServer } from '../../server/src/app';
import { exchange, FUZZ_CASES, fuzz, httpBytes, mutateHttp } from './harness';
import type { HttpAnswer, HttpCase, Rng, Verdict } from './harness';
import { enrolWorkstation, STAFF, startServerStack } from '../../testbed/stack';
import type { ServerStack } from '../../testbed/stack';

const GRANTS = {
  badge: 'urn:sillage:params:oauth:grant-type:badge',
  jwtBearer: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
  exchange: 'urn:ietf:params:oauth:grant-type:token-exchange',
};
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

let stack: ServerStack;
let server: SessionServer;
let creds: WorkstationCredentials;
let port: number;

beforeAll(async () => {
  stack = await startServerStack({
    relyingParties: [{ clientId: 'dpi', clientSecret: 'dpi-secret-for-tests', audiences: ['https://dpi.test'] }],
    desfireKeys: { 'F51230/1': '00112233445566778899aabbccddeeff' },
  });
  server = stack.server;
  port = new URL(server.issuer).port ? Number(new URL(server.issuer).port) : 80;
  const a = await server.directory.addAccount(STAFF.camille);
  await server.directory.bindBadge({ uid: '04A1B2C3D4E5F6', number: 'CHU-000123' }, a.id);
  ({ creds } = await enrolWorkstation(server, 'PC-F'));
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

/** A fresh private_key_jwt of the registered workstation, for the token endpoint or the relay. */
function assertion(audience: string): Promise<string> {
  return workstationAssertion(creds.key, creds.clientId, audience);
}

/** The server on PostgreSQL answers slower than the agent's listeners: more time before either is given up. */
const SERVER_EXCHANGE = { maxMs: 8000, idleMs: 300 };

const form = (o: Record<string, string>) => Buffer.from(new URLSearchParams(o).toString());

interface ServerCase {
  http: HttpCase;
  /** The fresh assertion the case started from, and whether it is still in the bytes unchanged. */
  assertion: string | null;
  route: string;
}

const assertionIntact = (c: ServerCase) =>
  c.assertion !== null && httpBytes(c.http).toString('utf8').split(c.assertion).length === 2;

function checkAnswer(c: ServerCase, a: HttpAnswer | 'no answer'): Verdict {
  if (a === 'no answer') return { crash: 'no answer' };
  if (a.status !== null && a.status >= 500) return { fiveXX: `${a.status} ${a.body.slice(0, 120)}` };
  if (a.status === null || a.status >= 300) return {};
  if (/"access_token"|"id_token"|"refresh_token"/.test(a.body)) return { wrongAccept: `token from ${c.route}` };
  switch (c.route) {
    case 'POST /sillage/nonce':
      return {};
    case 'POST /sillage/desfire/auth/begin':
      return assertionIntact(c) ? {} : { wrongAccept: 'relay begin without an intact assertion' };
    default:
      return { wrongAccept: `${a.status} from ${c.route}` };
  }
}

describe('fuzz: session server over HTTP', () => {
  it('the /sillage routes: 10,000 requests', async () => {
    const h = () => [['host', `127.0.0.1:${port}`] as [string, string]];
    const json = (o: unknown) => Buffer.from(JSON.stringify(o));
    const bearer: [string, string] = ['authorization', `Bearer ${'A'.repeat(43)}`];
    const routes: { route: string; body: (assertion: string) => unknown; auth?: boolean }[] = [
      { route: 'POST /sillage/nonce', body: () => ({}) },
      {
        route: 'POST /sillage/desfire/auth/begin',
        body: (client_assertion) => ({
          client_assertion,
          scheme: 'ev2',
          aid: Buffer.from('3012F5', 'hex').toString('base64url'),
          keyNo: 1,
          uid: Buffer.from('04A1B2C3D4E5F6', 'hex').toString('base64url'),
          encRndB: Buffer.from('00112233445566778899aabbccddeeff', 'hex').toString('base64url'),
        }),
      },
      {
        route: 'POST /sillage/desfire/auth/finish',
        body: (client_assertion) => ({ client_assertion, handle: randomUUID(), cardReply: '00'.repeat(32) }),
      },
      {
        route: 'POST /sillage/workstations',
        body: () => ({
          enrolment_token: 'not-a-token',
          name: 'PC-X',
          jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' }] },
        }),
      },
      { route: 'GET /sillage/session', body: () => undefined, auth: true },
      { route: 'POST /sillage/session/end', body: () => ({}), auth: true },
      {
        route: 'POST /sillage/badges',
        body: () => ({ badge_proof: 'desfire', badge_challenge: 'A'.repeat(200), badge_response: 'A'.repeat(43) }),
        auth: true,
      },
    ];
    // Fresh assertions signed ahead (jose is async), one per case: most cases start from a valid one.
    const pool = await Promise.all(Array.from({ length: FUZZ_CASES }, () => assertion(server.issuer)));
    const report = await fuzz<ServerCase>({
      name: 'server-routes',
      concurrency: 8,
      show: (c) => httpBytes(c.http).toString('utf8'),
      generate: (rng: Rng) => {
        const r = rng.pick(routes);
        const [method, target] = r.route.split(' ') as [string, string];
        const a = pool.pop() ?? null;
        const bodyValue = r.body(a ?? '');
        const base: HttpCase = {
          method,
          target,
          headers: [...h(), ['content-type', 'application/json'], ...(r.auth ? [bearer] : [])],
          body: bodyValue === undefined ? Buffer.alloc(0) : json(bodyValue),
        };
        return { http: rng.chance(0.9) ? mutateHttp(rng, base, bodyValue) : base, assertion: a, route: r.route };
      },
      async run(c) {
        return checkAnswer(c, await exchange(port, httpBytes(c.http), SERVER_EXCHANGE));
      },
    });
    expect(report.failures).toEqual([]);
    expect(report).toMatchObject({ cases: FUZZ_CASES, crashes: 0, wrongAccepts: 0, fiveXX: 0 });
  }, 240_000);

  it('the token endpoint: 10,000 grant requests', async () => {
    const tokenPath = '/token';
    const pool = await Promise.all(Array.from({ length: FUZZ_CASES }, () => assertion(server.issuer)));
    const grants: Record<string, string>[] = [
      // A relay answer to a challenge this server never drew, a UID, a ticket it never sealed.
      {
        grant_type: GRANTS.badge,
        badge_proof: 'desfire',
        badge_challenge: 'A'.repeat(200),
        badge_response: 'A'.repeat(43),
      },
      { grant_type: GRANTS.badge, badge_proof: 'uid-only', badge_uid: '04A1B2C3D4E5F6' },
      { grant_type: GRANTS.badge, login_ticket: 'A'.repeat(200), secret: '4821' },
      { grant_type: GRANTS.jwtBearer, assertion: 'eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ4In0.AAAA' },
      {
        grant_type: GRANTS.exchange,
        subject_token: 'A'.repeat(43),
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        audience: 'https://dpi.test',
      },
      { grant_type: 'refresh_token', refresh_token: 'A'.repeat(43) },
      { grant_type: 'client_credentials' },
      { grant_type: 'authorization_code', code: 'A'.repeat(43), redirect_uri: 'http://127.0.0.1/cb' },
    ];
    const report = await fuzz<ServerCase>({
      name: 'server-token-endpoint',
      concurrency: 8,
      show: (c) => httpBytes(c.http).toString('utf8'),
      generate: (rng: Rng) => {
        const g = rng.pick(grants);
        const a = pool.pop() ?? null;
        const params = {
          ...g,
          scope: 'openid profile offline_access',
          client_id: creds.clientId,
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: a ?? '',
        };
        const base: HttpCase = {
          method: 'POST',
          target: tokenPath,
          headers: [
            ['host', `127.0.0.1:${port}`],
            ['content-type', 'application/x-www-form-urlencoded'],
          ],
          body: form(params),
        };
        // Form bodies mutated as forms: one parameter at a time, then maybe the bytes.
        const m = rng.chance(0.9) ? mutateHttp(rng, base) : base;
        if (rng.chance(0.6)) {
          const p = new URLSearchParams(base.body.toString());
          const k = rng.pick([...p.keys(), 'resource', 'audience', 'badge_uid', 'grant_type']);
          p.set(k, rng.pick(['', '\0', 'a\0b', '%00', 'x'.repeat(5000), '../', 'null', '{}', p.get(k) + '\0']));
          if (rng.chance(0.2)) p.append(k, 'second');
          m.body = Buffer.from(p.toString());
        }
        return { http: m, assertion: a, route: `POST ${tokenPath}` };
      },
      async run(c) {
        return checkAnswer(c, await exchange(port, httpBytes(c.http), SERVER_EXCHANGE));
      },
    });
    expect(report.failures).toEqual([]);
    expect(report).toMatchObject({ cases: FUZZ_CASES, crashes: 0, wrongAccepts: 0, fiveXX: 0 });
  }, 240_000);
});
