// The broker's local socket against the fork/exec race: a process connects, forks, and lets its parent
// (the pid the kernel recorded at connect) exec the registered binary while the child keeps the socket
// and asks for the user's token. Run many times, in the natural order and in the worst one for the agent
// (held until the parent already runs the registered binary), with python3 as the attacker.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../electron/core/audit/audit';
import { LocalEndpoint } from '../../electron/core/broker/broker';
import { peerCredentials, peerCredentialsAvailable } from '../../native/peercred';
import { openSessionBroker } from '../open-session-broker';
import { BrokerClient } from '../reference-dpi';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const HELPER = path.join(ROOT, 'testbed/fork-exec-peer.py');
const AUD = 'https://dpi.test/api';
const TRIES = 30;
const REGISTERED = fs.realpathSync(process.execPath);

let dir: string;
let endpoint: LocalEndpoint;
let socketPath: string;
let handedOut: string[] = [];
const audit = new AuditLog();

beforeAll(async () => {
  expect(peerCredentialsAvailable(), 'peer-credentials addon built by scripts/build-native.mjs').toBe(true);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-race-'));
  const rig = openSessionBroker({
    audit,
    apps: [{ id: 'dpi', name: 'DPI', executable: REGISTERED, audiences: [AUD] }],
  });
  handedOut = rig.handedOut;
  endpoint = new LocalEndpoint({
    broker: rig.broker,
    path: path.join(dir, 'run', 'broker.sock'),
    identify: peerCredentials,
  });
  socketPath = await endpoint.listen();
});

afterAll(async () => {
  await endpoint?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Holds this process (and the agent in it) until `file` exists: the agent accepts only after that. */
function holdUntil(file: string, ms: number): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const end = Date.now() + ms;
  while (!fs.existsSync(file) && Date.now() < end) Atomics.wait(cell, 0, 0, 1);
}

async function attack(mode: 'child-answers' | 'parent-answers', hold: boolean): Promise<Record<string, unknown>> {
  const marker = path.join(dir, `exec-${Math.random().toString(36).slice(2)}`);
  const p = spawn('python3', [HELPER, socketPath, REGISTERED, AUD, mode, marker], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const line = new Promise<string>((resolve) => {
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    p.on('exit', () => resolve(out));
  });
  if (hold) {
    // python must have connected before we hold: wait for it without running our loop's accept.
    await new Promise((r) => p.once('spawn', r));
    holdUntil(marker, 5000);
  }
  const result = await line;
  // The parent is now the registered binary idling a few seconds: ended by its pid, started by us.
  if (p.exitCode === null) p.kill();
  if (!result.trim()) throw new Error(`attacker printed nothing: ${err}`);
  return JSON.parse(result) as Record<string, unknown>;
}

describe('broker local socket: connect, fork, parent execs the registered binary', () => {
  it('a genuine client (the registered binary itself) gets its token', async () => {
    const dpi = await BrokerClient.connect(socketPath);
    await expect(dpi.call('getToken', { audience: AUD })).resolves.toMatchObject({ access_token: `token-for:${AUD}` });
    dpi.close();
    expect(handedOut).toEqual([AUD]);
  });

  it(`refuses the child every time, the agent held until the parent runs the registered binary (${TRIES} tries)`, async () => {
    const results = [];
    for (let i = 0; i < TRIES; i++) results.push(await attack('child-answers', true));
    expect(results.filter((r) => 'token' in r)).toEqual([]);
    expect(results.every((r) => r.refused === 'not-registered')).toBe(true);
    expect(handedOut).toEqual([AUD]);
  }, 120_000);

  it(`refuses the child every time in the natural order (${TRIES} tries)`, async () => {
    const results = [];
    for (let i = 0; i < TRIES; i++) results.push(await attack('child-answers', false));
    expect(results.filter((r) => 'token' in r)).toEqual([]);
    expect(handedOut).toEqual([AUD]);
  }, 120_000);

  it(`refuses when the parent answers the challenge and then execs (${TRIES} tries)`, async () => {
    const results = [];
    for (let i = 0; i < TRIES; i++) results.push(await attack('parent-answers', false));
    expect(results.filter((r) => 'token' in r)).toEqual([]);
    expect(handedOut).toEqual([AUD]);
    // Each refusal is a security decision on the record (capped per window against floods).
    expect(audit.recent(500).some((r) => r.action === 'broker.connect' && r.outcome === 'failure')).toBe(true);
  }, 120_000);
});
