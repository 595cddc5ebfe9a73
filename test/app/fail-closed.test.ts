// Fail closed (core/app/supervisor.ts): a real agent process (headless mode, the same composition as the
// desktop app) runs under the supervisor and is killed with SIGKILL. The supervisor locks the OS session
// when the agent guarded a user's own session (LockMode os), restarts the agent, which starts locked and
// records why; a crash loop locks the OS session whatever the mode; a stop asked for is not a crash.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSupervisor } from '../../electron/core/app/supervisor';
import type { Supervisor } from '../../electron/core/app/supervisor';
import { readAuditFile } from '../../testbed/audit-file';
import { waitFor } from '../../testbed/pcscd';
import { nextEvent, wsClient } from '../contract/clients';

const ROOT = path.resolve(__dirname, '../..');
const URL_RE = /http:\/\/127\.0\.0\.1:(\d+)\/#k=([A-Za-z0-9_-]+)/;
let tmp: string;
let uiDir: string;
const supervisors: Supervisor[] = [];

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-failclosed-'));
  uiDir = path.join(tmp, 'ui');
  fs.mkdirSync(uiDir);
  fs.writeFileSync(path.join(uiDir, 'index.html'), '<!doctype html><title>Sillage</title>');
});
afterEach(async () => {
  for (const s of supervisors.splice(0)) await s.stop();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A supervised headless demo agent; `outputs[pid]` is what each started agent printed. */
async function supervisedAgent(policy: Record<string, unknown>) {
  const dataDir = fs.mkdtempSync(path.join(tmp, 'pc-'));
  const policyFile = path.join(dataDir, 'policy.json');
  fs.writeFileSync(policyFile, JSON.stringify(policy));
  const outputs = new Map<number, string>();
  const osLocks: string[] = [];
  const log: string[] = [];
  const starts: { pid: number; reason: string | null }[] = [];
  const sup = await startSupervisor({
    spawn: (env) => {
      const c: ChildProcess = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'electron/core/headless/main.ts',
          '--local-demo',
          '--no-control',
          '--port',
          '0',
          '--ui-dir',
          uiDir,
          '--data-dir',
          dataDir,
          '--policy-file',
          policyFile,
        ],
        { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      outputs.set(c.pid!, '');
      c.stdout!.on('data', (d) => outputs.set(c.pid!, outputs.get(c.pid!)! + d));
      c.stderr!.on('data', (d) => outputs.set(c.pid!, outputs.get(c.pid!)! + d));
      return c;
    },
    lockOperatingSystem: async () => void osLocks.push('locked'),
    log: (m) => void log.push(m),
  });
  supervisors.push(sup);
  sup.onStart((pid, reason) => starts.push({ pid, reason }));
  /** The UI of the agent running now, over its WebSocket with its launch secret. */
  const ui = async () => {
    const pid = sup.pid()!;
    await waitFor(() => URL_RE.test(outputs.get(pid) ?? ''), 30_000, `agent ${pid} up: ${outputs.get(pid)}`);
    const [, port, secret] = URL_RE.exec(outputs.get(pid)!)!;
    return wsClient(`ws://127.0.0.1:${port}/agent`, secret!, `http://127.0.0.1:${port}`);
  };
  const audit = Object.assign(() => readAuditFile(path.join(dataDir, 'audit.jsonl')), {
    file: path.join(dataDir, 'audit.jsonl'),
  });
  return { sup, ui, audit, osLocks, log, starts, outputs };
}

async function openSession(client: Awaited<ReturnType<typeof wsClient>>) {
  const pinPad = nextEvent(client, (e) => e.event === 'session.state' && e.payload.kind === 'pin-required');
  await client.invoke('demo.insertCard', { cardId: 'cps-camille' });
  await pinPad;
  await client.invoke('session.submitPin', { pin: '1234' });
  expect((await client.invoke('session.getState', {})).kind).toBe('open');
}

describe('an agent killed on a ward PC never leaves the desktop open', () => {
  it('LockMode os, session open, SIGKILL: the OS session is locked and the agent restarts locked', async () => {
    const a = await supervisedAgent({ LockMode: 'os' });
    const first = await a.ui();
    await openSession(first);
    await waitFor(() => a.sup.report().open, 5000, 'the supervisor knows a session is open');
    expect(a.sup.report()).toEqual({ open: true, lockMode: 'os' });
    const killed = a.sup.pid()!;
    process.kill(killed, 'SIGKILL');
    await waitFor(() => a.starts.length === 2, 30_000, 'restarted');
    expect(a.osLocks).toEqual(['locked']);
    expect(a.starts[1]!.reason).toBe('previous agent killed by SIGKILL');
    const second = await a.ui();
    expect(await second.invoke('session.getState', {})).toEqual({ kind: 'locked', reason: 'startup' });
    expect(a.audit().filter((r) => r.action === 'agent.restarted')).toMatchObject([
      { outcome: 'failure', reason: 'previous agent killed by SIGKILL: started locked' },
    ]);
    first.close();
    second.close();
  }, 90_000);

  it('LockMode overlay: restarted at once with its overlay up (no OS lock of the shared ward session)', async () => {
    const a = await supervisedAgent({});
    const first = await a.ui();
    await openSession(first);
    await waitFor(() => a.sup.report().open, 5000, 'reported open');
    process.kill(a.sup.pid()!, 'SIGKILL');
    await waitFor(() => a.starts.length === 2, 30_000, 'restarted');
    const second = await a.ui();
    expect(await second.invoke('session.getState', {})).toEqual({ kind: 'locked', reason: 'startup' });
    expect(a.osLocks).toEqual([]);
    first.close();
    second.close();
  }, 90_000);

  it('a setting the agent is composed from changed: a fresh agent, not a crash', async () => {
    const a = await supervisedAgent({});
    (await a.ui()).close();
    const file = path.join(path.dirname(a.audit.file), 'policy.json');
    fs.writeFileSync(
      `${file}.tmp`,
      JSON.stringify({ BrokerHttpPort: 0, InactivityLockMinutes: 3, MfaWindowMinutes: 60 }),
    );
    fs.renameSync(`${file}.tmp`, file);
    await waitFor(() => a.starts.length === 2, 30_000, 'composed again');
    expect(a.starts[1]!.reason).toBeNull();
    expect(a.osLocks).toEqual([]);
    (await a.ui()).close();
    expect(a.audit().find((r) => r.action === 'agent.restart')).toMatchObject({
      reason: 'réglages modifiés : MfaWindowMinutes',
    });
    expect(a.audit().filter((r) => r.action === 'agent.restarted')).toEqual([]);
  }, 90_000);

  it('a stop asked for (SIGTERM to headless) is not a crash: no restart, no OS lock', async () => {
    const a = await supervisedAgent({});
    (await a.ui()).close();
    process.kill(a.sup.pid()!, 'SIGTERM');
    expect(await a.sup.done).toBe(0);
    expect(a.starts).toHaveLength(1);
    expect(a.osLocks).toEqual([]);
  }, 60_000);
});

it('a crash loop locks the OS session whatever the mode', async () => {
  const osLocks: number[] = [];
  let n = 0;
  const sup = await startSupervisor({
    spawn: () => (n++, spawn(process.execPath, ['-e', 'process.exit(3)'], { stdio: 'ignore' })),
    lockOperatingSystem: async () => void osLocks.push(n),
    log: () => {},
    backoffMs: 10,
  });
  supervisors.push(sup);
  await waitFor(() => osLocks.length > 0, 20_000, 'crash loop detected');
  expect(osLocks[0]).toBe(3);
});
