// Test-side handle on a PivCard running in its own process (see cards/piv-card-process.ts).
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

const here = path.dirname(new URL(import.meta.url).pathname);

export interface PivStatus {
  triesLeft: number;
  blocked: boolean;
  signCount: number;
  /** VERIFY commands that carried a PIN (a blocked card must never receive one). */
  verifyWithPin: number;
  inserted: boolean;
}

export interface PivProcess {
  send(cmd: 'insert', port: number): Promise<PivStatus>;
  send(cmd: 'remove' | 'pull-on-sign' | 'status'): Promise<PivStatus>;
  stop(): Promise<void>;
}

export function startPivProcess(certFile: string, keyFile: string, atr: Buffer): PivProcess {
  const tsx = path.join(here, '..', 'node_modules', '.bin', 'tsx');
  const child = spawn(tsx, [path.join(here, 'cards', 'piv-card-process.ts'), certFile, keyFile, atr.toString('hex')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: child.stdout! });
  const waiting: ((s: PivStatus) => void)[] = [];
  lines.on('line', (l) => waiting.shift()?.(JSON.parse(l) as PivStatus));
  return {
    send(cmd: string, port?: number) {
      return new Promise<PivStatus>((resolve) => {
        waiting.push(resolve);
        child.stdin!.write(JSON.stringify({ cmd, port }) + '\n');
      });
    },
    async stop() {
      child.stdin!.end();
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    },
  } as PivProcess;
}
