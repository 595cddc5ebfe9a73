// The HTTP listener. The issuer must be known before the provider exists: it binds first (the OS may
// choose the port) and, until the provider is ready (migrations, keys), answers 503 rather than leave
// requests unanswered: probes and early agents get a clear "not ready" instead of a hung connection.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** How long a stopping instance waits for the requests under way before cutting them. */
const DRAIN_MS = 5000;

export interface Listener {
  port: number;
  /** Set once close() began: the requests under way get their answer on connections that then close. */
  readonly closing: boolean;
  /** Hands every request from now on to `handler`. */
  serve(handler: http.RequestListener): void;
  close(): Promise<void>;
}

export async function listen(port: number, host: string): Promise<Listener> {
  const starting = (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"status":"starting"}');
  };
  const server = http.createServer(starting);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  let closing = false;
  return {
    port: (server.address() as AddressInfo).port,
    get closing() {
      return closing;
    },
    serve(handler) {
      server.off('request', starting);
      server.on('request', handler);
      // Agents reuse their connection from one tap to the next (a tap is two requests): keep idle ones a
      // minute, longer than the agents' own idle timeout learnt from this header.
      server.keepAliveTimeout = 65_000;
    },
    // No new connection; idle ones close now, requests under way are answered (a rolling restart fails
    // none of them), and whatever is still open after a few seconds is cut.
    async close() {
      closing = true;
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), DRAIN_MS)));
      if ((await Promise.race([closed, late])) === 'late') server.closeAllConnections();
      clearTimeout(timer);
      await closed;
    },
  };
}
