// Spawns a headless demo agent per test (fresh state) and gives the test its launch URL.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test as base, expect } from '@playwright/test';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const URL_RE = /(http:\/\/127\.0\.0\.1:\d+\/#k=[A-Za-z0-9_-]+)/;

export interface HeadlessAgent {
  url: string;
  proc: ChildProcess;
  output: () => string;
}

export interface HeadlessOptions {
  /** Machine policy for this agent (written to its own policy file). */
  policy?: Record<string, unknown>;
  env?: Record<string, string>;
}

// Agents of this worker: stopped when it exits, even those whose test timed out before it could.
const started = new Set<ChildProcess>();
process.once('exit', () => started.forEach((p) => p.kill('SIGTERM')));

export async function startHeadless(
  args: string[] = [],
  opts: HeadlessOptions = {},
): Promise<HeadlessAgent & { dataDir: string }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-e2e-'));
  // Each agent gets its own policy file (never the machine's /etc/sillage/policy.json).
  const policyFile = path.join(dataDir, 'policy.json');
  if (opts.policy) fs.writeFileSync(policyFile, JSON.stringify(opts.policy));
  const policy = args.includes('--policy-file') ? [] : ['--policy-file', policyFile];
  const proc = spawn(
    path.join(root, 'node_modules/.bin/tsx'),
    [
      'electron/core/headless/main.ts',
      '--demo',
      '--port',
      '0',
      '--no-control',
      '--data-dir',
      dataDir,
      ...policy,
      ...args,
    ],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...(opts.env ?? {}) },
    },
  );
  started.add(proc);
  proc.once('exit', () => started.delete(proc));
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    // A start that never prints its URL must not leave the agent (and its embedded server) behind.
    const timer = setTimeout(() => {
      proc.kill('SIGTERM');
      reject(new Error(`headless agent did not print its URL within 60 s:\n${out}`));
    }, 60_000);
    const check = () => {
      const m = URL_RE.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    proc.stdout!.on('data', check);
    proc.once('exit', (code) => reject(new Error(`headless agent exited (${code}):\n${out}`)));
  });
  return { url, proc, output: () => out, dataDir };
}

export const test = base.extend<{ agent: HeadlessAgent }>({
  // Playwright reads the fixture signature: an empty pattern means "needs no other fixture".
  // eslint-disable-next-line no-empty-pattern
  agent: async ({}, use, testInfo) => {
    const agent = await startHeadless();
    await use(agent);
    // A failed test carries what the agent printed (its own errors say more than a timeout does).
    if (testInfo.status !== testInfo.expectedStatus) await testInfo.attach('agent-output', { body: agent.output() });
    agent.proc.kill('SIGTERM');
    await new Promise((r) => agent.proc.once('exit', r));
  },
});

export { expect };

export function shotPath(name: string): string {
  const dir = path.join(root, 'e2e', 'output', 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, `${name}.png`);
}
