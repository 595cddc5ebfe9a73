// The DPI broker end to end: the reference DPI runs as its own process and talks to the agent's
// broker socket (identified by the kernel's peer credentials), gets tokens minted by token exchange at
// a real session server on PostgreSQL, checks them by introspection, follows user switches and opens
// the DMP. Also: an unregistered process, the loopback HTTP endpoint and its secrets.
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../electron/core/agent';
import type { Agent } from '../../electron/core/agent';
import { AuditLog } from '../../electron/core/audit/audit';
import { ServerAuthenticator } from '../../electron/core/auth/server-authenticator';
import { sha256Hex } from '../../electron/core/broker/broker';
import type { SessionServerClient } from '../../electron/core/oidc/server-client';
import type { SessionEngine } from '../../electron/core/session/engine';
import { systemClock } from '../../electron/core/util/clock';
import { peerCredentials, peerCredentialsAvailable } from '../../native/peercred';
import type { SessionServer } from '../../server/src/app';
import { boundBadge, tapRead } from '../badges';
import type { DesfireEmulator } from '../cards/desfire-card';
import { waitFor } from '../pcscd';
import { BrokerClient } from '../reference-dpi';
import { enrolWorkstation, STAFF, startServerStack } from '../stack';
import type { ServerStack } from '../stack';

const ROOT = path.resolve(__dirname, '../..');
const DPI_AUD = 'https://dpi.reference.test';
const LABO_AUD = 'https://labo.test';
const RP = [
  { clientId: 'dpi-reference', clientSecret: 'dpi-reference-secret-0123456789', audiences: [DPI_AUD] },
  { clientId: 'labo', clientSecret: 'labo-secret-0123456789abcdef', audiences: [LABO_AUD] },
];
const HTTP_SECRET = 'labo-broker-secret-7f3a9c';
const DMP_TEMPLATE = 'https://dmp.example.test/ps/contexte?ins={ins}&oid={oid}';
const NIR_OID = '1.2.250.1.213.1.4.8';
const GOOD_INS = '184127645108946';

let stack: ServerStack;
let server: SessionServer;
let dir: string;
let engine: SessionEngine;
let audit: AuditLog;
let agent: Agent;
let httpUrl: string;
let socketPath: string;
const opened: string[] = [];

let pc1Client: () => Promise<SessionServerClient>;
const BADGES: Record<'desfire:A' | 'desfire:B', DesfireEmulator> = {} as never;

async function tap(which: 'desfire:A' | 'desfire:B') {
  const badge = await tapRead(pc1Client, BADGES[which], 'PC-1 lecteur');
  engine.handleReaderEvent({ type: 'badge-tapped', badge });
  await waitFor(() => !['presented', 'authenticating'].includes(engine.getState().kind), 5000, 'tap handled');
}

/** The reference DPI as a separate process, with a line reader over its JSON output. */
function referenceDpi() {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(ROOT, 'testbed/reference-dpi.ts'),
      '--socket',
      socketPath,
      '--issuer',
      server.issuer,
      '--client-id',
      RP[0]!.clientId,
      '--audience',
      DPI_AUD,
    ],
    {
      cwd: ROOT,
      env: { ...process.env, REF_DPI_CLIENT_SECRET: RP[0]!.clientSecret },
    },
  );
  const lines: Record<string, unknown>[] = [];
  readline
    .createInterface({ input: child.stdout })
    .on('line', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const next = async (kind: string, from: number) => {
    await waitFor(
      () => lines.slice(from).some((l) => l.kind === kind || l.kind === 'fatal'),
      15_000,
      `reference DPI ${kind} (stderr: ${stderr.slice(-500)})`,
    );
    return lines.slice(from).find((l) => l.kind === kind || l.kind === 'fatal')!;
  };
  const send = async (cmd: string, kind: string) => {
    const from = lines.length;
    child.stdin.write(cmd + '\n');
    // An answer to this command is a line of the expected kind or an error.
    await waitFor(
      () => lines.slice(from).some((l) => l.kind === kind || l.kind === 'error' || l.kind === 'fatal'),
      15_000,
      `answer to ${cmd}`,
    );
    return lines.slice(from).find((l) => l.kind === kind || l.kind === 'error' || l.kind === 'fatal')!;
  };
  return { child, lines, next, send, stop: () => child.kill() };
}

beforeAll(async () => {
  expect(peerCredentialsAvailable(), 'peer-credentials addon built by scripts/build-native.mjs').toBe(true);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-broker-'));
  stack = await startServerStack({ relyingParties: RP });
  server = stack.server;
  const a = await server.directory.addAccount(STAFF.camille);
  const b = await server.directory.addAccount(STAFF.nina);
  BADGES['desfire:A'] = await boundBadge(server.directory, a.id, 'CHU-A');
  BADGES['desfire:B'] = await boundBadge(server.directory, b.id, 'CHU-B');

  const { client } = await enrolWorkstation(server, 'PC-1');
  pc1Client = client;
  const auth = new ServerAuthenticator({ client, clock: systemClock, pollMs: 60_000 });
  audit = new AuditLog();
  socketPath = path.join(dir, 'run', 'broker.sock');
  // The agent as shipped wires the broker to its engine and authenticator.
  agent = await createAgent({
    mode: 'headless',
    demo: false,
    readers: [],
    authenticator: auth,
    audit,
    inactivityMs: 0,
    tapDebounceMs: 0,
    broker: {
      apps: [
        // The DPI is the node executable that runs the reference client (the kernel reports its real path).
        {
          id: 'dpi-reference',
          name: 'DPI de référence',
          executable: fs.realpathSync(process.execPath),
          audiences: [DPI_AUD],
          dmp: true,
        },
        {
          id: 'labo-http',
          name: 'Logiciel de laboratoire',
          secretSha256: sha256Hex(HTTP_SECRET),
          audiences: [LABO_AUD],
        },
      ],
      socketPath,
      identify: peerCredentials,
      httpPort: 0,
      dmpUrlTemplate: DMP_TEMPLATE,
      openUrl: async (url) => void opened.push(url),
    },
  });
  engine = agent.engine;
  httpUrl = agent.brokerEndpoints.http!;
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await stack?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('DPI broker', () => {
  it('hands the reference DPI tokens for its audience as the user at the keyboard, follows switches and refuses when locked', async () => {
    expect(fs.statSync(socketPath).mode & 0o777).toBe(0o600);
    const dpi = referenceDpi();
    try {
      expect(await dpi.next('ready', 0)).toMatchObject({ kind: 'ready', app: 'dpi-reference' });
      // Locked workstation: no token.
      expect(await dpi.send('token', 'token')).toMatchObject({
        kind: 'error',
        code: 'locked',
        message: expect.stringContaining('Poste verrouillé'),
      });

      // Nurse A: badge + code. The DPI hears it and its token is A's, for its audience only.
      let from = dpi.lines.length;
      await tap('desfire:A');
      expect(await engine.submitPin('4821')).toEqual({ accepted: true });
      expect(await dpi.next('event', from)).toMatchObject({ type: 'session-opened', user: '899999000011' });
      const t1 = await dpi.send('token', 'token');
      expect(t1).toMatchObject({
        kind: 'token',
        active: true,
        idnat: '899999000011',
        aud: DPI_AUD,
        acr: 'urn:sillage:loa:mfa',
        shownUser: '899999000011',
      });
      // Cached: the same token again, without a second exchange.
      const exchanges = () =>
        audit.recent(500).filter((r) => r.action === 'broker.token' && r.outcome === 'success').length;
      const before = exchanges();
      expect((await dpi.send('token', 'token')).tokenTail).toBe(t1.tokenTail);
      expect(exchanges()).toBe(before);

      // Nurse B taps over: the DPI is told, and its next token is B's.
      from = dpi.lines.length;
      await tap('desfire:B');
      expect(await engine.submitPin('1357')).toEqual({ accepted: true });
      await waitFor(() => dpi.lines.slice(from).some((l) => l.type === 'user-switched'), 10_000, 'user-switched event');
      expect(dpi.lines.slice(from).find((l) => l.type === 'user-switched')).toMatchObject({ user: '899999000052' });
      const t2 = await dpi.send('token', 'token');
      expect(t2).toMatchObject({ kind: 'token', active: true, idnat: '899999000052', shownUser: '899999000052' });
      expect(t2.tokenTail).not.toBe(t1.tokenTail);

      // The DMP: a malformed INS gets a clear message and opens nothing; a good one opens the configured URL.
      expect(await dpi.send(`dmp 184127645108947 ${NIR_OID}`, 'dmp')).toMatchObject({
        kind: 'error',
        code: 'ins-key',
        message: expect.stringContaining('clé de contrôle'),
      });
      expect(opened).toEqual([]);
      const d = await dpi.send(`dmp ${GOOD_INS} ${NIR_OID}`, 'dmp');
      expect(d).toEqual({ kind: 'dmp', url: `https://dmp.example.test/ps/contexte?ins=${GOOD_INS}&oid=${NIR_OID}` });
      expect(opened).toEqual([d.url]);
      expect(audit.recent(500).find((r) => r.action === 'dmp.open' && r.outcome === 'success')).toMatchObject({
        idNat: '899999000052',
        reason: `dpi-reference: patient INS ${GOOD_INS} (NIR)`,
      });
      expect(audit.recent(500).find((r) => r.action === 'dmp.open' && r.outcome === 'failure')).toMatchObject({
        reason: 'dpi-reference: ins-key',
      });

      // Locked: the DPI hides its user and gets no token.
      from = dpi.lines.length;
      engine.lock('user-lock');
      expect(await dpi.next('event', from)).toMatchObject({ type: 'locked', user: null, reason: 'user-lock' });
      expect(await dpi.send('token', 'token')).toMatchObject({ kind: 'error', code: 'locked' });
      expect(await dpi.send(`dmp ${GOOD_INS} ${NIR_OID}`, 'dmp')).toMatchObject({ kind: 'error', code: 'locked' });
      expect(opened).toHaveLength(1);
    } finally {
      dpi.stop();
    }
  }, 90_000);

  it('refuses an unregistered process on the socket, and audits it', async () => {
    // python3 is not a registered executable: the kernel says so whatever the process claims.
    const py = spawn('python3', [
      '-c',
      `import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(${JSON.stringify(socketPath)})\ns.sendall(b'{"id":1,"method":"getToken","params":{"audience":"${DPI_AUD}"}}\\n')\nprint(s.recv(4096).decode())`,
    ]);
    let out = '';
    py.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => py.on('exit', r));
    const answer = JSON.parse(out.trim()) as { error: { code: string; message: string } };
    expect(answer.error.code).toBe('not-registered');
    expect(answer.error.message).toContain('Application non enregistrée');
    expect(
      audit
        .recent(500)
        .filter((r) => r.action === 'broker.connect' && r.outcome === 'failure')
        .at(-1)?.reason,
    ).toMatch(/^not-registered: pid \d+ .*python3/);
  });

  it('serves HTTP-only applications by their secret, for their audiences only, and keeps browsers out', async () => {
    await tap('desfire:A'); // re-open within the window: no code
    expect(engine.getState()).toMatchObject({ kind: 'open', session: { assurance: 're-open' } });
    const post = (secret: string | null, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${httpUrl}/v1/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(secret ? { authorization: `Bearer ${secret}` } : {}),
          ...headers,
        },
        body: JSON.stringify(body),
      });
    const ok = await post(HTTP_SECRET, { audience: LABO_AUD });
    expect(ok.status).toBe(200);
    const tok = (await ok.json()) as { access_token: string; audience: string };
    expect(tok.audience).toBe(LABO_AUD);
    const oidc = await import('openid-client');
    const labo = await oidc.discovery(
      new URL(server.issuer),
      RP[1]!.clientId,
      undefined,
      oidc.ClientSecretBasic(RP[1]!.clientSecret),
      { execute: [oidc.allowInsecureRequests] },
    );
    // The token says what this PC's tap proved (a 1-factor re-open), not the shift's first 2-factor login.
    expect(await oidc.tokenIntrospection(labo, tok.access_token)).toMatchObject({
      active: true,
      idnat: '899999000011',
      aud: LABO_AUD,
      acr: 'urn:sillage:loa:reopen',
      amr: ['hwk'],
    });

    expect((await post(HTTP_SECRET, { audience: DPI_AUD })).status).toBe(403);
    expect((await post('wrong-secret', { audience: LABO_AUD })).status).toBe(401);
    expect((await post(null, { audience: LABO_AUD })).status).toBe(401);
    expect((await post(HTTP_SECRET, { audience: LABO_AUD }, { origin: 'https://evil.test' })).status).toBe(400);
    expect((await post(HTTP_SECRET, 'not json')).status).toBe(400);
    // Not allowed to open the DMP.
    const dmp = await fetch(`${httpUrl}/v1/dmp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${HTTP_SECRET}` },
      body: JSON.stringify({ patient: { ins: GOOD_INS, oid: NIR_OID } }),
    });
    expect(dmp.status).toBe(403);
    const refusals = audit
      .recent(500)
      .filter((r) => r.outcome === 'failure')
      .map((r) => r.reason);
    expect(refusals).toContain(`audience-not-allowed: labo-http → ${DPI_AUD}`);
    expect(refusals).toContain('not-registered: HTTP client with a wrong secret');
    engine.lock('user-lock');
    expect((await post(HTTP_SECRET, { audience: LABO_AUD })).status).toBe(409);
  });

  it('in the agent: the DPI sets the patient, the UI sees it masked and opens the DMP; a user change clears it', async () => {
    const { client: pc2Client } = await enrolWorkstation(server, 'PC-2');
    const auth = new ServerAuthenticator({ client: pc2Client, clock: systemClock, pollMs: 60_000 });
    const urls: string[] = [];
    const sock = path.join(dir, 'run2', 'broker.sock');
    const agent = await createAgent({
      mode: 'headless',
      demo: false,
      readers: [],
      authenticator: auth,
      inactivityMs: 0,
      tapDebounceMs: 0,
      broker: {
        apps: [
          {
            id: 'dpi-reference',
            name: 'DPI',
            executable: fs.realpathSync(process.execPath),
            audiences: [DPI_AUD],
            dmp: true,
          },
        ],
        socketPath: sock,
        identify: peerCredentials,
        httpPort: null,
        dmpUrlTemplate: 'https://dmp.example.test/ps?ins={insNumber}&cle={insKey}&oid={oid}&ps={idNat}',
        openUrl: async (u) => void urls.push(u),
      },
    });
    const events: { event: string; payload: unknown }[] = [];
    agent.api.subscribe((e) => events.push(e));
    const ui = (cmd: string, req = {}) => agent.api.handle(cmd, req, { transport: 'ws' });
    try {
      expect(await ui('ui.getPolicy')).toMatchObject({ ok: true, result: { dmp: true } });
      agent.engine.handleReaderEvent({
        type: 'badge-tapped',
        badge: await tapRead(pc2Client, BADGES['desfire:B'], 'PC-2 lecteur'),
      });
      await waitFor(() => agent.getState().kind === 'open', 5000, 'B re-opened on PC-2');
      // No patient yet: a clear refusal, shown by the UI.
      expect(await ui('dmp.openCurrent')).toMatchObject({ ok: false, error: { code: 'dmp-refused' } });
      expect(events.find((e) => e.event === 'agent.error')).toMatchObject({
        payload: { code: 'dmp-refused', params: { reason: 'no-patient' } },
      });

      const dpi = await BrokerClient.connect(sock);
      await expect(dpi.call('setPatient', { patient: { ins: '184127645108947', oid: NIR_OID } })).rejects.toMatchObject(
        { code: 'ins-key' },
      );
      // The refusal is audited, without the malformed INS (patient data).
      const refused = agent.audit
        .recent(50)
        .filter((r) => r.action === 'dmp.patient')
        .at(-1)!;
      expect(refused).toMatchObject({
        outcome: 'failure',
        idNat: '899999000052',
        reason: expect.stringMatching(/^ins-key: /),
      });
      expect(JSON.stringify(refused)).not.toContain('184127645108947');
      await dpi.call('setPatient', {
        patient: { ins: GOOD_INS, oid: NIR_OID, lastName: 'DURAND', firstName: 'Alice' },
      });
      await waitFor(() => events.some((e) => e.event === 'dmp.patient' && e.payload !== null), 3000, 'patient event');
      const shown = events.filter((e) => e.event === 'dmp.patient').at(-1)!.payload as { insMasked: string };
      expect(shown).toEqual({ lastName: 'DURAND', firstName: 'Alice', insMasked: '18412••••••••46' });
      expect(JSON.stringify(events)).not.toContain(GOOD_INS);

      expect(await ui('dmp.openCurrent')).toEqual({
        ok: true,
        result: { url: `https://dmp.example.test/ps?ins=1841276451089&cle=46&oid=${NIR_OID}&ps=899999000052` },
      });
      expect(urls).toHaveLength(1);
      expect(
        agent.audit
          .recent(50)
          .filter((r) => r.action === 'dmp.open')
          .at(-1),
      ).toMatchObject({ outcome: 'success', idNat: '899999000052', reason: `tray: patient INS ${GOOD_INS} (NIR)` });

      // Locked: the patient context goes with the user.
      agent.lock('user-lock');
      expect(events.filter((e) => e.event === 'dmp.patient').at(-1)!.payload).toBeNull();
      expect(await ui('dmp.openCurrent')).toMatchObject({ ok: false, error: { code: 'dmp-refused' } });
      expect(urls).toHaveLength(1);
      dpi.close();
    } finally {
      await agent.stop();
    }
    expect(fs.existsSync(sock)).toBe(false);
  });
});
