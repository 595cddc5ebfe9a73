// AgentClient implementations for tests: in-process (the AgentApi itself) and over the headless WebSocket.
import WebSocket from 'ws';
import type { AgentClient, AnyEvent, CommandName, CommandReq, CommandRes, WsServerFrame } from '../../shared/contract';
import { CONTRACT_VERSION } from '../../shared/contract';
import type { AgentApi } from '../../electron/core/api/types';
import { ContractError } from '../../shared/errors';

/** The headless server closed the socket before its welcome (wrong secret, no hello): its close code. */
export class SocketClosed extends Error {
  constructor(
    readonly code: number,
    reason: string,
  ) {
    super(reason);
  }
}

export function inprocClient(api: AgentApi): AgentClient & { close(): void } {
  return {
    async invoke<K extends CommandName>(cmd: K, req: CommandReq<K>): Promise<CommandRes<K>> {
      const r = await api.handle(cmd, req, { transport: 'inproc' });
      if (!r.ok) throw new ContractError(r.error.code, r.error.message);
      return r.result as CommandRes<K>;
    },
    onEvent: (l) => api.subscribe(l),
    close() {},
  };
}

export async function wsClient(
  url: string,
  secret: string,
  origin?: string,
): Promise<AgentClient & { close(): void; raw: WebSocket }> {
  const ws = new WebSocket(url, origin ? { origin } : {});
  const listeners = new Set<(e: AnyEvent) => void>();
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.once('close', (code, reason) => reject(new SocketClosed(code, reason.toString())));
    ws.once('open', () => ws.send(JSON.stringify({ type: 'hello', secret, version: CONTRACT_VERSION })));
    ws.once('message', (d) => {
      const f = JSON.parse(d.toString()) as WsServerFrame;
      if (f.type === 'welcome') resolve();
      else reject(new Error('no welcome'));
    });
  });
  ws.removeAllListeners('close');
  ws.removeAllListeners('error');
  ws.on('error', () => {});
  ws.on('message', (d) => {
    const f = JSON.parse(d.toString()) as WsServerFrame;
    if (f.type === 'event') for (const l of listeners) l({ event: f.event, payload: f.payload } as AnyEvent);
    if (f.type === 'result') {
      const p = pending.get(f.id);
      pending.delete(f.id);
      if (f.ok) p?.resolve(f.result);
      else p?.reject(new ContractError(f.error.code, f.error.message));
    }
  });
  return {
    raw: ws,
    invoke<K extends CommandName>(cmd: K, req: CommandReq<K>): Promise<CommandRes<K>> {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        ws.send(JSON.stringify({ type: 'command', id, cmd, req }));
      });
    },
    onEvent(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    close: () => ws.close(),
  };
}

/** Resolve with the first event matching `pred`. */
export function nextEvent(client: AgentClient, pred: (e: AnyEvent) => boolean, timeoutMs = 3000): Promise<AnyEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (off(), reject(new Error('event timeout'))), timeoutMs);
    const off = client.onEvent((e) => {
      if (pred(e)) {
        clearTimeout(timer);
        off();
        resolve(e);
      }
    });
  });
}
