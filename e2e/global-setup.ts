import { execFileSync } from 'node:child_process';
import path from 'node:path';

// The headless agent serves renderer/dist: build it once for the run.
export default function globalSetup() {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
  execFileSync('npx', ['vite', 'build', '--config', 'renderer/vite.config.ts', '--logLevel', 'warn'], {
    cwd: root,
    stdio: 'inherit',
  });
}
