// The commands as the README writes them: `npm run headless` and `npm start` (headless fallback where no
// Electron binary exists) stop the agent and its embedded session server on `kill -TERM` of the npm process,
// leaving no process and no port behind; an agent killed with SIGKILL does not leave its embedded server
// orphaned; the demo's DPI application (the reference DPI, as docs/dpi-integration.md runs it) gets a token
// out of the box; and `--server` reuses the workstation's key at a restart instead of spending the
// one-time enrolment token again.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAuditFile } from '../../testbed/audit-file';
import { waitFor } from '../../testbed/pcscd';
import { nextEvent, wsClient } from '../contract/clients';
import { startTestServer } from './session-server';
import type { TestServer } from './session-server';

const ROOT = path.resolve(__dirname, '../..');
const URL_RE = /http:\/\/127\.0\.0\.1:(\d+)\/#k=([A-Za-z0-9_-]+)/;
const EMBEDDED_RE = /embedded session server \(PGlite\): http:\/\/127\.0\.0\.1:(\d+)\//;
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-npm-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Every process below `pid` (from /proc), deepest last. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z';
  } catch {
    return false;
  }
};

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

interface Run {
  proc: ChildProcess;
  output: () => string;
  line: (re: RegExp) => Promise<RegExpExecArray>;
  exited: Promise<number | null>;
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): Run {
  const proc = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    output: () => out,
    exited,
    async line(re) {
      await waitFor(() => re.test(out), 120_000, `${re} in:\n${out}`);
      return re.exec(out)!;
    },
  };
}

function headlessFlags(dataDir: string, extra: string[] = []) {
  const policy = path.join(dataDir, 'policy.json');
  if (!fs.existsSync(policy)) fs.writeFileSync(policy, '{}');
  return ['--port', '0', '--no-control', '--data-dir', dataDir, '--policy-file', policy, ...extra];
}

async function stopsEverything(r: Run, uiPort: number, serverPort: number) {
  const tree = descendants(r.proc.pid!);
  expect(tree.length).toBeGreaterThanOrEqual(2); // the agent and its embedded server, at least
  process.kill(r.proc.pid!, 'SIGTERM');
  await r.exited;
  await waitFor(() => tree.every((p) => !alive(p)), 15_000, `no process left of ${tree.join(' ')}`);
  expect(await portOpen(uiPort)).toBe(false);
  expect(await portOpen(serverPort)).toBe(false);
}

describe('npm scripts stop everything on kill -TERM', () => {
  it('npm run headless', async () => {
    const dataDir = fs.mkdtempSync(path.join(tmp, 'headless-'));
    const r = run('npm', ['run', 'headless', '--', ...headlessFlags(dataDir)]);
    const [, uiPort] = await r.line(URL_RE);
    const [, serverPort] = await r.line(EMBEDDED_RE);
    await stopsEverything(r, Number(uiPort), Number(serverPort));
  }, 240_000);

  it('npm start (the headless fallback here: no Electron binary), saying why there is no Electron', async () => {
    const dataDir = fs.mkdtempSync(path.join(tmp, 'start-'));
    const r = run('npm', ['start', '--', ...headlessFlags(dataDir)], { ELECTRON_SKIP_BINARY_DOWNLOAD: '1' });
    const [, uiPort] = await r.line(URL_RE);
    const [, serverPort] = await r.line(EMBEDDED_RE);
    expect(r.output()).toContain(
      'Electron: no Electron binary installed: its download was skipped (ELECTRON_SKIP_BINARY_DOWNLOAD is set',
    );
    await stopsEverything(r, Number(uiPort), Number(serverPort));
  }, 240_000);
});

describe('the headless demo, as the docs run it', () => {
  let agent: Run;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(tmp, 'demo-'));
    agent = run(process.execPath, ['--import', 'tsx', 'electron/core/headless/main.ts', ...headlessFlags(dataDir)]);
    await agent.line(URL_RE);
  }, 120_000);

  it('has a demo DPI: the reference DPI gets the demo user’s token for its audience from the broker', async () => {
    // The command the agent prints, run as a person would (the secret read from its 0600 file).
    const [cmd] = await agent.line(/DPI de démonstration \/ demo DPI: .+/);
    const m = /REF_DPI_CLIENT_SECRET="\$\(cat (\S+)\)" node --import tsx (testbed\/reference-dpi\.ts .+)$/.exec(cmd)!;
    expect(fs.statSync(m[1]!).mode & 0o777).toBe(0o600);
    const dpi = spawn(process.execPath, ['--import', 'tsx', ...m[2]!.split(' ')], {
      cwd: ROOT,
      env: { ...process.env, REF_DPI_CLIENT_SECRET: fs.readFileSync(m[1]!, 'utf8') },
    });
    const lines: Record<string, unknown>[] = [];
    readline
      .createInterface({ input: dpi.stdout })
      .on('line', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
    const answer = async (kind: string) => {
      await waitFor(() => lines.some((l) => l.kind === kind || l.kind === 'error' || l.kind === 'fatal'), 20_000, kind);
      return lines.splice(0).find((l) => l.kind === kind || l.kind === 'error' || l.kind === 'fatal')!;
    };
    try {
      expect(await answer('ready')).toMatchObject({ app: 'dpi-demo' });
      const [, port, secret] = URL_RE.exec(agent.output())!;
      const ui = await wsClient(`ws://127.0.0.1:${port}/agent`, secret!, `http://127.0.0.1:${port}`);
      const pinPad = nextEvent(ui, (e) => e.event === 'session.state' && e.payload.kind === 'pin-required', 10_000);
      await ui.invoke('demo.insertCard', { cardId: 'cps-camille' });
      await pinPad;
      await ui.invoke('session.submitPin', { pin: '1234' });
      expect((await ui.invoke('session.getState', {})).kind).toBe('open');
      dpi.stdin.write('token\n');
      expect(await answer('token')).toMatchObject({
        kind: 'token',
        active: true,
        idnat: '899999000011',
        aud: 'https://dpi.demo.sillage.test',
      });
      await ui.invoke('session.lock', {});
      dpi.stdin.write('token\n');
      expect(await answer('error')).toMatchObject({ code: 'locked' });
      ui.close();
    } finally {
      dpi.kill();
    }
  }, 120_000);

  it('an agent killed with SIGKILL leaves no embedded server behind', async () => {
    const [, serverPort] = await agent.line(EMBEDDED_RE);
    const server = descendants(agent.proc.pid!);
    expect(server.length).toBeGreaterThanOrEqual(1);
    agent.proc.kill('SIGKILL');
    await agent.exited;
    await waitFor(() => server.every((p) => !alive(p)), 20_000, 'embedded server gone with its agent');
    expect(await portOpen(Number(serverPort))).toBe(false);
  }, 60_000);
});

describe('--server: the enrolment token is used once, the key is kept', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  }, 60_000);
  afterAll(async () => srv?.close());

  it('a restart with the same (spent) token reuses the stored key and logs in', async () => {
    const dataDir = fs.mkdtempSync(path.join(tmp, 'server-'));
    const env = { SILLAGE_ENROLMENT_TOKEN: await srv.token('PC-restart') };
    const start = async () => {
      const r = run(
        process.execPath,
        ['--import', 'tsx', 'electron/core/headless/main.ts', ...headlessFlags(dataDir, ['--server', srv.issuer])],
        env,
      );
      await r.line(URL_RE);
      return r;
    };
    const first = await start();
    first.proc.kill('SIGTERM');
    await first.exited;
    const sealed = fs.readFileSync(path.join(dataDir, 'workstation.sealed'));
    const second = await start();
    try {
      expect(second.output()).not.toContain('not registered');
      expect(fs.readFileSync(path.join(dataDir, 'workstation.sealed'))).toEqual(sealed);
      const registrations = readAuditFile(path.join(dataDir, 'audit.jsonl')).filter(
        (r) => r.action === 'workstation.registered',
      );
      expect(registrations).toMatchObject([{ outcome: 'success' }]);
      // The kept key signs the second run's requests: the server answers a badge with its owner's code pad.
      const [, port, secret] = URL_RE.exec(second.output())!;
      const ui = await wsClient(`ws://127.0.0.1:${port}/agent`, secret!, `http://127.0.0.1:${port}`);
      const pinPad = nextEvent(ui, (e) => e.event === 'session.state' && e.payload.kind === 'pin-required', 10_000);
      await ui.invoke('demo.tapBadge', { badgeId: 'badge-camille' });
      expect((await pinPad).payload).toMatchObject({ secondFactor: 'session-code' });
      ui.close();
    } finally {
      second.proc.kill('SIGTERM');
      await second.exited;
    }
  }, 120_000);
});
