// Attacks on the badge factor, against two session-server instances behind one address on one PostgreSQL
// (and a third instance on the same database whose policy accepts weaker proofs). A workstation's key is
// not a badge: replayed relay answers, a badge id or UID on a workstation's word, another workstation's
// challenge or ticket, a lockout or a name display without the badge, an enrolment from a re-open — each
// is refused with an OAuth error carrying `sillage_error`, and audited. Proofs the server cannot check
// are labelled so in acr/amr where policy accepts them, never `hwk`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACR, badgeTapParams, GRANT } from '@sillage/protocol';
import type { BadgeProof } from '@sillage/protocol';
import { assuranceOf } from '../../electron/core/auth/server-authenticator';
import { registerWorkstation, SessionServerClient, workstationAssertion } from '../../electron/core/oidc/server-client';
import type { WorkstationCredentials } from '../../electron/core/oidc/server-client';
import { startServer } from '../../server/src/app';
import { batchChannel } from '../../server/src/batch';
import type { SessionServer } from '../../server/src/app';
import { postgresDb } from '../../server/src/db';
import type { Db } from '../../server/src/db';
import type { Account } from '../../server/src/directory';
import { jsonLog } from '../../server/src/log';
import { SingleUse } from '../../server/src/single-use';
import { boundBadge, tapProof, TEST_DESFIRE_KEYS, uidOf } from '../badges';
import { hospitalBadge } from '../cards/desfire-card';
import type { DesfireEmulator } from '../cards/desfire-card';
import { pinVerifiedCard } from '../key-card';
import { startLoadBalancer } from '../lb';
import type { LoadBalancer } from '../lb';
import { makeTestPki } from '../pki';
import type { TestPki } from '../pki';
import { startPostgres } from '../postgres';
import type { PostgresHandle } from '../postgres';
import { refusal } from '../server-refusal';

const MIN = 60_000;
let pg: PostgresHandle;
const dbs: Db[] = [];
/** Two instances behind the balancer (default policy), one accepting weaker proofs, one with 30 s tickets. */
const servers: SessionServer[] = [];
let lenient: SessionServer;
let brisk: SessionServer;
let lb: LoadBalancer;
let pki: TestPki;
let dir: string;
let offsetMs = 0;
const now = () => new Date(Date.now() + offsetMs);
let people = 0;

interface Ws {
  creds: WorkstationCredentials;
  /** Through the balancer (what workstations use). */
  client: SessionServerClient;
  /** Straight to one instance. */
  at(instance: SessionServer): Promise<SessionServerClient>;
}

async function workstation(name: string): Promise<Ws> {
  const creds = await registerWorkstation(
    servers[0]!.issuer,
    await servers[0]!.directory.createEnrolmentToken(name),
    name,
  );
  const via = (port: number): typeof fetch => {
    return (input, init) => {
      const u = new URL(input instanceof Request ? input.url : String(input));
      u.port = String(port);
      return fetch(u, init);
    };
  };
  return {
    creds,
    client: await SessionServerClient.connect(servers[0]!.issuer, creds, { allowHttp: true }),
    at: (s) => SessionServerClient.connect(servers[0]!.issuer, creds, { allowHttp: true, fetch: via(s.port) }),
  };
}

async function person(code = '2468'): Promise<{ account: Account; badge: DesfireEmulator }> {
  const n = ++people;
  const account = await servers[0]!.directory.addAccount({
    idNat: `89999900${String(n).padStart(4, '0')}`,
    adLogin: `p${n}`,
    lastName: `NOM${n}`,
    firstName: `Prénom${n}`,
    profession: 'Infirmier',
    secret: code,
  });
  return { account, badge: await boundBadge(servers[0]!.directory, account.id, `CHU-${n}`) };
}

/** Badge + code on `ws`: the roaming session that later taps re-open. */
async function login(ws: Ws, badge: DesfireEmulator, code = '2468') {
  const tap = await refusal(ws.client.badge(await tapProof(ws.client, badge)));
  return ws.client.badgeCode(String(tap.body.login_ticket), code);
}

/** A badge grant with hand-made parameters (what a hostile workstation can send), to one instance. */
async function rawGrant(ws: Ws, params: Record<string, string>, instance = servers[0]!) {
  const assertion = await workstationAssertion(ws.creds.key, ws.creds.clientId, servers[0]!.issuer);
  const res = await fetch(`http://127.0.0.1:${instance.port}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: GRANT.badge,
      scope: 'openid profile offline_access',
      client_id: ws.creds.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      ...params,
    }).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The newest server audit record of `action` from this workstation. */
async function lastAudit(ws: Ws, action: string) {
  const rows = await servers[1]!.audit.query({ action, limit: 500 });
  return rows.filter((r) => r.workstation === ws.creds.clientId).at(-1);
}

const NAMES = ['display_name', 'given_name', 'family_name', 'idnat', 'profession', 'login_ticket'];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-badge-proof-'));
  pki = makeTestPki(path.join(dir, 'pki'));
  pg = await startPostgres();
  pg.createDatabase('sillage');
  lb = await startLoadBalancer();
  const issuer = `http://127.0.0.1:${lb.port}`;
  const common = {
    issuer,
    trustAnchorsPem: [pki.root.certPem],
    intermediateCasPem: [pki.ca.certPem],
    desfireKeys: TEST_DESFIRE_KEYS,
    now,
    directoryPolicy: {
      maxSecretFailures: 5,
      lockoutMs: 15 * MIN,
      maxWorkstationCodeFailures: 3,
      workstationCodeWindowMs: 10 * MIN,
    },
    log: jsonLog(() => {}, 'silent'),
  };
  for (let i = 0; i < 4; i++) {
    const db = postgresDb(pg.url('sillage'));
    dbs.push(db);
    const s = await startServer({
      db,
      ...common,
      ...(i === 2 ? { weakBadgeProofs: ['local-key', 'reader-verified', 'uid-only'] as const } : {}),
      ...(i === 3 ? { loginTicketSeconds: 30 } : {}),
    } as Parameters<typeof startServer>[0]);
    if (i < 2) servers.push(s);
    else if (i === 2) lenient = s;
    else brisk = s;
  }
  lb.setBackends(servers.map((s) => s.port));
}, 120_000);

afterAll(async () => {
  for (const s of [...servers, lenient, brisk]) await s?.close();
  for (const d of dbs) await d.close();
  await lb?.close();
  await pg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('badge proofs: what the server checks itself', () => {
  it('a relay answer is used once: the same tap at once to both instances, again later, and twice in one batch', async () => {
    const ws = await workstation('PC-REPLAY');
    const { badge } = await person();
    await login(ws, badge);
    const proof = await tapProof(ws.client, badge);
    const [a, b] = await Promise.all([ws.at(servers[0]!), ws.at(servers[1]!)]);
    const answers = await Promise.allSettled([a.badge(proof), b.badge(proof), a.badge(proof)]);
    expect(answers.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
    const refused = answers.flatMap((x) => (x.status === 'rejected' ? [x.reason as { code: string }] : []));
    expect(refused.map((e) => e.code)).toEqual(['badge_replayed', 'badge_replayed']);
    // Later, to either instance: still refused, and audited as a replay.
    expect((await refusal(b.badge(proof))).code).toBe('badge_replayed');
    expect((await lastAudit(ws, 'badge.tap'))?.reason).toMatch(/^badge_replayed/);
    // The single-use record itself: one statement for concurrent claims, the same id twice in it.
    const once = new SingleUse(dbs[0]!);
    const until = new Date(Date.now() + MIN);
    expect(
      await Promise.all([
        once.claim('BadgeChallenge', 'same-id', until),
        once.claim('BadgeChallenge', 'same-id', until),
        once.claim('BadgeChallenge', 'other-id', until),
      ]),
    ).toEqual([true, false, true]);
  });

  it('a tap spends its challenge and reads its badge in the statement that records its client assertion', async () => {
    const ws = await workstation('PC-ONE-STATEMENT');
    const { badge } = await person();
    await login(ws, badge);
    const a = await ws.at(servers[0]!);
    const proof = await tapProof(a, badge);
    const statements: string[] = [];
    const seen = (m: unknown) => statements.push((m as { name: string }).name);
    batchChannel.subscribe(seen);
    try {
      expect((await a.badge(proof)).claims.acr).toBe(ACR.reopen);
    } finally {
      batchChannel.unsubscribe(seen);
    }
    expect(statements.filter((n) => n === 'assertion-replay')).toHaveLength(1);
    expect(statements).not.toContain('single-use');
    // The badge's binding is read in it too.
    expect(statements).not.toContain('badge-owners');
    // Spent all the same: the answer again, in a newly signed request, to either instance.
    expect((await refusal(a.badge(proof))).code).toBe('badge_replayed');
    expect((await refusal((await ws.at(servers[1]!)).badge(proof))).code).toBe('badge_replayed');
  });

  it("taps at once: each decided on its own badge's binding, read with its assertion's record", async () => {
    const ws = await workstation('PC-BINDINGS');
    const a = await ws.at(servers[0]!);
    const reopened = await person();
    await login(ws, reopened.badge);
    const unbound = hospitalBadge('CHU-NOBODY');
    const disabled = await person();
    await dbs[0]!.query('UPDATE accounts SET disabled = true WHERE id = $1', [disabled.account.id]);
    // Declared lost, then given to someone else: the active binding names its owner.
    const lost = await person();
    const next = await person();
    expect(await servers[0]!.directory.revokeBadge(uidOf(lost.badge), 'perdu')).toBe(true);
    expect((await servers[0]!.directory.bindBadge({ uid: uidOf(lost.badge) }, next.account.id)).ok).toBe(true);
    const proofs = await Promise.all([reopened.badge, unbound, disabled.badge, lost.badge].map((b) => tapProof(a, b)));
    const sizes: number[] = [];
    const seen = (m: unknown) => {
      const { name, size } = m as { name: string; size: number };
      if (name === 'assertion-replay') sizes.push(size);
    };
    batchChannel.subscribe(seen);
    let answers;
    try {
      answers = await Promise.allSettled(proofs.map((p) => a.badge(p)));
    } finally {
      batchChannel.unsubscribe(seen);
    }
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    const [ok, ...refused] = answers;
    expect(ok?.status === 'fulfilled' && ok.value.claims.family_name).toBe(reopened.account.lastName);
    const outcomes = await Promise.all(
      refused.map((r) => (r.status === 'rejected' ? refusal(Promise.reject(r.reason)) : null)),
    );
    expect(outcomes.map((o) => o?.code)).toEqual(['badge_unknown', 'badge_disabled', 'mfa_required']);
    expect(outcomes[2]!.body.family_name).toBe(next.account.lastName);
    expect(outcomes[0]!.body.family_name).toBeUndefined();
  });

  it("a badge id, a UID, a reader's or a workstation's word: refused by default, no name, no ticket, audited", async () => {
    const ws = await workstation('PC-WORD');
    const { badge } = await person();
    const uid = uidOf(badge);
    // [parameters, sillage_error (null: a malformed request, invalid_request says it), the audit action]
    const attempts: [Record<string, string>, string | null, string][] = [
      // What the badge grant used to take.
      [{ badge_id: 'CHU-1', badge_proof: 'desfire-aes-diversified' }, null, 'badge.tap'],
      [badgeTapParams({ kind: 'uid-only', uid }), 'badge_weak', 'badge.tap'],
      [badgeTapParams({ kind: 'local-key', uid }), 'badge_weak', 'badge.tap'],
      [badgeTapParams({ kind: 'reader-verified', number: 'CHU-1' }), 'badge_weak', 'badge.tap'],
      // A challenge this server never issued, with any answer.
      [
        badgeTapParams({
          kind: 'desfire',
          challenge: Buffer.alloc(120, 7).toString('base64url'),
          response: Buffer.alloc(32).toString('base64url'),
        }),
        'badge_not_genuine',
        'badge.tap',
      ],
      // Hostile text: NUL bytes, a huge challenge (refused at the server's edge, before the grant).
      [{ badge_proof: 'uid-only', badge_uid: `${uid}\u0000` }, null, 'request.refused'],
      [
        { badge_proof: 'desfire', badge_challenge: 'A'.repeat(20_000), badge_response: 'A'.repeat(43) },
        null,
        'request.refused',
      ],
    ];
    for (const [params, code, action] of attempts) {
      const r = await rawGrant(ws, params);
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body).toMatchObject({ error: code ? 'invalid_grant' : 'invalid_request' });
      expect(r.body.sillage_error).toBe(code ?? undefined);
      for (const k of NAMES) expect(r.body).not.toHaveProperty(k);
      const rows = await servers[1]!.audit.query({ action, limit: 500 });
      const last =
        action === 'request.refused' ? rows.at(-1) : rows.filter((x) => x.workstation === ws.creds.clientId).at(-1);
      expect(last?.reason).toMatch(new RegExp(`^${code ?? 'invalid_request'}`));
    }
  });

  it("another workstation's challenge is refused, and does not burn the tap of the workstation it belongs to", async () => {
    const ws1 = await workstation('PC-OWN');
    const ws2 = await workstation('PC-THIEF');
    const { badge } = await person();
    const proof = await tapProof(ws1.client, badge);
    const stolen = await refusal(ws2.client.badge(proof));
    expect(stolen.code).toBe('badge_other_workstation');
    expect(stolen.body).not.toHaveProperty('display_name');
    expect((await lastAudit(ws2, 'badge.tap'))?.reason).toMatch(/^badge_other_workstation/);
    expect((await refusal(ws1.client.badge(proof))).code).toBe('mfa_required');
  });

  it('a challenge lives seconds; an answer that does not prove the key is not genuine', async () => {
    const ws = await workstation('PC-LATE');
    const { badge } = await person();
    const late = await tapProof(ws.client, badge);
    offsetMs = 11_000;
    try {
      expect((await refusal(ws.client.badge(late))).code).toBe('badge_expired');
    } finally {
      offsetMs = 0;
    }
    const p = (await tapProof(ws.client, badge)) as Extract<BadgeProof, { kind: 'desfire' }>;
    const flipped = Buffer.from(p.response, 'base64url');
    flipped[6]! ^= 0x01;
    const forged = await refusal(ws.client.badge({ ...p, response: flipped.toString('base64url') }));
    expect(forged.code).toBe('badge_not_genuine');
    expect((await lastAudit(ws, 'badge.tap'))?.reason).toMatch(/^badge_not_genuine/);
  });

  it("the relay's finish hands out no session keys for a badge's own key", async () => {
    const ws = await workstation('PC-FINISH');
    const { badge } = await person();
    const p = (await tapProof(ws.client, badge)) as Extract<BadgeProof, { kind: 'desfire' }>;
    const e = await refusal(ws.client.relayFinish({ handle: p.challenge, cardReply: p.response }));
    expect(e.code).toBe('badge_weak');
    expect((await lastAudit(ws, 'badge.relay-auth'))?.outcome).toBe('refused');
  });

  it('keep-alive: the taps of a workstation reuse one connection to the server', async () => {
    const ws = await workstation('PC-KEEPALIVE');
    const { badge } = await person();
    await login(ws, badge);
    const connections = () => [...lb.counts.values()].reduce((a, b) => a + b, 0);
    const before = connections();
    for (let i = 0; i < 5; i++) await ws.client.badge(await tapProof(ws.client, badge));
    expect(connections() - before).toBeLessThanOrEqual(1);
    // Idle connections are kept a minute (agents learn it from this header), not the 5 s default.
    expect((await fetch(`${servers[0]!.issuer}/healthz`)).headers.get('keep-alive')).toBe('timeout=65');
  });
});

describe('first login: a ticket for the proven tap, the code against a badge someone holds', () => {
  it('the ticket is single use, short-lived, for its workstation only; a wrong code hands out the next one', async () => {
    const ws = await workstation('PC-TICKET');
    const other = await workstation('PC-OTHER');
    const { badge } = await person('1357');
    const tap = await refusal(ws.client.badge(await tapProof(ws.client, badge)));
    expect(tap.body).toMatchObject({ sillage_error: 'mfa_required', display_name: expect.any(String) });
    const ticket = String(tap.body.login_ticket);
    expect((await refusal(other.client.badgeCode(ticket, '1357'))).code).toBe('badge_other_workstation');
    const wrong = await refusal(ws.client.badgeCode(ticket, '0000'));
    expect(wrong).toMatchObject({ code: 'secret_wrong', body: { tries_left: 4 } });
    expect((await refusal(ws.client.badgeCode(ticket, '1357'))).code).toBe('badge_replayed');
    const next = String(wrong.body.login_ticket);
    offsetMs = 3 * MIN;
    try {
      expect((await refusal(ws.client.badgeCode(next, '1357'))).code).toBe('badge_expired');
    } finally {
      offsetMs = 0;
    }
    expect((await refusal(ws.client.badgeCode('x'.repeat(60), '1357'))).code).toBe('badge_not_genuine');
    const reasons = (await servers[0]!.audit.query({ action: 'login.badge', limit: 500 }))
      .filter((r) => [ws.creds.clientId, other.creds.clientId].includes(r.workstation!))
      .map((r) => r.reason?.split(':')[0]);
    expect(reasons).toEqual([
      'badge_other_workstation',
      'wrong',
      'badge_replayed',
      'badge_expired',
      'badge_not_genuine',
    ]);
    const t = await refusal(ws.client.badge(await tapProof(ws.client, badge)));
    expect((await ws.client.badgeCode(String(t.body.login_ticket), '1357')).claims.acr).toBe('urn:sillage:loa:mfa');
  });

  it('the ticket lives as long as --login-ticket-seconds says, bounded to 30 s – 10 min', async () => {
    const ws = await workstation('PC-BRISK');
    const at = await ws.at(brisk);
    const { badge } = await person('2525');
    const ticketAfter = async (ms: number) => {
      const t = await refusal(at.badge(await tapProof(at, badge)));
      offsetMs = ms;
      return String(t.body.login_ticket);
    };
    try {
      expect((await refusal(at.badgeCode(await ticketAfter(31_000), '2525'))).code).toBe('badge_expired');
      offsetMs = 0;
      expect((await at.badgeCode(await ticketAfter(29_000), '2525')).claims.acr).toBe('urn:sillage:loa:mfa');
    } finally {
      offsetMs = 0;
    }
    for (const loginTicketSeconds of [29, 601, 45.5])
      await expect(startServer({ db: dbs[0]!, trustAnchorsPem: [], loginTicketSeconds })).rejects.toThrow(
        /--login-ticket-seconds.*30 to 600/,
      );
    // The command line says so before opening any database.
    const cli = spawnSync(
      path.resolve('node_modules/.bin/tsx'),
      ['server/src/main.ts', '--data-dir', path.join(dir, 'never'), '--login-ticket-seconds', '5'],
      { encoding: 'utf8' },
    );
    expect(cli.status).toBe(1);
    expect(cli.stderr).toMatch(/--login-ticket-seconds must be a whole number of seconds from 30 to 600 \(got 5\)/);
    expect(fs.existsSync(path.join(dir, 'never'))).toBe(false);
  });

  it("without the badge no one is locked out; one workstation's wrong codes are limited whoever's badges", async () => {
    const ws = await workstation('PC-GUESS');
    const { account, badge } = await person('8642');
    // Codes without a proven tap: nothing is checked, nothing is counted.
    const guesses: Record<string, string>[] = [
      { badge_id: 'CHU-1', badge_proof: 'desfire-aes-diversified', secret: '0000' },
      { badge_proof: 'uid-only', badge_uid: uidOf(badge), secret: '0000' },
      { login_ticket: Buffer.alloc(90).toString('base64url'), secret: '0000' },
    ];
    for (const params of guesses) {
      const r = await rawGrant(ws, params);
      expect(r.status).toBe(400);
      expect([r.body.error, r.body.sillage_error]).toEqual(
        expect.arrayContaining([expect.stringMatching(/^(invalid_request|badge_not_genuine)$/)]),
      );
    }
    const failures = async (id: string) =>
      (await dbs[0]!.query<{ f: number }>('SELECT failed_secrets AS f FROM accounts WHERE id = $1', [id])).rows[0]!.f;
    expect(await failures(account.id)).toBe(0);

    // With proven taps: 3 wrong codes on this PC (two people), then it must wait, whoever taps.
    const second = await person('9753');
    const code = async (b: DesfireEmulator, c: string) => {
      const t = await refusal(ws.client.badge(await tapProof(ws.client, b)));
      return ws.client.badgeCode(String(t.body.login_ticket), c);
    };
    for (const [b, c] of [
      [badge, '0001'],
      [badge, '0002'],
      [second.badge, '0003'],
    ] as const)
      expect((await refusal(code(b, c))).code).toBe('secret_wrong');
    const limited = await refusal(code(second.badge, '9753'));
    expect(limited.code).toBe('code_rate_limited');
    expect(limited.body.locked_until).toEqual(expect.any(String));
    expect(await failures(second.account.id)).toBe(1);
    expect((await lastAudit(ws, 'login.badge'))?.reason).toMatch(/^code_rate_limited/);
    // Another workstation is not affected.
    expect((await login(await workstation('PC-NEXT-DOOR'), second.badge, '9753')).claims.acr).toBe(
      'urn:sillage:loa:mfa',
    );
  });
});

describe("a workstation's own roaming window (max_age)", () => {
  it('a login older than the tap’s max_age is not re-opened there: the code is asked, with a ticket', async () => {
    const ws = await workstation('PC-SHORT-WINDOW');
    const { badge } = await person('1212');
    const login1 = await login(ws, badge, '1212');
    offsetMs = 20 * MIN;
    try {
      const short = await refusal(ws.client.badge(await tapProof(ws.client, badge), 15 * 60));
      expect(short).toMatchObject({ code: 'mfa_required', body: { login_ticket: expect.any(String) } });
      expect((await lastAudit(ws, 'reopen.badge'))?.reason).toBe('mfa_window_over');
      expect((await ws.client.badge(await tapProof(ws.client, badge), 30 * 60)).claims.auth_time).toBe(
        login1.claims.auth_time,
      );
      const bad = await rawGrant(ws, { ...badgeTapParams(await tapProof(ws.client, badge)), max_age: '-1' });
      expect(bad.body).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/max_age/) });
      // The code step after the refused re-open opens a new session on this workstation.
      const fresh = await ws.client.badgeCode(String(short.body.login_ticket), '1212');
      expect(fresh.claims.auth_time).toBeGreaterThan(login1.claims.auth_time!);
    } finally {
      offsetMs = 0;
    }
  });
});

describe('weaker proofs: only by policy, labelled for what they are', () => {
  it('UID-only, a workstation key, a reader: acr asserted, amr naming whose word it was, never hwk', async () => {
    const ws = await workstation('PC-WEAK');
    const at = await ws.at(lenient);
    const { account, badge } = await person('4444');
    const uid = uidOf(badge);
    const tap = await refusal(at.badge({ kind: 'uid-only', uid }));
    expect(tap.code).toBe('mfa_required');
    // Its ticket does not turn into a login on an instance whose policy refuses UIDs.
    expect((await refusal(ws.client.badgeCode(String(tap.body.login_ticket), '4444'))).code).toBe('badge_weak');
    const weak = await at.badgeCode(String(tap.body.login_ticket), '4444');
    expect(weak.claims).toMatchObject({ acr: 'urn:sillage:loa:asserted', amr: ['badge-uid', 'pin'] });
    expect((await at.badge({ kind: 'uid-only', uid })).claims).toMatchObject({
      acr: 'urn:sillage:loa:asserted',
      amr: ['badge-uid'],
    });
    const byWs = (await at.badge({ kind: 'local-key', uid })).claims;
    expect(byWs.amr).toEqual(['badge-ws']);
    const byReader = (await at.badge({ kind: 'reader-verified', number: `CHU-${people}` })).claims;
    expect(byReader.amr).toEqual(['badge-reader']);
    // A proof the server checked, in a window a weak login opened: still not a re-open of an MFA session.
    const checked = (await at.badge(await tapProof(at, badge))).claims;
    expect(checked).toMatchObject({ acr: 'urn:sillage:loa:asserted', amr: ['hwk'] });
    // What the agent's banner and diagnostic show of these sessions.
    expect([weak.claims, byWs, byReader, checked].map(assuranceOf)).toEqual([
      { assurance: 'asserted', unverifiedBadge: 'uid-only' },
      { assurance: 'asserted', unverifiedBadge: 'local-key' },
      { assurance: 'asserted', unverifiedBadge: 'reader-verified' },
      { assurance: 'asserted' },
    ]);
    const rows = (await lenient.audit.query({ accountId: account.id })).map((r) => r.factor);
    expect(rows).toContain('badge-uid+pin');
    expect(rows.filter((f) => f === 'hwk' || f === 'hwk+pin')).toEqual(['hwk']);
    // The default instances still refuse the same words.
    expect((await refusal(ws.client.badge({ kind: 'uid-only', uid }))).code).toBe('badge_weak');
  });
});

describe('badge enrolment: right after a 2-factor CPS login on that workstation, with the badge itself', () => {
  async function cpsLogin(ws: Ws, who: Account, label: string) {
    const cert = pki.issue(
      { idNat: who.idNat!, lastName: who.lastName, firstName: who.firstName, profession: 'Infirmier' },
      label,
    );
    const card = await pinVerifiedCard(cert);
    return ws.client.cardLogin(card, who.idNat!);
  }
  const relay = async (ws: Ws | SessionServerClient, emu: DesfireEmulator) =>
    (await tapProof('client' in ws ? ws.client : ws, emu)) as Extract<BadgeProof, { kind: 'desfire' }>;

  it('refused from a re-open, after the window, with another workstation’s challenge, a weak or replayed proof', async () => {
    const ws = await workstation('PC-ENROL');
    const { account, badge } = await person();
    const fresh = (await person()).badge; // an encoded badge (bound to someone else): a taken one
    const t = await cpsLogin(ws, account, 'enrol-1');
    const { hospitalBadge } = await import('../cards/desfire-card');
    const newBadge = hospitalBadge('CHU-NEW');

    // A 1-factor re-open by badge on the same workstation, inside the window: not a CPS login.
    const reopen = await ws.client.badge(await tapProof(ws.client, badge));
    const e1 = await refusal(ws.client.enrolBadge(reopen.accessToken, await relay(ws, newBadge)));
    expect(e1.code).toBe('enrolment_needs_cps_login');
    // The challenge came from another workstation.
    const other = await workstation('PC-ENROL-OTHER');
    expect((await refusal(ws.client.enrolBadge(t.accessToken, await relay(other, newBadge)))).code).toBe(
      'badge_other_workstation',
    );
    // A UID on the workstation's word.
    const weak = await fetch(`${servers[0]!.issuer}/sillage/badges`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(badgeTapParams({ kind: 'uid-only', uid: uidOf(newBadge) })),
    });
    expect(weak.status).toBe(400);
    expect(await weak.json()).toMatchObject({ error: 'invalid_request', sillage_error: 'badge_weak' });
    // Someone else's badge.
    expect((await refusal(ws.client.enrolBadge(t.accessToken, await relay(ws, fresh)))).code).toBe('badge_taken');
    // The genuine case, once; the same proof again is a replay.
    const ok = await relay(ws, newBadge);
    expect(await ws.client.enrolBadge(t.accessToken, ok)).toEqual({ uid: uidOf(newBadge) });
    expect((await refusal(ws.client.enrolBadge(t.accessToken, ok))).code).toBe('badge_replayed');
    // Minutes later the CPS login no longer enrols.
    offsetMs = 6 * MIN;
    try {
      const late = hospitalBadge('CHU-LATE');
      expect((await refusal(ws.client.enrolBadge(t.accessToken, await relay(ws, late)))).code).toBe(
        'enrolment_needs_cps_login',
      );
    } finally {
      offsetMs = 0;
    }
    const rows = (await servers[0]!.audit.query({ action: 'badge.enrol', limit: 100 })).filter(
      (r) => r.workstation === ws.creds.clientId,
    );
    expect(rows.map((r) => `${r.outcome}:${r.reason?.split(':')[0] ?? ''}`)).toEqual([
      'refused:enrolment_needs_cps_login',
      'refused:badge_other_workstation',
      'refused:badge_weak',
      'refused:badge_taken',
      'ok:',
      'refused:badge_replayed',
      'refused:enrolment_needs_cps_login',
    ]);
  });
});
