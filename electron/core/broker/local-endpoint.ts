// Local endpoint of the DPI broker: a Unix-domain socket (a named pipe on Windows), newline-delimited
// JSON. The application is identified by what the OS says about the peer process (its executable and
// user), never by what it claims. Requests: {"id", "method", "params"}; answers {"id", "result"} or
// {"id", "error": {"code", "message"}}; context events {"event": "context", "data"} once subscribed.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { PeerCredentials } from '../../../native/peercred';
import { BrokerError } from './broker';
import type { BrokerApp, Broker } from './broker';

export interface LocalEndpointOptions {
  broker: Broker;
  /** Socket path (Unix) or pipe name (Windows). */
  path: string;
  /** The OS's view of the peer; throws when it cannot be known (then the peer is refused). */
  identify(socket: net.Socket): PeerCredentials;
  /** Only processes of this user may connect (default: the agent's own user). */
  uid?: number;
}

const MAX_LINE = 64 * 1024;

export function defaultSocketPath(): string {
  if (process.platform === 'win32') return `\\\\.\\pipe\\sillage-broker-${os.userInfo().username}`;
  const base = process.env.XDG_RUNTIME_DIR || path.join(os.tmpdir(), `sillage-${process.getuid?.() ?? 'user'}`);
  return path.join(base, 'sillage', 'broker.sock');
}

export class LocalEndpoint {
  private server: net.Server | null = null;
  private sockets = new Set<net.Socket>();

  constructor(private readonly opts: LocalEndpointOptions) {}

  async listen(): Promise<string> {
    const p = this.opts.path;
    if (process.platform !== 'win32') {
      // A private directory: the socket is reachable by this user only, before any peer check.
      fs.mkdirSync(path.dirname(p), { recursive: true, mode: 0o700 });
      fs.chmodSync(path.dirname(p), 0o700);
      fs.rmSync(p, { force: true });
    }
    const server = net.createServer((s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, () => resolve());
    });
    if (process.platform !== 'win32') fs.chmodSync(p, 0o600);
    return p;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    if (process.platform !== 'win32') fs.rmSync(this.opts.path, { force: true });
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const send = (o: unknown) => {
      if (!socket.destroyed) socket.write(JSON.stringify(o) + '\n');
    };
    let app: BrokerApp | null = null;
    let who = 'unknown process';
    try {
      const peer = this.opts.identify(socket);
      who = `pid ${peer.pid} ${peer.executable ?? '(executable unknown)'}`;
      const uid = this.opts.uid ?? process.getuid?.();
      if (uid === undefined || peer.uid === uid) app = this.opts.broker.byExecutable(peer.executable);
      else who += ` (uid ${peer.uid})`;
    } catch (e) {
      who = `unidentified peer (${(e as Error).message})`;
    }
    if (!app) {
      const err = this.opts.broker.refuseUnknown(who);
      send({ id: null, error: { code: err.code, message: err.message } });
      socket.end();
      return;
    }
    const registered = app;
    let unsubscribe: (() => void) | null = null;
    socket.on('close', () => unsubscribe?.());
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE && !buf.includes('\n')) {
        send({ id: null, error: { code: 'bad-request', message: 'message trop long' } });
        socket.destroy();
        return;
      }
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.trim()) void this.handle(registered, line, send, (u) => (unsubscribe = u));
      }
    });
  }

  private async handle(
    app: BrokerApp,
    line: string,
    send: (o: unknown) => void,
    setUnsub: (u: () => void) => void,
  ): Promise<void> {
    let msg: { id?: unknown; method?: unknown; params?: Record<string, unknown> };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return send({ id: null, error: { code: 'bad-request', message: 'JSON invalide' } });
    }
    const id = typeof msg.id === 'number' || typeof msg.id === 'string' ? msg.id : null;
    try {
      const b = this.opts.broker;
      switch (msg.method) {
        case 'hello':
          return send({ id, result: { app: app.id, name: app.name, audiences: app.audiences } });
        case 'context':
          return send({ id, result: b.context() });
        case 'subscribe': {
          setUnsub(b.subscribe(app, (e) => send({ event: 'context', data: e })));
          return send({ id, result: b.context() });
        }
        case 'getToken':
          return send({ id, result: await b.getToken(app, msg.params?.audience) });
        case 'setPatient':
          return send({ id, result: b.setPatient(app, msg.params?.patient as never) });
        case 'openDmp':
          return send({ id, result: await b.openDmp(app, msg.params?.patient as never) });
        default:
          throw new BrokerError('bad-request', `méthode inconnue : ${String(msg.method)}`);
      }
    } catch (e) {
      const err = e instanceof BrokerError ? e : new BrokerError('bad-request');
      send({ id, error: { code: err.code, message: err.message } });
    }
  }
}
