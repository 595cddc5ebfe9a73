// The agent as a child of an npm script (`npm start`, `npm run headless`): signals reach it however the
// script is stopped — Ctrl-C (the terminal signals the whole group), `kill -TERM` on npm (npm forwards
// SIGTERM to its script) or on this process — and this process exits with it, so no agent or embedded
// session server is left running with its ports. If this process's parent dies without a word (npm killed
// with SIGKILL), the agent is stopped too.
// Also the build steps both scripts run before it.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

/** A build step before the agent starts, in the repository: its failure ends the script with its status. */
export function step(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

/** The UI the agent serves (renderer/ built by Vite). */
export const buildUi = () =>
  step(path.join(root, 'node_modules', '.bin', 'vite'), [
    'build',
    '--config',
    'renderer/vite.config.ts',
    '--logLevel',
    'warn',
  ]);

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export function runAgent(cmd, args, opts) {
  const child = spawn(cmd, args, { stdio: 'inherit', ...opts });
  for (const sig of FORWARDED) process.on(sig, () => child.kill(sig));
  const parent = process.ppid;
  // No event tells a process its parent died: check, rarely, that it was not re-parented.
  const orphaned = setInterval(() => {
    if (process.ppid !== parent) child.kill('SIGTERM');
  }, 1000);
  orphaned.unref();
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)));
  return child;
}

/** The headless agent: Node with the TypeScript loader, no tsx wrapper process in between. */
export function headlessArgs(args) {
  return ['--import', 'tsx', 'electron/core/headless/main.ts', ...args];
}
