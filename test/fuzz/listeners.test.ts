// Fuzzing the agent's local listeners, the agent in a process of its own (test/listeners/agent-host.ts):
// the headless UI server over HTTP and WebSocket, the DPI broker over loopback HTTP and its local socket.
// Mutations start from valid requests. Counted: crashes (the process died, or a case got no answer at
// all), wrong accepts (a file outside the UI, a WebSocket welcomed or a broker client greeted without
// its secret, a token for an audience the application may not have), and 5xx.
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HOST_AUDIENCES, HOST_SECRETS } from '../listeners/agent-host';
import { startHost } from '../listeners/host-client';
import type { Host } from '../listeners/host-client';
import { exchange, FUZZ_CASES, fuzz, httpBytes, mutateBytes, mutateHttp, mutateJson, mutateJsonText } from './harness';
import type { HttpCase, Rng, Verdict } from './harness';

let host: Host;
beforeAll(async () => {
  host = await startHost();
}, 60_000);
afterAll(async () => host?.stop());

const dead = (): Verdict | null =>
  host.alive() ? null : { crash: `agent process died: ${host.stderr().slice(-300)}` };

/** The request target and Host values as the bytes carry them (header values lose their surrounding blanks). */
function onTheWire(bytes: Buffer): { target: string; hosts: string[] } {
  const head = bytes.toString('latin1').split('\r\n\r\n', 1)[0]!.split('\r\n');
  const hosts = head
    .slice(1)
    .filter((l) => /^host:/i.test(l))
    .map((l) => l.slice(5).replace(/^[ \t]+|[ \t]+$/g, ''));
  return { target: head[0]!.split(' ')[1] ?? '', hosts };
}

/** The file our own strict reading of a request target names, below the UI root (null: none). */
function servedFile(target: string): string | null {
  if (!target.startsWith('/') || target.startsWith('//')) return null;
  try {
    const p = path.posix.resolve('/', '.' + decodeURIComponent(target.split(/[?#]/, 1)[0]!));
    return p === '/' ? '/index.html' : p;
  } catch {
    return null;
  }
}

describe('fuzz: agent listeners', () => {
  it('headless HTTP: 10,000 requests', async () => {
    const port = host.addresses.headlessPort;
    const hostHeader = `127.0.0.1:${port}`;
    const bases: HttpCase[] = ['/', '/index.html', '/agent', '/assets/app.js', '/favicon.ico'].flatMap((target) =>
      ['GET', 'HEAD'].map((method) => ({ method, target, headers: [['host', hostHeader]], body: Buffer.alloc(0) })),
    );
    let served = 0;
    const report = await fuzz<HttpCase>({
      name: 'headless-http',
      concurrency: 8,
      generate: (rng) => mutateHttp(rng, rng.pick(bases)),
      async run(c) {
        const bytes = httpBytes(c);
        const a = await exchange(port, bytes);
        const d = dead();
        if (d) return d;
        if (a === 'no answer') return { crash: 'no answer' };
        if (a.status !== null && a.status >= 500) return { fiveXX: `${a.status}` };
        if (a.status === 200) {
          const wire = onTheWire(bytes);
          if (wire.hosts.length !== 1 || wire.hosts[0] !== hostHeader)
            return { wrongAccept: 'served to a foreign Host' };
          // The UI directory holds index.html alone: any other file served came from outside it.
          if (servedFile(wire.target) !== '/index.html')
            return { wrongAccept: `served ${JSON.stringify(wire.target)}` };
          served++;
        }
        return {};
      },
    });
    expect(report.failures).toEqual([]);
    expect(report).toMatchObject({ cases: FUZZ_CASES, crashes: 0, wrongAccepts: 0, fiveXX: 0 });
    // The mutations stay close enough to valid requests to reach the file server too.
    expect(served).toBeGreaterThan(FUZZ_CASES / 50);
  }, 180_000);

  it('headless WebSocket: 10,000 frames, before and after the launch secret', async () => {
    const port = host.addresses.headlessPort;
    const url = `ws://127.0.0.1:${port}/agent`;
    const origin = `http://127.0.0.1:${port}`;
    const hello = { type: 'hello', secret: HOST_SECRETS.headless };
    const commands: { cmd: string; req: unknown }[] = [
      { cmd: 'session.getState', req: {} },
      { cmd: 'readers.list', req: {} },
      { cmd: 'ui.getPolicy', req: {} },
      { cmd: 'ui.setLanguage', req: { lang: 'en' } },
      { cmd: 'ui.activity', req: {} },
      { cmd: 'diagnostics.get', req: {} },
      { cmd: 'session.submitPin', req: { pin: '0000' } },
      { cmd: 'session.cancel', req: {} },
      { cmd: 'session.enrolBadge', req: {} },
      { cmd: 'demo.inventory', req: {} },
      { cmd: 'demo.tapBadge', req: { badgeId: 'badge-camille' } },
      { cmd: 'demo.insertCard', req: { cardId: 'cps-camille' } },
      { cmd: 'demo.removeCard', req: {} },
      { cmd: 'dmp.getPatient', req: {} },
    ];
    const open = (): Promise<WebSocket> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url, { origin });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      });
    /** Sends frames on a fresh socket; resolves once `decisive` says so, at its close, or after maxMs. */
    const session = (frames: Buffer[], decisive: (messages: string[]) => boolean, maxMs: number) =>
      new Promise<{ messages: string[]; closed: number | null }>((resolve) => {
        void open().then(
          (ws) => {
            const messages: string[] = [];
            const t = setTimeout(() => end(null), maxMs);
            const end = (closed: number | null) => {
              clearTimeout(t);
              ws.removeAllListeners();
              ws.on('error', () => {});
              ws.terminate();
              resolve({ messages, closed });
            };
            ws.on('message', (m) => {
              messages.push(m.toString());
              if (decisive(messages)) end(null);
            });
            ws.on('close', (code) => end(code));
            ws.on('error', () => end(-1));
            for (const f of frames) ws.send(f, { binary: false });
          },
          () => resolve({ messages: [], closed: -2 }),
        );
      });
    type WsCase = { pre: boolean; frames: Buffer[] };
    let results = 0;
    const report = await fuzz<WsCase>({
      name: 'headless-ws',
      concurrency: 8,
      generate: (rng: Rng) => {
        if (rng.chance(0.3)) return { pre: true, frames: [mutateJsonText(rng, hello)] };
        const c = rng.pick(commands);
        const frame = { type: 'command', id: 1, cmd: c.cmd, req: c.req };
        return {
          pre: false,
          frames: [
            Buffer.from(JSON.stringify(hello)),
            rng.chance(0.85) ? mutateJsonText(rng, frame) : mutateBytes(rng, Buffer.from(JSON.stringify(frame))),
          ],
        };
      },
      async run(c) {
        const r = await session(
          c.frames,
          (m) => (c.pre ? m.length > 0 : m.some((x) => x.includes('"type":"result"'))),
          3000,
        );
        const d = dead();
        if (d) return d;
        if (r.closed === -2) return { crash: 'WebSocket refused' };
        const frames = r.messages.map((m) => JSON.parse(m) as { type: string; ok?: boolean; error?: { code: string } });
        if (c.pre) {
          let sent: unknown = null;
          try {
            sent = JSON.parse(c.frames[0]!.toString());
          } catch {
            // not JSON: must be refused
          }
          const exact =
            typeof sent === 'object' &&
            sent !== null &&
            (sent as { type?: unknown }).type === 'hello' &&
            (sent as { secret?: unknown }).secret === HOST_SECRETS.headless;
          if (frames.some((f) => f.type === 'welcome') && !exact) return { wrongAccept: 'welcomed without the secret' };
          if (!exact && r.closed === null) return { crash: 'a wrong hello left the socket open' };
          return {};
        }
        if (!frames.some((f) => f.type === 'welcome')) return { crash: 'the right secret was not welcomed' };
        const result = frames.find((f) => f.type === 'result');
        if (!result && r.closed === null) return { crash: 'a command got no answer' };
        if (result?.ok === false && result.error?.code === 'internal') return { fiveXX: 'internal error' };
        if (result) results++;
        return {};
      },
    });
    expect(report.failures).toEqual([]);
    expect(report).toMatchObject({ cases: FUZZ_CASES, crashes: 0, wrongAccepts: 0, fiveXX: 0 });
    // Most mutated commands reach the dispatcher and get a contract answer (not only a closed socket).
    expect(results).toBeGreaterThan(FUZZ_CASES / 4);
  }, 180_000);

  it('broker HTTP: 10,000 requests', async () => {
    const port = Number(new URL(host.addresses.brokerHttp).port);
    const hostHeader = `127.0.0.1:${port}`;
    const auth = `Bearer ${HOST_SECRETS.brokerHttp}`;
    const patient = { ins: '184127645108946', oid: '1.2.250.1.213.1.4.8', lastName: 'DURAND', firstName: 'Alice' };
    const bodies: Record<string, unknown> = {
      '/v1/token': { audience: HOST_AUDIENCES.http },
      '/v1/patient': { patient },
      '/v1/dmp': { patient },
    };
    type BrokerHttpCase = HttpCase & { json: unknown };
    let tokens = 0;
    const bases = [
      ...['/v1/context', '/v1/events'].map((target) => ({ method: 'GET', target, json: undefined })),
      ...Object.keys(bodies).map((target) => ({ method: 'POST', target, json: bodies[target] })),
    ];
    const report = await fuzz<BrokerHttpCase>({
      name: 'broker-http',
      concurrency: 8,
      generate: (rng) => {
        const b = rng.pick(bases);
        const base: HttpCase = {
          method: b.method,
          target: b.target,
          headers: [
            ['host', hostHeader],
            ['authorization', auth],
            ['content-type', 'application/json'],
          ],
          body: Buffer.from(b.json === undefined ? '' : JSON.stringify(b.json)),
        };
        return { ...mutateHttp(rng, base, b.json), json: b.json };
      },
      async run(c) {
        const a = await exchange(port, httpBytes(c));
        const d = dead();
        if (d) return d;
        if (a === 'no answer') return { crash: 'no answer' };
        if (a.status !== null && a.status >= 500) return { fiveXX: `${a.status}` };
        if (a.status === 200 && a.body.includes('access_token')) {
          const auths = c.headers.filter(([k]) => k.toLowerCase() === 'authorization').map(([, v]) => v);
          let audience: unknown = null;
          try {
            audience = (JSON.parse(c.body.toString('utf8')) as { audience?: unknown }).audience;
          } catch {
            audience = null;
          }
          if (auths.length !== 1 || auths[0] !== auth) return { wrongAccept: 'token without the exact secret' };
          if (audience !== HOST_AUDIENCES.http) return { wrongAccept: `token for ${JSON.stringify(audience)}` };
          tokens++;
        }
        return {};
      },
    });
    expect(report.failures).toEqual([]);
    expect(report).toMatchObject({ cases: FUZZ_CASES, crashes: 0, wrongAccepts: 0, fiveXX: 0 });
    expect(tokens).toBeGreaterThan(0);
  }, 180_000);

  it('broker local socket: 10,000 lines, before and after the challenge', async () => {
    const path = host.addresses.brokerSocket;
    const patient = { ins: '184127645108946', oid: '1.2.250.1.213.1.4.8' };
    const requests = [
      { id: 1, method: 'hello' },
      { id: 1, method: 'context' },
      { id: 1, method: 'subscribe' },
      { id: 1, method: 'getToken', params: { audience: HOST_AUDIENCES.socket } },
      { id: 1, method: 'setPatient', params: { patient } },
      { id: 1, method: 'openDmp', params: { patient } },
    ];
    /** Connects; `answer` makes the first line from the challenge; collects lines until quiet or closed. */
    const session = (answer: (nonce: string) => Buffer, then: Buffer | null, expectAnswer: boolean) =>
      new Promise<{ lines: Record<string, unknown>[]; closed: boolean }>((resolve) => {
        const s = net.connect(path);
        const lines: Record<string, unknown>[] = [];
        let buf = '';
        let t: NodeJS.Timeout | null = null;
        const end = (closed: boolean) => {
          if (t) clearTimeout(t);
          s.destroy();
          resolve({ lines, closed });
        };
        const max = setTimeout(() => end(false), 6000);
        s.on('data', (d: Buffer) => {
          buf += d.toString('utf8');
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            const l = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
            buf = buf.slice(i + 1);
            lines.push(l);
            if (l.event === 'challenge') s.write(answer(l.nonce as string));
            else if (lines.length === 2 && 'result' in l && then) s.write(then);
          }
          if (t) clearTimeout(t);
          // Greeted and answered (or refused): done; a blank line gets no answer, so a short quiet ends it.
          if (lines.length >= (expectAnswer ? 3 : 2) || lines.some((l) => l.id === null && 'error' in l))
            return (clearTimeout(max), end(false));
          if (lines.length >= 2 && !expectAnswer) t = setTimeout(() => (clearTimeout(max), end(false)), 100);
        });
        s.on('close', () => (clearTimeout(max), end(true)));
        s.on('error', () => {});
      });
    /** The agent answers every line that is not blank (as it splits them). */
    const needsAnswer = (b: Buffer | null) =>
      b !== null &&
      b
        .toString('utf8')
        .split('\n')
        .some((l) => l.trim() !== '');
    type SocketCase = { pre: boolean; first: (nonce: string) => Buffer; then: Buffer | null; show: string };
    let greeted = 0;
    let tokens = 0;
    const report = await fuzz<SocketCase>({
      name: 'broker-socket',
      concurrency: 6,
      show: (c) => c.show,
      generate: (rng) => {
        if (rng.chance(0.2)) {
          const seed = rng.next();
          const mutate = rng.chance(0.7);
          return {
            pre: true,
            first: (nonce) => {
              const hello = { id: 0, method: 'hello', params: { nonce } };
              const r = new (rng.constructor as new (s: number) => Rng)(seed);
              return Buffer.concat([
                mutate ? mutateJsonText(r, hello) : mutateBytes(r, Buffer.from(JSON.stringify(hello))),
                Buffer.from('\n'),
              ]);
            },
            then: null,
            show: `hello mutation ${seed}`,
          };
        }
        const req = rng.pick(requests);
        const line = rng.chance(0.85)
          ? Buffer.from(JSON.stringify(mutateJson(rng, req)) ?? 'null')
          : mutateBytes(rng, Buffer.from(JSON.stringify(req)));
        return {
          pre: false,
          first: (nonce) => Buffer.from(JSON.stringify({ id: 0, method: 'hello', params: { nonce } }) + '\n'),
          then: Buffer.concat([line, Buffer.from('\n')]),
          show: line.toString('latin1'),
        };
      },
      async run(c) {
        let sentFirst: Buffer | null = null;
        let nonceSeen = '';
        const r = await session(
          (nonce) => {
            nonceSeen = nonce;
            sentFirst = c.first(nonce);
            return sentFirst;
          },
          c.then,
          c.then !== null &&
            c.then
              .toString('utf8')
              .split('\n')
              .some((l) => l.trim() !== ''),
        );
        const d = dead();
        if (d) return d;
        if (!r.lines.length) return { crash: 'no answer at all' };
        if (c.pre) {
          type Hello = { method?: unknown; params?: { nonce?: unknown } } | null;
          let sent: Hello = null;
          try {
            sent = JSON.parse((sentFirst as Buffer | null)?.toString('utf8').split('\n')[0] ?? '') as Hello;
          } catch {
            sent = null;
          }
          const exact = sent?.method === 'hello' && sent.params?.nonce === nonceSeen;
          if (r.lines.some((l) => 'result' in l) && !exact) return { wrongAccept: 'greeted without the nonce' };
          if (r.lines.some((l) => 'result' in l)) greeted++;
          return {};
        }
        const answers = r.lines.slice(2);
        if (needsAnswer(c.then) && !answers.length && !r.closed) return { crash: 'a request line got no answer' };
        for (const a of answers) {
          const res = a.result as { access_token?: string; audience?: string } | undefined;
          if (res?.access_token && res.audience !== HOST_AUDIENCES.socket)
            return { wrongAccept: `token for ${res.audience}` };
          if (res?.access_token) tokens++;
          if ((a.error as { code?: string } | undefined)?.code === 'internal') return { fiveXX: 'internal' };
        }
        return {};
      },
    });
    expect(report.failures).toEqual([]);
    expect(report).toMatchObject({ cases: FUZZ_CASES, crashes: 0, wrongAccepts: 0, fiveXX: 0 });
    expect(greeted).toBeGreaterThan(0);
    expect(tokens).toBeGreaterThan(0);
    const stats = await host.stats();
    expect(stats.handedOut.every((a) => a === HOST_AUDIENCES.socket || a === HOST_AUDIENCES.http)).toBe(true);
  }, 240_000);
});
