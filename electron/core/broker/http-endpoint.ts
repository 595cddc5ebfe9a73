// Loopback HTTP endpoint of the DPI broker, for applications that can only speak HTTP. Each is
// identified by its per-application secret from policy (Authorization: Bearer). Browsers are kept
// out: a request with an Origin header, or a Host that is not this loopback address (DNS
// rebinding), is refused before anything else.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { endBroken, requestPath, singleHost } from '../util/http';
import { BrokerError } from './broker';
import type { BrokerApp, BrokerErrorCode, Broker } from './broker';

const STATUS: Partial<Record<BrokerErrorCode, number>> = {
  'not-registered': 401,
  'audience-not-allowed': 403,
  'dmp-not-allowed': 403,
  locked: 409,
  'mfa-expired': 409,
  'no-server-session': 409,
  'server-unreachable': 503,
  'exchange-refused': 502,
  'dmp-not-configured': 501,
  'no-patient': 409,
};

export class HttpEndpoint {
  private server: http.Server | null = null;
  private port = 0;

  constructor(private readonly broker: Broker) {}

  async listen(port = 0): Promise<string> {
    const server = http.createServer((req, res) =>
      // Whatever a request does, the agent answers and lives.
      this.handle(req, res).catch(() => endBroken(res)),
    );
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    const fail = (e: unknown) => {
      const err = e instanceof BrokerError ? e : new BrokerError('bad-request');
      json(STATUS[err.code] ?? 400, { error: { code: err.code, message: err.message } });
    };
    if (req.headers.origin !== undefined || singleHost(req) !== `127.0.0.1:${this.port}`)
      return fail(new BrokerError('bad-request', 'origine refusée'));
    // Two Authorization headers are two claims: none is taken (Node would silently keep the first).
    if ((req.headersDistinct.authorization?.length ?? 0) > 1)
      return fail(new BrokerError('bad-request', 'en-tête Authorization en double'));
    const auth = req.headers.authorization ?? '';
    const secret = auth.startsWith('Bearer ') ? auth.slice(7) : null;
    const app = this.broker.bySecret(secret);
    if (!app)
      return fail(
        this.broker.refuseUnknown('http', secret ? 'HTTP client with a wrong secret' : 'HTTP client without a secret'),
      );
    const pathname = requestPath(req.url);
    try {
      if (req.method === 'GET' && pathname === '/v1/context') return json(200, this.broker.context());
      if (req.method === 'GET' && pathname === '/v1/events') return this.events(app, req, res);
      if (req.method === 'POST' && pathname === '/v1/token')
        return json(200, await this.broker.getToken(app, (await body(req)).audience));
      if (req.method === 'POST' && pathname === '/v1/patient')
        return json(200, { patient: this.broker.setPatient(app, (await body(req)).patient as never) });
      if (req.method === 'POST' && pathname === '/v1/dmp')
        return json(200, await this.broker.openDmp(app, (await body(req)).patient as never));
      json(404, { error: { code: 'bad-request', message: 'chemin inconnu' } });
    } catch (e) {
      fail(e);
    }
  }

  /** Server-sent events: the current context first, then every change. */
  private events(app: BrokerApp, req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    const send = (e: unknown) => void (res.writable && res.write(`event: context\ndata: ${JSON.stringify(e)}\n\n`));
    send(this.broker.context());
    const off = this.broker.subscribe(app, send);
    req.on('close', off);
    res.on('error', off);
  }
}

async function body(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  let s = '';
  for await (const chunk of req) {
    s += chunk;
    if (s.length > 64 * 1024) throw new BrokerError('bad-request', 'corps trop long');
  }
  try {
    const v = JSON.parse(s || '{}') as unknown;
    if (v && typeof v === 'object') return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new BrokerError('bad-request', 'JSON invalide');
}
