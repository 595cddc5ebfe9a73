// Every local listener of the agent in one process, as the hostile-input tests and the fuzzers attack
// them: the headless UI server (HTTP + WebSocket) on a demo agent, the DPI broker's loopback HTTP
// endpoint and local socket, and the demo control socket. The broker serves an open session, so a
// wrong accept shows as a token handed out. Prints one JSON line with the addresses, then answers
// `stats` on stdin with what was handed out and how big the audit file is; exits when stdin ends.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { createAgent } from '../../electron/core/agent';
import { AuditLog } from '../../electron/core/audit/audit';
import { sha256Hex, LocalEndpoint } from '../../electron/core/broker/broker';
import { HttpEndpoint } from '../../electron/core/broker/http-endpoint';
import { startControlSocket } from '../../electron/core/demo/control-socket';
import { startHeadlessServer } from '../../electron/core/headless/server';
import { peerCredentials } from '../../native/peercred';
import { openSessionBroker } from '../../testbed/open-session-broker';

export const HOST_SECRETS = {
  headless: 'headless-launch-secret',
  brokerHttp: 'labo-application-secret',
};
export const HOST_AUDIENCES = { socket: 'https://dpi.test/api', http: 'https://labo.test/api' };

export interface HostAddresses {
  headlessPort: number;
  brokerHttp: string;
  brokerSocket: string;
  demoSocket: string;
  /** The executable registered for the broker socket (this Node). */
  registeredExecutable: string;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-host-'));
  const uiDir = path.join(dir, 'ui');
  fs.mkdirSync(uiDir);
  fs.writeFileSync(path.join(uiDir, 'index.html'), '<!doctype html><title>Sillage</title>');
  const auditFile = path.join(dir, 'audit.jsonl');
  const audit = new AuditLog({ file: auditFile });
  const agent = await createAgent({ mode: 'headless', demo: true, inactivityMs: 0, tapDebounceMs: 0, audit });
  const headless = await startHeadlessServer({ api: agent.api, audit, uiDir, secret: HOST_SECRETS.headless });
  const control = await startControlSocket(agent.api, path.join(dir, 'demo', 'demo.sock'));

  const registeredExecutable = fs.realpathSync(process.execPath);
  const { broker, handedOut } = openSessionBroker({
    audit,
    apps: [
      { id: 'dpi', name: 'DPI', executable: registeredExecutable, audiences: [HOST_AUDIENCES.socket] },
      {
        id: 'labo',
        name: 'Laboratoire',
        secretSha256: sha256Hex(HOST_SECRETS.brokerHttp),
        audiences: [HOST_AUDIENCES.http],
      },
    ],
    dmp: { urlTemplate: null, open: async () => {} },
  });
  const http = new HttpEndpoint(broker);
  const brokerHttp = await http.listen(0);
  const local = new LocalEndpoint({ broker, path: path.join(dir, 'run', 'broker.sock'), identify: peerCredentials });
  const brokerSocket = await local.listen();

  const addresses: HostAddresses = {
    headlessPort: headless.port,
    brokerHttp,
    brokerSocket,
    demoSocket: control.path,
    registeredExecutable,
  };
  process.stdout.write(JSON.stringify({ ready: addresses }) + '\n');
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (l) => {
    if (l.trim() === 'stats')
      process.stdout.write(
        JSON.stringify({
          stats: {
            handedOut,
            auditBytes: fs.statSync(auditFile).size,
            sessionKind: agent.getState().kind,
          },
        }) + '\n',
      );
  });
  rl.on('close', () => {
    void (async () => {
      await Promise.all([headless.close(), control.close(), http.close(), local.close()]);
      await agent.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    })();
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname))
  void main().catch((e: unknown) => {
    process.stderr.write(`agent host failed: ${(e as Error).stack}\n`);
    process.exit(1);
  });
