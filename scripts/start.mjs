#!/usr/bin/env node
// `npm start`: build the UI and the shell, then launch the Electron app (a development run: demo mode on
// unless --no-demo or a --server is given). Where no Electron binary is installed, say exactly why and how
// to get one, and run the headless mode instead (the same agent, its UI in a browser).
import fs from 'node:fs';
import path from 'node:path';
import { buildUi, headlessArgs, root, runAgent, step } from './lib/agent-process.mjs';

/** The Electron binary, or why there is none (what npm did or did not do). */
export function electronBinary(env = process.env) {
  const pkg = path.join(root, 'node_modules', 'electron');
  const howTo =
    'to get it: `node node_modules/electron/install.js` where the network reaches the Electron releases (or an ELECTRON_MIRROR), or set ELECTRON_OVERRIDE_DIST_PATH to an unpacked Electron';
  if (!fs.existsSync(path.join(pkg, 'package.json')))
    return { binary: null, why: 'the electron package is not installed: run `npm install`' };
  const pathTxt = path.join(pkg, 'path.txt');
  if (env.ELECTRON_OVERRIDE_DIST_PATH) {
    const p = path.join(
      env.ELECTRON_OVERRIDE_DIST_PATH,
      fs.existsSync(pathTxt) ? fs.readFileSync(pathTxt, 'utf8') : 'electron',
    );
    return fs.existsSync(p)
      ? { binary: p, why: null }
      : { binary: null, why: `no Electron at ELECTRON_OVERRIDE_DIST_PATH (${p})` };
  }
  if (!fs.existsSync(pathTxt))
    return {
      binary: null,
      why: env.ELECTRON_SKIP_BINARY_DOWNLOAD
        ? `no Electron binary installed: its download was skipped (ELECTRON_SKIP_BINARY_DOWNLOAD is set, as on CI and the build machines); ${howTo}`
        : `no Electron binary installed: electron's install script did not download it (it failed, or npm ran without install scripts); ${howTo}`,
    };
  const p = path.join(pkg, 'dist', fs.readFileSync(pathTxt, 'utf8'));
  return fs.existsSync(p)
    ? { binary: p, why: null }
    : { binary: null, why: `the Electron download did not complete (${p} is missing); ${howTo}` };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  buildUi();
  step(process.execPath, ['scripts/build-shell.mjs']);
  const args = process.argv.slice(2);
  const { binary, why } = electronBinary();
  if (binary) runAgent(binary, [root, ...args], { cwd: root });
  else {
    console.log(`Electron: ${why}. Starting the headless mode instead.`);
    step(process.execPath, ['scripts/build-native.mjs']);
    runAgent(process.execPath, headlessArgs(args), { cwd: root });
  }
}
