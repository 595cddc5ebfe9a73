// Every local listener of the agent against hostile input, the agent in a process of its own: a
// listener that throws kills it. Each attack must get a clean 4xx (or a JSON error line on the sockets),
// and the agent must still serve a good request afterwards.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_AUDIENCES, HOST_SECRETS } from './agent-host';
import { httpRequest, raw, startHost } from './host-client';
import type { Host } from './host-client';

let host: Host;
beforeAll(async () => {
  host = await startHost();
}, 60_000);
afterAll(async () => host?.stop());

const big = (n: number) => 'a'.repeat(n);

/** The agent is still up and serving: a good request answers as it should. */
async function stillServing(port: number, target: string, headers: Record<string, string>, want: number) {
  expect(host.alive(), `agent process died: ${host.stderr()}`).toBe(true);
  expect((await raw(port, [httpRequest('GET', target, headers)])).status).toBe(want);
}

function httpCases(host: string, auth: Record<string, string>): [string, (Buffer | string)[]][] {
  const h = { host, ...auth };
  return [
    ['GET /%', [httpRequest('GET', '/%', h)]],
    ['GET //', [httpRequest('GET', '//', h)]],
    ['GET //x/..', [httpRequest('GET', '//x/..', h)]],
    ['GET /%00', [httpRequest('GET', '/%00', h)]],
    ['GET /%E0%A4%A', [httpRequest('GET', '/%E0%A4%A', h)]],
    ['absolute-form target', [httpRequest('GET', 'http://127.0.0.1/', h)]],
    ['NUL in the request line', [Buffer.from(`GET /\0 HTTP/1.1\r\nhost: ${host}\r\n\r\n`, 'latin1')]],
    ['NUL in a header', [Buffer.from(`GET / HTTP/1.1\r\nhost: ${host}\r\nx-a: a\0b\r\n\r\n`, 'latin1')]],
    ['binary garbage', [Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 13, 10])]],
    // Node keeps the first of two Host (or Authorization) headers: our checks must not read another than a proxy.
    ['two Host headers', [Buffer.from(`GET / HTTP/1.1\r\nhost: ${host}\r\nhost: evil.example\r\n\r\n`, 'latin1')]],
    [
      'two Authorization headers',
      [
        httpRequest('GET', '/v1/context', {
          ...h,
          authorization: `Bearer ${HOST_SECRETS.brokerHttp}`,
          Authorization: 'Bearer x',
        }),
      ],
    ],
    ['huge header', [httpRequest('GET', '/', { ...h, 'x-big': big(100_000) })]],
    [
      'many headers',
      [
        httpRequest('GET', '/', {
          ...h,
          ...Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`x-${i}`, 'v'])),
        }),
      ],
    ],
    [
      'huge body',
      [
        httpRequest(
          'POST',
          '/v1/token',
          { ...h, 'content-type': 'application/json' },
          `{"audience":"${big(2_000_000)}"}`,
        ),
      ],
    ],
    [
      'body says more than it sends',
      [Buffer.from(`POST /v1/token HTTP/1.1\r\nhost: ${host}\r\ncontent-length: 99999\r\n\r\n{"a`, 'latin1')],
    ],
    [
      'chunked garbage',
      [Buffer.from(`POST /v1/token HTTP/1.1\r\nhost: ${host}\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n`, 'latin1')],
    ],
  ];
}

function upgradeCases(host: string): [string, (Buffer | string)[]][] {
  const up = {
    host,
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-version': '13',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  };
  return [
    ['upgrade GET /%', [httpRequest('GET', '/%', up)]],
    ['upgrade GET //', [httpRequest('GET', '//', up)]],
    ['upgrade GET /agent%00', [httpRequest('GET', '/agent%00', up)]],
    ['upgrade without a key', [httpRequest('GET', '/agent', { ...up, 'sec-websocket-key': '' })]],
    ['upgrade with a bad version', [httpRequest('GET', '/agent', { ...up, 'sec-websocket-version': '7' })]],
    [
      'upgrade with a 4 KB Origin',
      [httpRequest('GET', '/agent', { ...up, origin: `http://evil.example/${big(4096)}` })],
    ],
    ['upgrade POST', [httpRequest('POST', '/agent', up)]],
  ];
}

describe('headless UI server (HTTP + WebSocket upgrade)', () => {
  const good = () => ({ host: `127.0.0.1:${host.addresses.headlessPort}` });

  it('answers 4xx to malformed requests and lives', async () => {
    const port = host.addresses.headlessPort;
    for (const [name, chunks] of [...httpCases(`127.0.0.1:${port}`, {}), ...upgradeCases(`127.0.0.1:${port}`)]) {
      const a = await raw(port, chunks);
      expect([name, a.status !== null && a.status >= 400 && a.status < 500]).toEqual([name, true]);
      await stillServing(port, '/', good(), 200);
    }
  });

  it('survives half-open and silent connections', async () => {
    const port = host.addresses.headlessPort;
    await raw(port, [`GET / HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n`], { halfClose: true });
    await raw(port, [], { halfClose: true, maxMs: 300 });
    await raw(
      port,
      [`GET /agent HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n`],
      { halfClose: true },
    );
    await stillServing(port, '/', good(), 200);
  });

  it('a flood of refused upgrades with 4 KB Origins grows the audit by a bounded amount', async () => {
    const port = host.addresses.headlessPort;
    const before = (await host.stats()).auditBytes;
    const [, chunks] = upgradeCases(`127.0.0.1:${port}`).find(([n]) => n.includes('4 KB'))!;
    for (let i = 0; i < 300; i++) expect((await raw(port, chunks)).status).toBe(403);
    expect((await host.stats()).auditBytes - before).toBeLessThan(8 * 1024);
    await stillServing(port, '/', good(), 200);
  });
});

describe('DPI broker loopback HTTP', () => {
  const port = () => Number(new URL(host.addresses.brokerHttp).port);
  const auth = { authorization: `Bearer ${HOST_SECRETS.brokerHttp}` };
  const good = () => ({ host: `127.0.0.1:${port()}`, ...auth });

  it('answers 4xx to malformed requests, with and without the secret, and lives', async () => {
    for (const a of [auth, {}, { authorization: `Bearer ${big(20_000)}` }])
      for (const [name, chunks] of httpCases(`127.0.0.1:${port()}`, a)) {
        const r = await raw(port(), chunks);
        expect([name, r.status !== null && r.status >= 400 && r.status < 500]).toEqual([name, true]);
        await stillServing(port(), '/v1/context', good(), 200);
      }
    for (const [name, chunks] of upgradeCases(`127.0.0.1:${port()}`)) {
      const r = await raw(port(), chunks);
      expect([name, r.status === null || (r.status >= 400 && r.status < 500)]).toEqual([name, true]);
    }
    await stillServing(port(), '/v1/context', good(), 200);
    expect((await host.stats()).handedOut).toEqual([]);
  });

  it('survives half-open connections and a client gone mid-body', async () => {
    await raw(
      port(),
      [
        `POST /v1/token HTTP/1.1\r\nhost: 127.0.0.1:${port()}\r\nauthorization: ${auth.authorization}\r\ncontent-length: 50\r\n\r\n{"au`,
      ],
      { halfClose: true },
    );
    await raw(
      port(),
      [`GET /v1/events HTTP/1.1\r\nhost: 127.0.0.1:${port()}\r\nauthorization: ${auth.authorization}\r\n\r\n`],
      { quietMs: 50 },
    );
    await raw(port(), [], { halfClose: true, maxMs: 300 });
    await stillServing(port(), '/v1/context', good(), 200);
  });
});

/** A greeted broker-socket session: the challenge answered, as the registered client (this Node). */
function brokerSession(
  path: string,
): Promise<{ send(b: Buffer | string): void; lines(): Promise<string[]>; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    let buf = '';
    const lines: string[] = [];
    s.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
      const ch = lines.length === 1 ? (JSON.parse(lines[0]!) as { nonce?: string }) : null;
      if (ch?.nonce) s.write(JSON.stringify({ id: 0, method: 'hello', params: { nonce: ch.nonce } }) + '\n');
      if (lines.length === 2) {
        resolve({
          socket: s,
          send: (b) => s.write(b),
          // The next line (or the close), within a bound: each malformed line must get an answer.
          lines: () =>
            new Promise((r) => {
              const start = lines.length;
              const done = () => (s.off('data', line), s.off('close', done), clearTimeout(max), r(lines.slice(start)));
              // After the session's own handler above has split what came into lines.
              const line = () => lines.length > start && done();
              const max = setTimeout(done, 3000);
              s.on('data', line);
              s.once('close', done);
            }),
        });
      }
    });
    s.on('error', reject);
  });
}

const SOCKET_LINES: [string, Buffer | string][] = [
  ['null', 'null\n'],
  ['array', '[1,2]\n'],
  ['string', '"x"\n'],
  ['number', '5\n'],
  ['bad JSON', '{"id":\n'],
  ['NUL bytes', '\0\0{"id":1}\0\n'],
  ['invalid UTF-8', Buffer.from([0xff, 0xfe, 0x7b, 0x0a])],
  ['params null', '{"id":1,"method":"getToken","params":null}\n'],
  ['params a string', '{"id":1,"method":"getToken","params":"x"}\n'],
  ['method an object', '{"id":1,"method":{"a":1}}\n'],
  ['id an object', '{"id":{"a":1},"method":"nope"}\n'],
  ['audience with NUL', `{"id":1,"method":"getToken","params":{"audience":"${HOST_AUDIENCES.socket}\\u0000"}}\n`],
  ['patient garbage', '{"id":1,"method":"setPatient","params":{"patient":[null]}}\n'],
  ['__proto__', '{"id":1,"method":"getToken","params":{"__proto__":{"audience":"x"}}}\n'],
  // What a browser or a confused client would send: HTTP on a JSON-lines socket.
  ['GET /%', 'GET /% HTTP/1.1\r\nhost: x\r\n\r\n'],
  ['GET //', 'GET // HTTP/1.1\r\n\r\n'],
  ['upgrade', 'GET /agent HTTP/1.1\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n'],
];

describe('DPI broker local socket', () => {
  it('answers a JSON error to every malformed line, hands out nothing, and lives', async () => {
    for (const [name, line] of SOCKET_LINES) {
      const c = await brokerSession(host.addresses.brokerSocket);
      c.send(line);
      const got = await c.lines();
      expect([name, got.length > 0 && got.every((l) => 'error' in (JSON.parse(l) as object)), got]).toEqual([
        name,
        true,
        got,
      ]);
      c.socket.destroy();
      expect(host.alive(), host.stderr()).toBe(true);
    }
    const c = await brokerSession(host.addresses.brokerSocket);
    c.send(big(70_000));
    expect(JSON.parse((await c.lines())[0]!)).toMatchObject({ error: { code: 'bad-request' } });
    expect((await host.stats()).handedOut).toEqual([]);
  });

  it('refuses a peer that never answers the challenge, sends before it, or hangs up, and lives', async () => {
    const path = host.addresses.brokerSocket;
    const early = await raw(path, [
      '{"id":1,"method":"hello"}\n{"id":2,"method":"getToken","params":{"audience":"https://dpi.test/api"}}\n',
    ]);
    expect(host.alive(), host.stderr()).toBe(true);
    expect(early.data.toString()).toMatch(/not-registered/);
    await raw(path, [], { halfClose: true, maxMs: 500 });
    await raw(path, [Buffer.from([0, 0, 0])], { halfClose: true, maxMs: 500 });
    const silent = await raw(path, [], { maxMs: 5000, quietMs: 4000 });
    expect(silent.data.toString()).toMatch(/challenge[\s\S]*not-registered/);
    expect(host.alive(), host.stderr()).toBe(true);
    const c = await brokerSession(path);
    c.send(`{"id":9,"method":"getToken","params":{"audience":"${HOST_AUDIENCES.socket}"}}\n`);
    expect(JSON.parse((await c.lines())[0]!)).toMatchObject({
      id: 9,
      result: { access_token: `token-for:${HOST_AUDIENCES.socket}` },
    });
    c.socket.destroy();
  }, 20_000);
});

describe('demo control socket', () => {
  it('answers a JSON error to every malformed line, survives half-open connections, and lives', async () => {
    const path = host.addresses.demoSocket;
    expect(host.alive(), host.stderr()).toBe(true);
    for (const [name, line] of SOCKET_LINES) {
      const a = await raw(path, [line]);
      const replies = a.data.toString().split('\n').filter(Boolean);
      expect([
        name,
        replies.length > 0 && replies.every((l) => (JSON.parse(l) as { ok: boolean }).ok === false),
      ]).toEqual([name, true]);
    }
    await raw(path, [big(40_000)]);
    await raw(path, ['{"cmd":"demo.inventory"'], { halfClose: true });
    await raw(path, [], { halfClose: true, maxMs: 300 });
    expect(host.alive(), host.stderr()).toBe(true);
    const ok = await raw(path, ['{"cmd":"session.getState","req":{}}\n']);
    expect(JSON.parse(ok.data.toString().split('\n')[0]!)).toMatchObject({ ok: true });
    expect((await host.stats()).sessionKind).toBe('locked');
  });
});
