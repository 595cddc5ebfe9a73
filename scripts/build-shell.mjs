#!/usr/bin/env node
// Bundle the Electron main process and the sandboxed preload to CommonJS (sandboxed preloads cannot be
// ES modules and may only require('electron')). The headless entry is never part of these bundles.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: false,
  logLevel: 'warning',
  absWorkingDir: root,
};

// Core modules load native addons with createRequire(import.meta.url): in the CommonJS bundle,
// import.meta.url becomes the bundle's own file URL.
await build({
  ...common,
  entryPoints: ['electron/shell/main.ts'],
  outfile: 'dist/electron/main.cjs',
  external: ['electron', 'pcsclite', 'pkcs11js', 'node-hid'],
  define: { 'import.meta.url': '__sillageBundleUrl' },
  banner: { js: "const __sillageBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
await build({
  ...common,
  entryPoints: ['electron/shell/preload.ts'],
  outfile: 'dist/electron/preload.cjs',
  external: ['electron'],
});
// The broker identifies its socket's peers with our N-API addon (ABI-stable, so the Node build loads in
// Electron too): next to the bundle, where native/peercred.ts looks for it from there.
// The CNG addon (Windows TPM keys, native/ncrypt.ts) likewise, where it was built.
for (const rel of [
  ['peercred', 'build', 'peercred.node'],
  ['ncrypt', 'build', 'Release', 'ncrypt.node'],
]) {
  const addon = path.join(root, 'native', ...rel);
  if (!fs.existsSync(addon)) continue;
  fs.mkdirSync(path.join(root, 'dist', 'electron', ...rel.slice(0, -1)), { recursive: true });
  fs.copyFileSync(addon, path.join(root, 'dist', 'electron', ...rel));
}
console.log('shell bundles: dist/electron/main.cjs, dist/electron/preload.cjs');
