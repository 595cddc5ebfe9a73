// The same contract suite over every transport the UI can use (in-process, headless WebSocket); the
// Electron IPC adapter has its own test in test/shell with the same agent.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { AgentClient, SessionState } from '../../shared/contract';
import { createAgent } from '../../electron/core/agent';
import type { Agent } from '../../electron/core/agent';
import { startHeadlessServer } from '../../electron/core/headless/server';
import type { HeadlessServer } from '../../electron/core/headless/server';
import { ContractError } from '../../shared/errors';
import { inprocClient, nextEvent, wsClient } from './clients';

type Transport = { name: string; open(agent: Agent): Promise<AgentClient & { close(): void }>; done(): Promise<void> };

let uiDir: string;
beforeAll(() => {
  uiDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-ui-'));
  fs.writeFileSync(path.join(uiDir, 'index.html'), '<!doctype html><title>Sillage</title>');
});
afterAll(() => fs.rmSync(uiDir, { recursive: true, force: true }));

function headlessTransport(): Transport {
  let server: HeadlessServer | null = null;
  return {
    name: 'headless WebSocket',
    async open(agent) {
      server = await startHeadlessServer({ api: agent.api, audit: agent.audit, uiDir, secret: 'test-secret' });
      return wsClient(`ws://127.0.0.1:${server.port}/agent`, 'test-secret', `http://127.0.0.1:${server.port}`);
    },
    async done() {
      await server?.close();
    },
  };
}

const transports: Transport[] = [
  { name: 'in-process', open: async (a) => inprocClient(a.api), done: async () => {} },
  headlessTransport(),
];

for (const t of transports) {
  describe(`contract over ${t.name}`, () => {
    let agent: Agent;
    let client: AgentClient & { close(): void };

    beforeAll(async () => {
      agent = await createAgent({ mode: 'headless', demo: true, inactivityMs: 0, tapDebounceMs: 0 });
      client = await t.open(agent);
    });
    afterAll(async () => {
      client.close();
      await t.done();
      await agent.stop();
    });
    afterEach(async () => {
      await client.invoke('demo.reset', {});
    });

    it('starts locked and lists the demo readers', async () => {
      expect(await client.invoke('session.getState', {})).toEqual({ kind: 'locked', reason: 'startup' });
      const readers = await client.invoke('readers.list', {});
      expect(readers.map((r) => r.transport)).toEqual(['demo', 'demo']);
    });

    it('plays card → wrong PIN → right PIN → open → removal, with events', async () => {
      const pinPad = nextEvent(client, (e) => e.event === 'session.state' && e.payload.kind === 'pin-required');
      await client.invoke('demo.insertCard', { cardId: 'cps-camille' });
      await pinPad;
      const wrong = nextEvent(client, (e) => e.event === 'agent.error');
      expect(await client.invoke('session.submitPin', { pin: '0000' })).toEqual({ accepted: false });
      expect((await wrong).payload).toMatchObject({ code: 'pin-wrong', params: { triesLeft: 2 } });
      const opened = nextEvent(client, (e) => e.event === 'session.state' && e.payload.kind === 'open');
      expect(await client.invoke('session.submitPin', { pin: '1234' })).toEqual({ accepted: true });
      const open = (await opened).payload as SessionState;
      expect(open.kind === 'open' && open.session.user.lastName).toBe('MARTIN');
      const locked = nextEvent(client, (e) => e.event === 'session.state' && e.payload.kind === 'locked');
      await client.invoke('demo.removeCard', {});
      expect((await locked).payload).toEqual({ kind: 'locked', reason: 'card-removed' });
    });

    it('refuses unknown commands, bad payloads and PINs out of place, with codes', async () => {
      await expect(client.invoke('nope' as never, {} as never)).rejects.toMatchObject({ code: 'invalid-command' });
      await expect(client.invoke('session.submitPin', { pin: 42 } as never)).rejects.toMatchObject({
        code: 'invalid-command',
      });
      await expect(client.invoke('session.submitPin', { pin: '1234', extra: 1 } as never)).rejects.toMatchObject({
        code: 'invalid-command',
      });
      await expect(client.invoke('session.submitPin', { pin: '1234' })).rejects.toMatchObject({ code: 'not-allowed' });
      // A badge is enrolled from an open CPS session only; the command takes no field.
      await expect(client.invoke('session.enrolBadge', {})).rejects.toMatchObject({ code: 'not-allowed' });
      await expect(client.invoke('session.enrolBadge', { uid: '04A1' } as never)).rejects.toMatchObject({
        code: 'invalid-command',
      });
      const unknown = client.invoke('demo.insertCard', { cardId: 'no-such-card' });
      await expect(unknown).rejects.toBeInstanceOf(ContractError);
      await expect(unknown).rejects.toMatchObject({ code: 'invalid-command' });
      const rejected = agent.audit.recent(100).filter((r) => r.action === 'command.rejected');
      expect(rejected.length).toBeGreaterThanOrEqual(3);
      // Hashes are random hex and may contain "1234" by chance: look at the recorded fields only.
      expect(JSON.stringify(agent.audit.recent(100).map(({ hash: _hash, ...r }) => r))).not.toContain('1234');
    });

    it('gives diagnostics and switches language for every client', async () => {
      const d = await client.invoke('diagnostics.get', {});
      expect(d).toMatchObject({ mode: 'headless', demo: true, state: 'locked' });
      const policy = nextEvent(client, (e) => e.event === 'ui.policy');
      await client.invoke('ui.setLanguage', { lang: 'en' });
      expect((await policy).payload).toMatchObject({ lang: 'en', demo: true });
    });
  });
}

describe('headless WebSocket security', () => {
  let agent: Agent;
  let server: HeadlessServer;
  beforeAll(async () => {
    agent = await createAgent({ mode: 'headless', demo: true });
    server = await startHeadlessServer({
      api: agent.api,
      audit: agent.audit,
      uiDir,
      secret: 'right-secret',
      helloTimeoutMs: 300,
    });
  });
  afterAll(async () => {
    await server.close();
    await agent.stop();
  });

  const closeCode = (ws: WebSocket) => new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));

  it('closes a socket that gives the wrong secret, and audits it', async () => {
    await expect(wsClient(`ws://127.0.0.1:${server.port}/agent`, 'wrong-secret')).rejects.toMatchObject({
      code: 4401,
    });
    expect(
      agent.audit
        .recent(20)
        .some((r) => r.action === 'headless.refused' && r.reason === 'wrong or missing launch secret'),
    ).toBe(true);
  });

  it('closes a socket that never says hello', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/agent`);
    expect(await closeCode(ws)).toBe(4401);
  });

  it('refuses commands before hello, malformed frames and foreign origins', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/agent`);
    ws.on('open', () => ws.send('{not json'));
    expect(await closeCode(ws)).toBe(4400);
    const foreign = new WebSocket(`ws://127.0.0.1:${server.port}/agent`, { origin: 'http://evil.example' });
    const err = await new Promise<Error>((resolve) => foreign.on('error', resolve));
    expect(err.message).toMatch(/403/);
  });

  it('serves the UI only to its own Host, with a CSP, and never outside its directory', async () => {
    const get = (p: string, host = `127.0.0.1:${server.port}`) =>
      new Promise<http.IncomingMessage>((resolve, reject) =>
        http.get({ host: '127.0.0.1', port: server.port, path: p, headers: { host } }, resolve).on('error', reject),
      );
    const ok = await get('/');
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['content-security-policy']).toContain("script-src 'self'");
    expect((await get('/', 'attacker.example:80')).statusCode).toBe(421);
    expect((await get('/../../etc/passwd')).statusCode).toBe(404);
    expect((await get('/%2e%2e/%2e%2e/etc/passwd')).statusCode).toBe(404);
  });
});
