// The demo session server of `npm start` / `npm run headless` (DemoMode without ServerUrl): the session
// server started as a child process on PGlite, seeded with the demo people, trusting only this run's demo
// CA, with one demo DPI relying party. A separate process keeps the server out of the desktop app (it is
// never bundled), and the agent talks to it over HTTP exactly as it talks to a hospital's server. It holds
// the demo badges' master key (relay custody), so a demo tap is checked by the server as a real one. The
// child stops when the agent ends, however it ends (exit-with-parent.ts).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';
import { DEMO_BADGE_KEYS, DEMO_BADGES, DEMO_PEOPLE, DEMO_PIN } from './data';

export interface EmbeddedServer {
  issuer: string;
  enrolmentToken: string;
  /** The demo DPI's relying party at this server (its secret is in `secretFile`, 0600). */
  demoDpi: DemoDpi;
  pid: number;
  stop(): Promise<void>;
}

export interface DemoDpi {
  clientId: string;
  audience: string;
  secretFile: string;
}

export const DEMO_DPI = { clientId: 'dpi-demo', audience: 'https://dpi.demo.sillage.test' } as const;

export interface EmbeddedServerOptions {
  /** Repository root (server/src/main.ts). */
  root: string;
  /** A Node.js executable (the desktop app's own binary is not one). */
  node: string;
  dataDir: string;
  demoCaPem: string;
  mfaWindowMinutes: number;
  allowUidOnly: boolean;
}

export type StartEmbeddedServer = (opts: Omit<EmbeddedServerOptions, 'root' | 'node'>) => Promise<EmbeddedServer>;

/** Where a demo session server can run: a repository checkout (the server is never in the packaged app). */
export function embeddedServerIn(root: string, node: string | null): StartEmbeddedServer | null {
  if (!node || !fs.existsSync(path.join(root, 'server', 'src', 'main.ts'))) return null;
  return (opts) => startEmbeddedServer({ ...opts, root, node });
}

/** The files the demo server starts from, in its data directory: CA, seed, badge keys, the demo DPI's secret. */
function writeDemoFiles(opts: EmbeddedServerOptions) {
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
      badges: DEMO_BADGES.filter((b) => b.owner === p.identity.idNat && b.number !== null).map((b) => ({
        uid: b.uid,
        number: b.number,
      })),
    })),
    enrolmentToken,
  };
  fs.writeFileSync(seedFile, JSON.stringify(seed), { mode: 0o600 });
  const keysFile = path.join(opts.dataDir, 'demo-badge-keys.json');
  fs.rmSync(keysFile, { force: true });
  fs.writeFileSync(keysFile, JSON.stringify(DEMO_BADGE_KEYS), { mode: 0o600 });
  // The demo DPI (testbed/reference-dpi.ts) authenticates to the server with this per-run secret.
  const dpiSecret = randomBytes(24).toString('base64url');
  const secretFile = path.join(opts.dataDir, 'demo-dpi.secret');
  fs.writeFileSync(secretFile, dpiSecret, { mode: 0o600 });
  const rpFile = path.join(opts.dataDir, 'relying-parties.json');
  fs.writeFileSync(
    rpFile,
    JSON.stringify([
      { clientId: DEMO_DPI.clientId, clientSecretEnv: 'SILLAGE_DEMO_DPI_SECRET', audiences: [DEMO_DPI.audience] },
    ]),
  );
  return { caFile, seedFile, keysFile, rpFile, enrolmentToken, dpiSecret, secretFile };
}

/** The issuer the server prints once it listens; its last errors when it exits first or is too slow. */
function issuerOf(child: ChildProcess): Promise<string> {
  const errors: string[] = [];
  readline.createInterface({ input: child.stderr! }).on('line', (l) => {
    if (!/Unsupported runtime/.test(l)) errors.push(l);
  });
  return new Promise<string>((resolve, reject) => {
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
}

export async function startEmbeddedServer(opts: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const files = writeDemoFiles(opts);
  const args = [
    '--import',
    'tsx',
    '--import',
    pathToFileURL(path.join(opts.root, 'electron', 'core', 'demo', 'exit-with-parent.ts')).href,
    path.join(opts.root, 'server', 'src', 'main.ts'),
    '--port',
    '0',
    '--data-dir',
    path.join(opts.dataDir, 'server-db'),
    '--trust-anchor',
    files.caFile,
    '--seed',
    files.seedFile,
    '--desfire-keys',
    files.keysFile,
    '--relying-parties',
    files.rpFile,
    '--log-level',
    'warn',
    '--mfa-window-minutes',
    String(opts.mfaWindowMinutes),
    ...(opts.allowUidOnly ? ['--allow-badge-proof', 'uid-only'] : []),
  ];
  const child: ChildProcess = spawn(opts.node, args, {
    cwd: opts.root,
    // The IPC channel is the child's lifeline: it closes when this process ends, however it ends.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, SILLAGE_DEMO_DPI_SECRET: files.dpiSecret },
  });
  const issuer = await issuerOf(child);
  return {
    issuer,
    enrolmentToken: files.enrolmentToken,
    demoDpi: { ...DEMO_DPI, secretFile: files.secretFile },
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
