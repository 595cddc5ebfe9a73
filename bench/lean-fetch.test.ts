// The load generator's client against a real node:http server: what it sends and reads, its deadline,
// and a cut connection sent again by the agent's retrying transport as it would be over fetch.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryingFetch } from '../electron/core/oidc/retry';
import { leanFetch } from './lean-fetch';

let server: http.Server;
let base = '';
let cutNext = 0;
const seen: { method?: string; type?: string; body: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method, type: req.headers['content-type'], body });
      if (req.url === '/cut' && cutNext-- > 0) return req.socket.destroy();
      if (req.url === '/slow') return setTimeout(() => res.end('late'), 2000);
      if (req.url === '/empty') return res.writeHead(204).end();
      res.writeHead(201, { 'content-type': 'application/json', 'x-two': ['a', 'b'] }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('lean fetch', () => {
  it('sends method, headers and body, and gives status, headers and body back', async () => {
    const res = await leanFetch(`${base}/x?q=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ a: 'é b' }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-two')).toBe('a, b');
    expect(await res.json()).toEqual({ ok: true });
    expect(seen.at(-1)).toEqual({ method: 'POST', type: 'application/x-www-form-urlencoded', body: 'a=%C3%A9+b' });
    const empty = await leanFetch(`${base}/empty`);
    expect([empty.status, await empty.text()]).toEqual([204, '']);
  });

  it('keeps the deadline of its signal', async () => {
    const err = await leanFetch(`${base}/slow`, { signal: AbortSignal.timeout(100) }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
  });

  it('refuses what it does not send (https, streams) instead of sending something else', async () => {
    await expect(leanFetch('https://127.0.0.1/')).rejects.toThrow(/http:\/\/ only/);
    await expect(leanFetch(`${base}/x`, { method: 'POST', body: new Blob(['x']) })).rejects.toThrow(/string bodies/);
  });

  it('a cut connection is sent again by the retrying transport, as over fetch', async () => {
    cutNext = 1;
    const before = seen.length;
    const res = await retryingFetch(leanFetch, [10])(`${base}/cut`, { method: 'POST', body: 'same' });
    expect(res.status).toBe(201);
    expect(seen.slice(before).map((s) => s.body)).toEqual(['same', 'same']);
    cutNext = 1;
    const once = await leanFetch(`${base}/cut`, { method: 'POST', body: 'x' }).catch((e: unknown) => e);
    expect((once as { code?: string }).code).toMatch(/ECONNRESET/);
  });
});
