// The embedded default of `npm start` / `npm run headless`: the session server started as a child
// process on PGlite, seeded with the demo people, trusting only this run's demo CA. A separate process
// keeps the server out of the desktop app (it is never bundled), and the agent talks to it over HTTP
// exactly as it talks to a hospital's server.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { DEMO_BADGES, DEMO_PEOPLE, DEMO_PIN } from '../demo/data';

export interface EmbeddedServer {
  issuer: string;
  enrolmentToken: string;
  stop(): Promise<void>;
}

export async function startEmbeddedServer(opts: {
  root: string;
  dataDir: string;
  demoCaPem: string;
  mfaWindowMinutes?: number;
}): Promise<EmbeddedServer> {
  fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const caFile = path.join(opts.dataDir, 'demo-ca.pem');
  fs.writeFileSync(caFile, opts.demoCaPem);
  const enrolmentToken = randomBytes(24).toString('base64url');
  const seedFile = path.join(opts.dataDir, 'server-seed.json');
  const seed = {
    accounts: DEMO_PEOPLE.map((p) => ({
      ...p.identity,
      adLogin: `${p.identity.firstName[0]}${p.identity.lastName}`.toLowerCase(),
      code: DEMO_PIN,
      badges: DEMO_BADGES.filter((b) => b.owner === p.identity.idNat).map((b) => b.id),
    })),
    enrolmentToken,
  };
  fs.writeFileSync(seedFile, JSON.stringify(seed), { mode: 0o600 });
  const args = [
    '--import',
    'tsx',
    path.join(opts.root, 'server', 'src', 'main.ts'),
    '--port',
    '0',
    '--data-dir',
    path.join(opts.dataDir, 'server-db'),
    '--trust-anchor',
    caFile,
    '--seed',
    seedFile,
    '--log-level',
    'warn',
  ];
  if (opts.mfaWindowMinutes) args.push('--mfa-window-minutes', String(opts.mfaWindowMinutes));
  const child: ChildProcess = spawn(process.execPath, args, { cwd: opts.root, stdio: ['ignore', 'pipe', 'pipe'] });
  const errors: string[] = [];
  readline.createInterface({ input: child.stderr! }).on('line', (l) => {
    if (!/Unsupported runtime/.test(l)) errors.push(l);
  });
  const issuer = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('embedded session server did not start within 60 s')), 60_000);
    readline.createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = /^Sillage session server: (\S+?)\/?\s/.exec(l);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`embedded session server exited (${code}): ${errors.slice(-3).join(' | ')}`));
    });
  });
  return {
    issuer,
    enrolmentToken,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
