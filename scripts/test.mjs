#!/usr/bin/env node
// `npm test`: every suite (unit + integration with vitest, end-to-end with Playwright), then one line
// `N passed, N failed` summing them. Checks the Debian stand-ins first and installs them when it can.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const tmp = path.join(root, '.tmp');
fs.mkdirSync(tmp, { recursive: true });
// A hung suite must fail CI well inside its 90 minutes, not eat them: each suite gets a hard limit.
const SUITE_LIMIT_MS = 35 * 60_000;
const run = (cmd, args, opts = {}) =>
  spawnSync(cmd, args, { cwd: root, stdio: 'inherit', timeout: SUITE_LIMIT_MS, killSignal: 'SIGKILL', ...opts });

// System packages (pcscd, vpcd, softhsm, opensc, chromium...): installed when missing and we are root.
const setup = run('bash', ['scripts/setup-system.sh', '--if-missing']);
if (setup.status !== 0)
  console.error('setup-system: some system packages are missing (see above); the tests that need them will fail.');

// Our own N-API addons (peer credentials of the DPI broker's socket) for this Node.
if (run('node', ['scripts/build-native.mjs']).status !== 0)
  console.error('build-native failed: the broker tests that need peer credentials will fail.');

const suites = [];

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

// 1. Unit and integration tests.
const vitestJson = path.join(tmp, 'vitest.json');
fs.rmSync(vitestJson, { force: true });
const vt = run('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${vitestJson}`]);
const v = readJson(vitestJson);
suites.push({
  name: 'vitest (unit + integration)',
  passed: v?.numPassedTests ?? 0,
  // A crash before any report counts as a failure, never as "0 failed".
  failed: v ? v.numFailedTests + (vt.status !== 0 && v.numFailedTests === 0 ? 1 : 0) : 1,
  skipped: v ? v.numPendingTests + v.numTodoTests : 0,
});

// 2. End-to-end tests in Chromium (and Electron where its binary exists).
const pwJson = path.join(root, 'e2e', 'output', 'results.json');
fs.rmSync(pwJson, { force: true });
const pw = run('npx', ['playwright', 'test', '-c', 'e2e/playwright.config.ts']);
const p = readJson(pwJson);
suites.push({
  name: 'playwright (e2e)',
  passed: p?.stats ? p.stats.expected + p.stats.flaky : 0,
  failed: p?.stats ? p.stats.unexpected + (pw.status !== 0 && p.stats.unexpected === 0 ? 1 : 0) : 1,
  skipped: p?.stats?.skipped ?? 0,
});

const total = suites.reduce(
  (a, s) => ({ passed: a.passed + s.passed, failed: a.failed + s.failed, skipped: a.skipped + s.skipped }),
  { passed: 0, failed: 0, skipped: 0 },
);
console.log('\nSuites:');
for (const s of suites) console.log(`  ${s.name}: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`);
console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(total.failed === 0 ? 0 : 1);
