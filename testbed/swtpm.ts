// A private software TPM 2.0 for tests: Debian's swtpm on two free loopback ports (commands, then control
// one above), its state in a temporary directory, stopped by its PID. tpm2-pkcs11 reaches it through the
// TSS "swtpm" TCTI named in TPM2_PKCS11_TCTI (a real PC uses /dev/tpmrm0, the default).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freeBase, requireBinary } from './pcscd';

export interface SwtpmHandle {
  /** TCTI configuration string for TPM2_PKCS11_TCTI / TPM2TOOLS_TCTI. */
  tcti: string;
  stop(): Promise<void>;
}

const connects = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(() => resolve(true)));
    s.once('error', () => resolve(false));
  });

export async function startSwtpm(): Promise<SwtpmHandle> {
  requireBinary('swtpm', 'swtpm');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-swtpm-'));
  const port = await freeBase(2);
  const child: ChildProcess = spawn(
    'swtpm',
    [
      'socket',
      '--tpm2',
      '--tpmstate',
      `dir=${dir}`,
      '--server',
      `type=tcp,port=${port},bindaddr=127.0.0.1`,
      '--ctrl',
      `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
      // A manufactured, started TPM as firmware hands it to the OS.
      '--flags',
      'not-need-init,startup-clear',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const end = Date.now() + 10_000;
  while (!(await connects(port + 1))) {
    if (child.exitCode !== null || Date.now() > end) {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`swtpm did not start: ${stderr.trim() || `exit ${child.exitCode}`}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    tcti: `swtpm:host=127.0.0.1,port=${port}`,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
