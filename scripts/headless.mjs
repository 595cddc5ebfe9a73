#!/usr/bin/env node
// `npm run headless -- [flags]`: build the UI and the native addons, then run the headless agent (see
// electron/core/headless/main.ts for its flags).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { headlessArgs, runAgent } from './lib/agent-process.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const step = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
step(path.join(root, 'node_modules', '.bin', 'vite'), [
  'build',
  '--config',
  'renderer/vite.config.ts',
  '--logLevel',
  'warn',
]);
step(process.execPath, ['scripts/build-native.mjs']);
runAgent(process.execPath, headlessArgs(process.argv.slice(2)), { cwd: root });
