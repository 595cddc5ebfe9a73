// Local endpoint of the DPI broker: a Unix-domain socket (a named pipe on Windows), newline-delimited
// JSON. The application is identified by what the OS says about the peer process (its executable and
// user), never by what it claims. A pid names a process, and a process may exec another program after
// connecting (connect, fork, let the parent exec the registered binary, talk from the child): so the
// agent first sends a fresh challenge, `{"event":"challenge","nonce"}`, and the client's first line must
// be `{"id", "method":"hello", "params":{"nonce"}}`, written (the kernel says) by the process that
// connected, still alive and still running the registered file it ran at accept.
// The lines, methods and answers: shared/broker-wire.ts.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { PeerIdentity } from '../../../native/peercred';
import { parseBrokerRequest } from '../../../shared/broker-wire';
import type { BrokerHello, BrokerLine, BrokerMethod, BrokerResult } from '../../../shared/broker-wire';
import { BrokerError } from './broker';
import type { BrokerApp, Broker } from './broker';

export interface LocalEndpointOptions {
  broker: Broker;
  /** Socket path (Unix) or pipe name (Windows). */
  path: string;
  /** The OS's view of the peer at accept (native/peercred); throws when it cannot be known (then refused). */
  identify(socket: net.Socket): PeerIdentity;
  /** Only processes of this user may connect (default: the agent's own user). */
  uid?: number;
  /** How long a client has to answer the challenge (default 3 s). */
  challengeTimeoutMs?: number;
}

const MAX_LINE = 64 * 1024;
/** Handshakes waiting for an answer at once (each waits on a thread of its own). */
const MAX_PENDING = 16;

export function defaultSocketPath(): string {
  if (process.platform === 'win32') return `\\\\.\\pipe\\sillage-broker-${os.userInfo().username}`;
  const base = process.env.XDG_RUNTIME_DIR || path.join(os.tmpdir(), `sillage-${process.getuid?.() ?? 'user'}`);
  return path.join(base, 'sillage', 'broker.sock');
}

export class LocalEndpoint {
  private server: net.Server | null = null;
  private sockets = new Set<net.Socket>();
  private pending = 0;

  constructor(private readonly opts: LocalEndpointOptions) {}

  async listen(): Promise<string> {
    const p = this.opts.path;
    if (process.platform !== 'win32') {
      // A private directory: the socket is reachable by this user only, before any peer check.
      fs.mkdirSync(path.dirname(p), { recursive: true, mode: 0o700 });
      fs.chmodSync(path.dirname(p), 0o700);
      fs.rmSync(p, { force: true });
    }
    // Paused: nothing is read from a peer before it answered the challenge (read by the addon, with credentials).
    const server = net.createServer({ pauseOnConnect: true }, (s) => void this.accept(s).catch(() => s.destroy()));
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

  private async accept(socket: net.Socket): Promise<void> {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const send = (o: BrokerLine) => {
      if (!socket.destroyed) socket.write(JSON.stringify(o) + '\n');
    };
    const refuse = (who: string) => {
      const err = this.opts.broker.refuseUnknown('socket', who);
      send({ id: null, error: { code: err.code, message: err.message } });
      socket.end();
    };
    let peer: PeerIdentity;
    let app: BrokerApp | null = null;
    let who: string;
    try {
      peer = this.opts.identify(socket);
    } catch (e) {
      return refuse(`unidentified peer (${(e as Error).message})`);
    }
    try {
      who = `pid ${peer.pid} ${peer.executable ?? '(executable unknown)'}`;
      const uid = this.opts.uid ?? process.getuid?.();
      if (uid === undefined || peer.uid === uid) app = this.opts.broker.byExecutable(peer.executable);
      else who += ` (uid ${peer.uid})`;
      if (!app) return refuse(who);
      if (this.pending >= MAX_PENDING) return refuse(`${who}: too many connections waiting`);
      const nonce = randomBytes(18).toString('base64url');
      send({ event: 'challenge', nonce });
      this.pending++;
      let first: Buffer;
      try {
        first = await peer.confirm({ timeoutMs: this.opts.challengeTimeoutMs ?? 3000, maxBytes: MAX_LINE });
      } catch (e) {
        return refuse(`${who}: ${(e as Error).message}`);
      } finally {
        this.pending--;
      }
      const nl = first.indexOf(0x0a);
      const answer = parseBrokerRequest(first.subarray(0, nl).toString('utf8'));
      if (answer?.method !== 'hello' || answer.params.nonce !== nonce) return refuse(`${who}: challenge not answered`);
      this.serve(socket, app, send, answer.id, first.subarray(nl + 1));
    } finally {
      peer.release();
    }
  }

  private serve(
    socket: net.Socket,
    app: BrokerApp,
    send: (o: BrokerLine) => void,
    helloId: number | string | null,
    rest: Buffer,
  ) {
    send({ id: helloId, result: hello(app) });
    let unsubscribe: (() => void) | null = null;
    socket.on('close', () => unsubscribe?.());
    const decoder = new StringDecoder('utf8');
    let buf = '';
    const take = (chunk: Buffer) => {
      buf += decoder.write(chunk);
      if (buf.length > MAX_LINE && !buf.includes('\n')) {
        send({ id: null, error: { code: 'bad-request', message: 'message trop long' } });
        socket.destroy();
        return;
      }
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.trim()) void this.handle(app, line, send, (u) => (unsubscribe = u));
      }
    };
    take(rest);
    socket.on('data', take);
    socket.resume();
  }

  private async handle(
    app: BrokerApp,
    line: string,
    send: (o: BrokerLine) => void,
    setUnsub: (u: () => void) => void,
  ): Promise<void> {
    const msg = parseBrokerRequest(line);
    if (!msg) return send({ id: null, error: { code: 'bad-request', message: 'objet JSON attendu' } });
    const { id, params } = msg;
    const b = this.opts.broker;
    // One handler per method of the wire (shared/broker-wire.ts): a method or answer renamed there fails here.
    const handlers: { [M in BrokerMethod]: () => BrokerResult<M> | Promise<BrokerResult<M>> } = {
      hello: () => hello(app),
      context: () => b.context(),
      subscribe: () => {
        setUnsub(b.subscribe(app, (e) => send({ event: 'context', data: e })));
        return b.context();
      },
      getToken: () => b.getToken(app, params.audience),
      setPatient: () => b.setPatient(app, params.patient as never),
      openDmp: () => b.openDmp(app, params.patient as never),
    };
    try {
      if (!msg.method) throw new BrokerError('bad-request', `méthode inconnue : ${String(msg.sent)}`);
      send({ id, result: await handlers[msg.method]() });
    } catch (e) {
      const err = e instanceof BrokerError ? e : new BrokerError('bad-request');
      send({ id, error: { code: err.code, message: err.message } });
    }
  }
}

const hello = (app: BrokerApp): BrokerHello => ({ app: app.id, name: app.name, audiences: app.audiences });
