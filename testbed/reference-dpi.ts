// Reference DPI: what a DPI editor does with Sillage, in one small program.
//  - connects to the agent's broker socket (the OS tells the agent which executable we are);
//  - subscribes to the user context and switches or hides its user on each event;
//  - asks the broker for an access token for its own audience, and — as its back end would — asks the
//    session server (its OIDC provider) who the token is for, by introspection with its own
//    relying-party credentials;
//  - opens the DMP for a patient.
// Run as a process: `node --import tsx testbed/reference-dpi.ts [--socket PATH] --issuer URL
// --client-id ID --audience AUD` with the client secret in REF_DPI_CLIENT_SECRET (the socket defaults
// to the agent's, as a DPI finds it). It reads commands on stdin (`token`, `dmp <ins> <oid>`, `quit`)
// and prints one JSON line per result or event.
import net from 'node:net';
import readline from 'node:readline';
import * as oidc from 'openid-client';
import type {
  BrokerErrorBody,
  BrokerLine,
  BrokerMethod,
  BrokerParams,
  BrokerResult,
  ContextEvent,
} from '../shared/broker-wire';
import { defaultSocketPath } from '../electron/core/broker/broker';

export class BrokerClient {
  private socket: net.Socket;
  private nextId = 1;
  private pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error & { code?: string }) => void }
  >();
  private ended: Error | null = null;
  /** The agent's challenge, answered by our first line (hello). */
  private nonce: string | null = null;
  private greeted: () => void = () => {};
  onEvent: (e: ContextEvent) => void = () => {};
  private refusedWith: BrokerErrorBody | null = null;
  private refusedListener: (e: BrokerErrorBody) => void = () => {};
  /** Told of the agent's refusal; a listener set after it came (it may come while connecting) hears it at once. */
  get onRefused(): (e: BrokerErrorBody) => void {
    return this.refusedListener;
  }
  set onRefused(l: (e: BrokerErrorBody) => void) {
    this.refusedListener = l;
    if (this.refusedWith) l(this.refusedWith);
  }

  private constructor(socket: net.Socket) {
    this.socket = socket;
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, i)) as BrokerLine;
        buf = buf.slice(i + 1);
        if ('event' in msg) {
          if (msg.event === 'challenge') {
            this.nonce = msg.nonce;
            this.greeted();
          } else this.onEvent(msg.data);
        } else if ('error' in msg && msg.id === null) {
          this.refusedWith = msg.error;
          this.refusedListener(msg.error);
          this.greeted();
        } else if (typeof msg.id === 'number') {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if ('error' in msg) p?.reject(Object.assign(new Error(msg.error.message), { code: msg.error.code }));
          else p?.resolve(msg.result);
        }
      }
    });
    socket.on('close', () => {
      this.ended = new Error('broker connection closed');
      for (const p of this.pending.values()) p.reject(Object.assign(this.ended, { code: 'closed' }));
      this.pending.clear();
    });
  }

  /**
   * Connected and greeted: the agent's first line is a challenge, which our first line (hello) answers
   * (the agent checks with the kernel that this very process wrote it). A refusal is told through onRefused.
   */
  static connect(path: string, onRefused?: BrokerClient['onRefused']): Promise<BrokerClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path, () => {
        const c = new BrokerClient(s);
        if (onRefused) c.onRefused = onRefused;
        c.greeted = () => {
          if (c.nonce === null) return resolve(c);
          c.call('hello', { nonce: c.nonce }).then(
            () => resolve(c),
            () => resolve(c),
          );
        };
        s.once('close', () => resolve(c));
      });
      s.once('error', reject);
    });
  }

  call<M extends BrokerMethod>(method: M, params?: BrokerParams<M>): Promise<BrokerResult<M>> {
    if (this.ended) return Promise.reject(Object.assign(this.ended, { code: 'closed' }));
    const id = this.nextId++;
    return new Promise<BrokerResult<M>>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(JSON.stringify({ id, method, params }) + '\n');
    });
  }

  close(): void {
    this.socket.end();
  }
}

function arg(name: string): string {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (!v) throw new Error(`missing ${name}`);
  return v;
}

async function main(): Promise<void> {
  const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
  const audience = arg('--audience');
  const issuer = new URL(arg('--issuer'));
  const rp = await oidc.discovery(
    issuer,
    arg('--client-id'),
    undefined,
    oidc.ClientSecretBasic(process.env.REF_DPI_CLIENT_SECRET ?? ''),
    {
      execute: issuer.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
    },
  );
  const broker = await BrokerClient.connect(
    process.argv.includes('--socket') ? arg('--socket') : defaultSocketPath(),
    (e) => out({ kind: 'refused', ...e }),
  );
  let user: string | null = null;
  broker.onEvent = (e) => {
    // Switch or hide the DPI's user as the workstation does.
    user = e.user?.idNat ?? null;
    out({ kind: 'event', type: e.type, user, reason: e.reason ?? null });
  };
  const ready = await broker.call('hello').catch((e: Error & { code?: string }) => ({ error: e.code }));
  out({ kind: 'ready', ...ready });
  // The answer is the context of the moment (a DPI started after the login shows that user), then events.
  const current = await broker.call('subscribe').catch(() => null);
  if (current) broker.onEvent(current);
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const [cmd, ...args] = line.trim().split(/\s+/);
    try {
      if (cmd === 'token') {
        const t = await broker.call('getToken', { audience });
        // The DPI back end checks the token with the session server before trusting it.
        const intro = await oidc.tokenIntrospection(rp, t.access_token);
        out({
          kind: 'token',
          active: intro.active,
          idnat: intro.idnat ?? null,
          aud: intro.aud ?? null,
          acr: intro.acr ?? null,
          shownUser: user,
          tokenTail: t.access_token.slice(-8),
        });
      } else if (cmd === 'dmp') {
        const r = await broker.call('openDmp', { patient: { ins: args[0] ?? '', oid: args[1] ?? '' } });
        out({ kind: 'dmp', url: r.url });
      } else if (cmd === 'quit') {
        break;
      }
    } catch (e) {
      out({
        kind: 'error',
        command: cmd,
        code: (e as { code?: string }).code ?? 'unexpected',
        message: (e as Error).message,
      });
    }
  }
  broker.close();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // `quit` ends the program, though its standard input (a terminal) stays open.
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stdout.write(JSON.stringify({ kind: 'fatal', message: (e as Error).message }) + '\n');
      process.exit(1);
    },
  );
}
