// Local control channel for the demo CLI: a Unix socket in a 0700 directory (a named pipe on Windows),
// so the OS, not a secret in a file, decides who may drive the demo readers. Demo commands only.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isDemoControlCommand } from '../../../shared/demo-control';
import type { DemoControlAnswer, DemoControlCommand, DemoControlRequest } from '../../../shared/demo-control';
import type { AgentApi } from '../api/types';

export function defaultControlPath(): string {
  if (process.platform === 'win32') return `\\\\.\\pipe\\sillage-demo-${os.userInfo().username}`;
  const base = process.env.XDG_RUNTIME_DIR || os.tmpdir();
  return path.join(base, `sillage-${os.userInfo().uid}`, 'demo.sock');
}

export interface ControlServer {
  path: string;
  close(): Promise<void>;
}

export async function startControlSocket(api: AgentApi, socketPath = defaultControlPath()): Promise<ControlServer> {
  if (process.platform !== 'win32') {
    fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
    fs.chmodSync(path.dirname(socketPath), 0o700);
    if (fs.existsSync(socketPath)) {
      if (await isAlive(socketPath)) throw new Error(`another Sillage demo agent is running (${socketPath})`);
      fs.unlinkSync(socketPath);
    }
  }
  const open = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => sock.destroy());
    const reply = (o: DemoControlAnswer) => void (sock.writable && sock.write(JSON.stringify(o) + '\n'));
    sock.on('data', async (chunk) => {
      buf += chunk;
      if (buf.length > 16 * 1024) return sock.destroy();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: { cmd?: unknown; req?: unknown };
        try {
          msg = JSON.parse(line);
          if (typeof msg !== 'object' || msg === null) throw new Error('not an object');
        } catch {
          reply({ ok: false, error: { code: 'invalid-command', message: 'malformed JSON' } });
          continue;
        }
        reply(
          isDemoControlCommand(msg.cmd)
            ? ((await api.handle(msg.cmd, msg.req, { transport: 'cli' })) as DemoControlAnswer)
            : { ok: false, error: { code: 'not-allowed', message: 'only demo commands over the demo socket' } },
        );
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  if (process.platform !== 'win32') fs.chmodSync(socketPath, 0o600);
  return {
    path: socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A client that never hangs up (half-open) must not keep the agent from stopping.
        for (const sock of open) sock.destroy();
        if (process.platform !== 'win32') fs.rmSync(socketPath, { force: true });
      }),
  };
}

function isAlive(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(p);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** Client side, used by the demo CLI. */
export function sendControl<C extends DemoControlCommand>(
  cmd: C,
  req: DemoControlRequest<C>['req'],
  socketPath = defaultControlPath(),
): Promise<DemoControlAnswer<C>> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let buf = '';
    s.setEncoding('utf8');
    s.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new Error(
          e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
            ? 'no demo agent running: start it with "npm start" or "npm run headless -- --demo"'
            : e.message,
        ),
      ),
    );
    s.on('data', (c) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        s.end();
        resolve(JSON.parse(buf.slice(0, nl)) as DemoControlAnswer<C>);
      }
    });
    s.write(JSON.stringify({ cmd, req } satisfies DemoControlRequest<C>) + '\n');
  });
}
