// A TCP port free on loopback now (the OS picks it), for a service that must be told its port before it
// starts (a PostgreSQL cluster, PgBouncer, the instances behind a balancer).
import net from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
