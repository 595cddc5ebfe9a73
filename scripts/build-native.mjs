// Builds Sillage's own N-API addons for the Node that runs the agent here (headless mode, tests).
// N-API needs only Node's headers and a C compiler, not node-gyp; the Electron build uses each
// addon's binding.gyp through electron-builder's rebuild instead.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const includeCandidates = [
  path.resolve(process.execPath, '../../include/node'),
  '/usr/include/node',
  '/usr/local/include/node',
];
const include = includeCandidates.find((d) => fs.existsSync(path.join(d, 'node_api.h')));
// The test bed's own addon (quickack) only matters on Linux, where vpcd runs.
const addons = [
  { name: 'peercred', src: 'native/peercred/peercred.c', dir: 'native/peercred' },
  ...(process.platform === 'linux'
    ? [{ name: 'quickack', src: 'testbed/quickack/quickack.c', dir: 'testbed/quickack' }]
    : []),
];
let failed = 0;
for (const a of addons) {
  if (process.platform === 'win32') continue;
  const src = path.join(root, a.src);
  const out = path.join(root, a.dir, 'build', `${a.name}.node`);
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= fs.statSync(src).mtimeMs) continue;
  if (!include) {
    console.error(`build-native: Node's headers (node_api.h) not found; ${a.name} not built`);
    failed++;
    continue;
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const flags =
    process.platform === 'darwin' ? ['-bundle', '-undefined', 'dynamic_lookup'] : ['-shared', '-fPIC', '-pthread'];
  const r = spawnSync('cc', ['-O2', '-Wall', ...flags, `-I${include}`, src, '-o', out], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`build-native: ${a.name} failed to build`);
    failed++;
  }
}
// Windows: the CNG addon (workstation keys in the TPM) with the node-gyp npm bundles, against the
// Platform SDK's ncrypt.lib (Visual Studio's C tools needed). Nothing here builds it: no Windows CI.
if (process.platform === 'win32') {
  const gyp = process.env.npm_config_node_gyp;
  const r = gyp
    ? spawnSync(process.execPath, [gyp, 'rebuild', '--directory', path.join(root, 'native', 'ncrypt')], {
        stdio: 'inherit',
      })
    : { status: 1 };
  if (r.status !== 0) {
    console.error('build-native: native/ncrypt not built (run through npm, with Visual Studio C++ tools)');
    failed++;
  }
}
process.exit(failed ? 1 : 0);
