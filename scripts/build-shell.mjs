#!/usr/bin/env node
// Bundle the Electron main process and the sandboxed preload to CommonJS (sandboxed preloads cannot be
// ES modules and may only require('electron')). The headless entry is never part of these bundles.
import { build } from 'esbuild';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', sourcemap: false, logLevel: 'warning', absWorkingDir: root };

await build({ ...common, entryPoints: ['electron/shell/main.ts'], outfile: 'dist/electron/main.cjs', external: ['electron', 'pcsclite', 'pkcs11js', 'node-hid'] });
await build({ ...common, entryPoints: ['electron/shell/preload.ts'], outfile: 'dist/electron/preload.cjs', external: ['electron'] });
console.log('shell bundles: dist/electron/main.cjs, dist/electron/preload.cjs');
