// The contract over one headless WebSocket: the first frame must be the hello carrying the launch secret
// (else the socket closes, audited), then commands, each answered by its id; events go to opened sockets.
import { timingSafeEqual } from 'node:crypto';
import type { WebSocket } from 'ws';
import { CONTRACT_VERSION } from '../../../shared/contract';
import type { WsClientFrame, WsServerFrame } from '../../../shared/contract';
import type { AgentApi } from '../api/types';

export const send = (ws: WebSocket, frame: WsServerFrame) => {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
};

export interface ClientDeps {
  api: AgentApi;
  secret: Buffer;
  helloTimeoutMs: number;
  /** The sockets that gave the secret: they get the events. */
  authed: Set<WebSocket>;
  refuse(reason: string): void;
}

/** A frame as JSON text, or null when it is none (binary, unparsable, not an object). */
function frameOf(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): WsClientFrame | null {
  try {
    if (isBinary) return null;
    const frame = JSON.parse(data.toString()) as WsClientFrame;
    return typeof frame === 'object' && frame !== null ? frame : null;
  } catch {
    return null;
  }
}

export function acceptClient(ws: WebSocket, deps: ClientDeps): void {
  const { api, secret, authed } = deps;
  let ok = false;
  const timer = setTimeout(() => ws.close(4401, 'hello expected'), deps.helloTimeoutMs);
  ws.on('error', () => ws.terminate());
  ws.on('close', () => {
    clearTimeout(timer);
    authed.delete(ws);
  });
  ws.on('message', async (data, isBinary) => {
    const frame = frameOf(data, isBinary);
    if (!frame) {
      ws.close(4400, 'malformed frame');
      return;
    }
    if (!ok) {
      const given =
        frame.type === 'hello' && typeof frame.secret === 'string' ? Buffer.from(frame.secret) : Buffer.alloc(0);
      if (given.length !== secret.length || !timingSafeEqual(given, secret)) {
        deps.refuse('wrong or missing launch secret');
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
    const r = await api
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
