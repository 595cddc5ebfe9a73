#!/usr/bin/env node
// `npm start`: build the UI and the shell, then launch Electron; where its binary is missing (its download
// is blocked on our build machines), say so in one line and run the headless mode instead.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const step = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

step(bin('vite'), ['build', '--config', 'renderer/vite.config.ts', '--logLevel', 'warn']);
step(process.execPath, ['scripts/build-shell.mjs']);

let electronPath = null;
try {
  electronPath = createRequire(import.meta.url)('electron');
} catch {
  electronPath = null;
}
const args = process.argv.slice(2);
const child =
  typeof electronPath === 'string' && fs.existsSync(electronPath)
    ? spawn(electronPath, [root, ...args], { cwd: root, stdio: 'inherit' })
    : (console.log(
        'Electron binary absent (its download is blocked here): run "npm install electron" where the network allows it, or set ELECTRON_OVERRIDE_DIST_PATH; starting the headless mode instead.',
      ),
      spawn(bin('tsx'), ['electron/core/headless/main.ts', '--demo', ...args], { cwd: root, stdio: 'inherit' }));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)));
