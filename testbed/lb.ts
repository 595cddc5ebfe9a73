// A round-robin TCP load balancer: the one public address in front of several session-server
// instances, as a hospital's reverse proxy would be. Each new connection goes to the next backend; a
// backend that refuses the connection is skipped for a second and the connection goes to the next one
// (nothing was sent yet, so this retry is always safe). Once bytes flowed, a dead backend cuts its
// clients: they send again themselves (the agent does, see electron/core/oidc/retry.ts).
import net from 'node:net';

export interface LoadBalancer {
  port: number;
  setBackends(ports: number[]): void;
  /** Connections per backend port, to show both instances served traffic. */
  counts: Map<number, number>;
  /** Connections moved to another backend because theirs refused them. */
  retried: number;
  close(): Promise<void>;
}

const DOWN_MS = 1000;

export async function startLoadBalancer(): Promise<LoadBalancer> {
  let backends: number[] = [];
  let next = 0;
  const counts = new Map<number, number>();
  const downUntil = new Map<number, number>();
  const sockets = new Set<net.Socket>();
  const lb = { retried: 0 };
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };

  /** The next backend not marked down, else the next one at all (it may be back). */
  const pick = (tried: Set<number>): number | undefined => {
    const candidates = backends.filter((p) => !tried.has(p));
    if (!candidates.length) return undefined;
    const now = Date.now();
    for (let k = 0; k < backends.length; k++) {
      const p = backends[next++ % backends.length]!;
      if (!tried.has(p) && (downUntil.get(p) ?? 0) <= now) return p;
    }
    return candidates[0];
  };

  const server = net.createServer((client) => {
    track(client);
    client.pause();
    client.on('error', () => client.destroy());
    const tried = new Set<number>();
    const connect = () => {
      const port = pick(tried);
      if (port === undefined) return client.destroy();
      tried.add(port);
      const up = net.connect(port, '127.0.0.1');
      track(up);
      up.once('connect', () => {
        counts.set(port, (counts.get(port) ?? 0) + 1);
        up.removeAllListeners('error');
        const kill = () => {
          client.destroy();
          up.destroy();
        };
        up.on('error', kill);
        client.on('error', kill);
        up.on('close', () => client.destroy());
        client.on('close', () => up.destroy());
        client.pipe(up).pipe(client);
        client.resume();
      });
      up.once('error', () => {
        up.destroy();
        downUntil.set(port, Date.now() + DOWN_MS);
        if (client.destroyed) return;
        lb.retried++;
        connect();
      });
    };
    connect();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    setBackends: (p) => {
      backends = p;
    },
    counts,
    get retried() {
      return lb.retried;
    },
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
