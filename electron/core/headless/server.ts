// Headless mode transport: serves the built UI and carries the contract over a loopback WebSocket.
// Only 127.0.0.1; a per-launch secret (given to the browser in the URL fragment, never sent in a request
// line, never logged by us) must open every socket; Host and Origin are checked against DNS rebinding
// and cross-site pages. Development and test use only: never reachable in packaged builds.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { WS_PATH } from '../../../shared/contract';
import type { AgentApi } from '../api/types';
import { RefusalAudit } from '../audit/audit';
import type { AuditSink } from '../audit/audit';
import { endBroken, requestPath, singleHost } from '../util/http';
import { staticUi } from './static-ui';
import { acceptClient, send } from './ws-contract';

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

const MAX_FRAME = 16 * 1024;

export async function startHeadlessServer(opts: HeadlessServerOptions): Promise<HeadlessServer> {
  const secret = Buffer.from(opts.secret ?? randomBytes(24).toString('base64url'));
  let port = 0;
  const allowedHosts = () => new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  const allowedOrigins = () => new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);

  const refusals = new RefusalAudit(opts.audit);
  const refuse = (reason: string) =>
    refusals.record('headless websocket', { action: 'headless.refused', outcome: 'failure', reason });

  const serve = staticUi(path.resolve(opts.uiDir), allowedHosts);
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

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME });
  const authed = new Set<WebSocket>();
  const client = { api: opts.api, secret, helloTimeoutMs: opts.helloTimeoutMs ?? 5000, authed, refuse };
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
    wss.handleUpgrade(req, socket, head, (ws) => acceptClient(ws, client));
  });
  const unsubscribe = opts.api.subscribe((e) => {
    for (const ws of authed) send(ws, { type: 'event', event: e.event, payload: e.payload });
  });

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
