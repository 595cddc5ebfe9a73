// Headless mode transport: serves the built UI and carries the contract over a loopback WebSocket.
// Only 127.0.0.1; a per-launch secret (given to the browser in the URL fragment, never sent in a request
// line, never logged by us) must open every socket; Host and Origin are checked against DNS rebinding
// and cross-site pages. Development and test use only: never reachable in packaged builds.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { CONTRACT_VERSION, WS_PATH } from '../../../shared/contract';
import type { WsClientFrame, WsServerFrame } from '../../../shared/contract';
import type { AgentApi } from '../api/types';
import { RefusalAudit } from '../audit/audit';
import type { AuditSink } from '../audit/audit';
import { endBroken, requestPath, singleHost } from '../util/http';

export interface HeadlessServerOptions {
  api: AgentApi;
  audit: AuditSink;
  /** Directory of the built UI (renderer/dist). */
  uiDir: string;
  port?: number;
  /** For tests: a fixed secret; default random per launch. */
  secret?: string;
  helloTimeoutMs?: number;
}

export interface HeadlessServer {
  url: string;
  port: number;
  /** Full URL with the secret in the fragment, for the browser. */
  launchUrl: string;
  clients(): number;
  close(): Promise<void>;
}

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self' ws://127.0.0.1:*",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

const MAX_FRAME = 16 * 1024;

export async function startHeadlessServer(opts: HeadlessServerOptions): Promise<HeadlessServer> {
  const secret = Buffer.from(opts.secret ?? randomBytes(24).toString('base64url'));
  const uiDir = path.resolve(opts.uiDir);
  let port = 0;
  const allowedHosts = () => new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  const allowedOrigins = () => new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);

  const refusals = new RefusalAudit(opts.audit);
  const refuse = (reason: string) =>
    refusals.record('headless websocket', { action: 'headless.refused', outcome: 'failure', reason });

  const server = http.createServer((req, res) => {
    try {
      serve(req, res);
    } catch {
      // Whatever a request does, the agent answers and lives.
      endBroken(res);
    }
  });
  // Malformed requests (bad request line, huge headers, NUL bytes) get Node's own 400/431 (no clientError
  // listener on purpose: its default answers and closes).

  function serve(req: http.IncomingMessage, res: http.ServerResponse) {
    if (!allowedHosts().has(singleHost(req) ?? '')) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('misdirected request');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const urlPath = requestPath(req.url);
    if (urlPath === null) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request');
      return;
    }
    const file = path.resolve(uiDir, '.' + (urlPath === '/' ? '/index.html' : urlPath));
    // Stay inside the UI directory whatever the path says (../, encoded dots).
    if (!file.startsWith(uiDir + path.sep)) {
      res.writeHead(404).end();
      return;
    }
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      res.writeHead(200, {
        'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'content-security-policy': CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : data);
    });
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME });
  const authed = new Set<WebSocket>();

  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const origin = req.headers.origin;
    if (
      requestPath(req.url) !== WS_PATH ||
      !allowedHosts().has(singleHost(req) ?? '') ||
      (origin !== undefined && !allowedOrigins().has(origin))
    ) {
      refuse(`websocket from origin ${origin ?? 'none'}`);
      socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\n\r\n');
      return;
    }
    // ws answers 400 itself to a malformed handshake (key, version, method).
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws));
  });

  const send = (ws: WebSocket, frame: WsServerFrame) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
  };

  const unsubscribe = opts.api.subscribe((e) => {
    for (const ws of authed) send(ws, { type: 'event', event: e.event, payload: e.payload });
  });

  function accept(ws: WebSocket) {
    let ok = false;
    const timer = setTimeout(() => ws.close(4401, 'hello expected'), opts.helloTimeoutMs ?? 5000);
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      clearTimeout(timer);
      authed.delete(ws);
    });
    ws.on('message', async (data, isBinary) => {
      let frame: WsClientFrame;
      try {
        if (isBinary) throw new Error('binary');
        frame = JSON.parse(data.toString()) as WsClientFrame;
        if (typeof frame !== 'object' || frame === null) throw new Error('not an object');
      } catch {
        ws.close(4400, 'malformed frame');
        return;
      }
      if (!ok) {
        const given =
          frame.type === 'hello' && typeof frame.secret === 'string' ? Buffer.from(frame.secret) : Buffer.alloc(0);
        if (given.length !== secret.length || !timingSafeEqual(given, secret)) {
          refuse('wrong or missing launch secret');
          ws.close(4401, 'unauthorized');
          return;
        }
        ok = true;
        clearTimeout(timer);
        authed.add(ws);
        send(ws, { type: 'welcome', version: CONTRACT_VERSION });
        return;
      }
      if (frame.type !== 'command' || typeof frame.id !== 'number') {
        ws.close(4400, 'malformed frame');
        return;
      }
      const r = await opts.api
        .handle(frame.cmd, frame.req, { transport: 'ws' })
        .catch(() => ({ ok: false as const, error: { code: 'internal' as const, message: 'internal error' } }));
      send(
        ws,
        r.ok
          ? { type: 'result', id: frame.id, ok: true, result: r.result }
          : { type: 'result', id: frame.id, ok: false, error: r.error },
      );
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/`;

  return {
    url,
    port,
    launchUrl: `${url}#k=${secret.toString()}`,
    clients: () => authed.size,
    async close() {
      unsubscribe();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
