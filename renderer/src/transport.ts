// The UI's only way to the agent: an AgentClient over the Electron preload bridge when present, or over
// the headless loopback WebSocket (per-launch secret from the URL fragment) otherwise.
import { CONTRACT_VERSION, WS_PATH } from '../../shared/contract';
import type {
  AgentClient,
  AnyEvent,
  CommandName,
  CommandReq,
  CommandRes,
  PreloadBridge,
  WsServerFrame,
} from '../../shared/contract';
import { ContractError, isAgentErrorCode } from '../../shared/errors';

/**
 * A command's refusal, whichever transport carried it, as the error the screens catch: a code outside the
 * catalog (an agent of another version) is `internal`, never a sentence made up from it.
 */
export function refusalOf(error: unknown): ContractError {
  const e = (error ?? {}) as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : 'refused';
  return new ContractError(isAgentErrorCode(e.code) ? e.code : 'internal', message);
}

declare global {
  interface Window {
    sillage?: PreloadBridge;
  }
}

export type ConnectionState = 'connecting' | 'open' | 'closed' | 'unauthorized';

export interface UiClient extends AgentClient {
  onConnection(listener: (s: ConnectionState) => void): () => void;
}

/** The client over the Electron preload's bridge (window.sillage). */
export function bridgeClient(bridge: PreloadBridge): UiClient {
  return {
    async invoke<K extends CommandName>(cmd: K, req: CommandReq<K>) {
      const r = (await bridge.invoke(cmd, req)) as { ok?: boolean; result?: unknown; error?: unknown } | null;
      if (!r?.ok) throw refusalOf(r?.error);
      return r.result as CommandRes<K>;
    },
    onEvent: (l) => bridge.onEvent((event, payload) => l({ event, payload } as AnyEvent)),
    onConnection(l) {
      l('open');
      return () => {};
    },
  };
}

const SECRET_KEY = 'sillage.k';

/** Take the secret from `#k=` once, keep it for reloads of this tab only, and clear the address bar. */
export function readSecret(): string | null {
  const m = /(?:^#|&)k=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(SECRET_KEY, m[1]!);
    history.replaceState(null, '', location.pathname + location.search);
    return m[1]!;
  }
  return sessionStorage.getItem(SECRET_KEY);
}

/** WebSocket client with reconnection; commands made while disconnected fail fast (nothing is queued). */
export function wsClient(url: string, secret: string, WS: typeof WebSocket = WebSocket): UiClient {
  const events = new Set<(e: AnyEvent) => void>();
  const conn = new Set<(s: ConnectionState) => void>();
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let ws: WebSocket | null = null;
  let ready = false;
  let nextId = 1;
  let delay = 250;
  let state: ConnectionState = 'connecting';
  const setState = (s: ConnectionState) => {
    state = s;
    conn.forEach((l) => l(s));
  };

  const connect = () => {
    const sock = new WS(url);
    ws = sock;
    sock.onopen = () => sock.send(JSON.stringify({ type: 'hello', secret, version: CONTRACT_VERSION }));
    sock.onmessage = (m) => {
      const f = JSON.parse(String(m.data)) as WsServerFrame;
      if (f.type === 'welcome') {
        ready = true;
        delay = 250;
        setState('open');
      } else if (f.type === 'event') {
        events.forEach((l) => l({ event: f.event, payload: f.payload } as AnyEvent));
      } else if (f.type === 'result') {
        const p = pending.get(f.id);
        pending.delete(f.id);
        if (f.ok) p?.resolve(f.result);
        else p?.reject(refusalOf(f.error));
      }
    };
    sock.onclose = (ev) => {
      ready = false;
      for (const p of pending.values()) p.reject(new ContractError('agent-unreachable', 'agent connection lost'));
      pending.clear();
      if (ev.code === 4401) return setState('unauthorized');
      setState('closed');
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 4000);
    };
  };
  connect();

  return {
    invoke<K extends CommandName>(cmd: K, req: CommandReq<K>): Promise<CommandRes<K>> {
      if (!ws || !ready) return Promise.reject(new ContractError('agent-unreachable', 'agent not connected'));
      const id = nextId++;
      const sock = ws;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        sock.send(JSON.stringify({ type: 'command', id, cmd, req }));
      });
    },
    onEvent(l) {
      events.add(l);
      return () => events.delete(l);
    },
    onConnection(l) {
      conn.add(l);
      l(state);
      return () => conn.delete(l);
    },
  };
}

export function createClient(): UiClient {
  if (window.sillage) return bridgeClient(window.sillage);
  const secret = readSecret() ?? '';
  return wsClient(`ws://${location.host}${WS_PATH}`, secret);
}
