// A round-robin TCP load balancer: the one public address in front of several session-server
// instances, as a hospital's reverse proxy would be. Each new connection goes to the next backend.
import net from 'node:net';

export interface LoadBalancer {
  port: number;
  setBackends(ports: number[]): void;
  /** Connections per backend port, to show both instances served traffic. */
  counts: Map<number, number>;
  close(): Promise<void>;
}

export async function startLoadBalancer(): Promise<LoadBalancer> {
  let backends: number[] = [];
  let next = 0;
  const counts = new Map<number, number>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (!backends.length) return client.destroy();
    const port = backends[next++ % backends.length]!;
    counts.set(port, (counts.get(port) ?? 0) + 1);
    const up = net.connect(port, '127.0.0.1');
    sockets.add(up);
    up.on('close', () => sockets.delete(up));
    client.pipe(up).pipe(client);
    const kill = () => {
      client.destroy();
      up.destroy();
    };
    client.on('error', kill);
    up.on('error', kill);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    setBackends: (p) => {
      backends = p;
    },
    counts,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
