// The desktop app's main process (electron/shell/shell.ts) run in Node against a recorded TEST DOUBLE of the
// electron module (electron-double.ts): which settings reach which adapter, that the broker starts, that
// the lock plan is applied to the window, that no demo backend exists without DemoMode, that a packaged
// app without ServerUrl opens nothing, that the lock overlay refuses every close path, and that the shell
// and headless mode build the same agent from the same settings.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IPC_COMMAND_CHANNEL } from '../../shared/contract';
import type { ComposedAgent } from '../../electron/core/app/compose';
import { composeAgent } from '../../electron/core/app/compose';
import { confPreferences } from '../../electron/core/config/preferences';
import { headlessPlatform, headlessSettings, parseHeadlessArgs } from '../../electron/core/headless/main';
import { runDesktop, startShell } from '../../electron/shell/shell';
import type { Supervisor } from '../../electron/core/app/supervisor';
import { spawn } from 'node:child_process';
import { waitFor } from '../../testbed/pcscd';
import type { RunningShell } from '../../electron/shell/shell';
import { startTestServer } from '../app/session-server';
import { APP_SCHEME_PRIVILEGES, CSP } from '../../electron/shell/app-scheme';
import { electronDouble } from './electron-double';

const ROOT = path.resolve(__dirname, '../..');
let tmp: string;
const running: { close(): Promise<void> }[] = [];

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-shell-'));
  // No PC/SC daemon for these agents, and the broker socket in a private directory.
  process.env.PCSCLITE_CSOCK_NAME = path.join(tmp, 'no-pcscd.sock');
  process.env.XDG_RUNTIME_DIR = path.join(tmp, 'run');
});
afterEach(async () => {
  for (const r of running.splice(0)) await r.close();
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** Starts the shell on the double, with this machine policy and argv. */
async function shell(opts: {
  packaged: boolean;
  policy?: Record<string, unknown>;
  argv?: string[];
  displays?: number;
  storageBackend?: 'basic_text' | 'gnome_libsecret';
}) {
  const dir = fs.mkdtempSync(path.join(tmp, 'app-'));
  const policyFile = path.join(dir, 'policy.json');
  fs.writeFileSync(policyFile, JSON.stringify(opts.policy ?? {}));
  const double = electronDouble({
    packaged: opts.packaged,
    userData: path.join(dir, 'userData'),
    displays: Array.from({ length: opts.displays ?? 1 }, (_, i) => ({ x: i * 1280, y: 0, width: 1280, height: 800 })),
    ...(opts.storageBackend ? { storageBackend: opts.storageBackend } : {}),
  });
  const s = (await startShell(double.electron, {
    bundleDir: path.join(ROOT, 'dist', 'electron'),
    preferences: () => confPreferences(path.join(dir, 'userData')) as never,
    argv: ['electron', ...(opts.argv ?? [])],
    env: {},
    linuxPolicyFile: policyFile,
    platform: 'linux',
    logDir: path.join(dir, 'logs'),
  })) as RunningShell;
  running.push(s.agent);
  return { ...double, s, dir, policyFile, win: double.windows[0]! };
}

const ui = (agent: ComposedAgent, cmd: string, req = {}) => agent.api.handle(cmd, req, { transport: 'inproc' });

/** What an agent is: its plan and what it shows of itself. Two agents built alike have the same. */
function fingerprint(agent: ComposedAgent) {
  return {
    plan: agent.plan,
    readers: agent.getReaders().map((r) => r.transport),
    policy: { ...agent.policy(), locked: agent.policy().locked },
    broker: { socket: agent.brokerEndpoints.socket !== null, http: agent.brokerEndpoints.http !== null },
    config: agent.config.masked(),
    demo: agent.demoReaders !== null,
  };
}

describe('packaged app without ServerUrl', () => {
  it('shows "non configuré", opens nothing (no reader, no demo, no broker) and audits why', async () => {
    const { s, win, applicationMenu, trays } = await shell({ packaged: true });
    const agent = s.agent;
    expect(agent.plan.authenticator).toEqual({ kind: 'not-configured', setting: 'ServerUrl', problem: null });
    expect(agent.policy().notConfigured).toEqual({ setting: 'ServerUrl', problem: null });
    expect(agent.demoReaders).toBeNull();
    expect(agent.getReaders()).toEqual([]);
    expect(agent.brokerEndpoints).toEqual({ socket: null, http: null });
    expect(await ui(agent, 'demo.insertCard', { cardId: 'cps-camille' })).toMatchObject({
      ok: false,
      error: { code: 'not-allowed' },
    });
    expect(agent.audit.recent(50).find((r) => r.action === 'agent.not-configured')).toMatchObject({
      outcome: 'failure',
      reason: expect.stringContaining('ServerUrl vide'),
    });
    // The diagnostic stays reachable.
    expect(await ui(agent, 'diagnostics.get')).toMatchObject({
      ok: true,
      result: { notConfigured: { setting: 'ServerUrl' } },
    });
    // The lock window covers the screen, on top, in kiosk mode, without a menu, DevTools or a close button.
    expect(win.visible && win.kiosk).toBe(true);
    expect(win.alwaysOnTop).toBe('screen-saver');
    expect(win.options.closable).toBe(false);
    expect(win.options.webPreferences).toMatchObject({ devTools: false, sandbox: true, contextIsolation: true });
    expect(applicationMenu()).toBeNull();
    // No Quit on a ward PC's tray.
    expect(trays[0]!.menu!.map((i) => i.label)).not.toContain('Quitter');
    expect(trays[0]!.tooltip).toBe('Sillage — poste non configuré');
  });

  it('names a refused ServerUrl (http:// to a remote host) in the notice', async () => {
    const { s } = await shell({ packaged: true, policy: { ServerUrl: 'http://sso.hopital.fr' } });
    expect(s.agent.policy().notConfigured).toEqual({
      setting: 'ServerUrl',
      problem: expect.stringContaining('ServerUrl : valeur refusée (HTTPS obligatoire'),
    });
  });

  it('reads no setting from its command line (a shortcut cannot turn demo mode on)', async () => {
    const { s } = await shell({ packaged: true, argv: ['--demo', '--server', 'https://evil.example'] });
    expect(s.agent.plan.demo).toBe(false);
    expect(s.agent.plan.authenticator.kind).toBe('not-configured');
  });
});

describe('settings reach their adapters in the packaged app', () => {
  it('ServerUrl, broker apps, HTTP port, DMP template, lock mode: broker up, no demo backend', async () => {
    const port = await freePort();
    const policy = {
      ServerUrl: 'http://127.0.0.1:9',
      BrokerApplications: [{ id: 'dpi', name: 'DPI', executable: '/opt/dpi/bin/dpi', audiences: ['https://dpi.test'] }],
      BrokerHttpPort: port,
      DmpUrlTemplate: 'https://dmp.example/ps?ins={ins}',
      LockMode: 'os',
      InactivityLockMinutes: 3,
      Language: 'en',
    };
    const { s, ipcHandlers } = await shell({ packaged: true, policy });
    const agent = s.agent;
    expect(agent.plan).toMatchObject({
      demo: false,
      authenticator: { kind: 'session-server', url: 'http://127.0.0.1:9' },
      readers: { pcsc: true, hid: true, demo: false },
      broker: { apps: policy.BrokerApplications, httpPort: port, dmpUrlTemplate: policy.DmpUrlTemplate },
      lockMode: 'os',
      inactivityMs: 3 * 60_000,
    });
    expect(agent.demoReaders).toBeNull();
    expect(agent.getReaders().every((r) => r.transport !== 'demo')).toBe(true);
    expect(agent.brokerEndpoints.socket).toBe(path.join(process.env.XDG_RUNTIME_DIR!, 'sillage', 'broker.sock'));
    expect(fs.statSync(agent.brokerEndpoints.socket!).isSocket()).toBe(true);
    expect(agent.brokerEndpoints.http).toBe(`http://127.0.0.1:${port}`);
    // An unknown HTTP client is refused by the broker that runs there.
    const r = await fetch(`http://127.0.0.1:${port}/v1/context`, { headers: { authorization: 'Bearer nope' } });
    expect(r.status).toBe(401);
    expect(agent.policy()).toMatchObject({ dmp: true, lang: 'en', demo: false, allowQuit: false });
    expect(ipcHandlers.has(IPC_COMMAND_CHANNEL)).toBe(true);
  });

  it('registers once with the enrolment token and keeps the key sealed by safeStorage in the profile', async () => {
    const srv = await startTestServer();
    try {
      const policy = { ServerUrl: srv.issuer, EnrolmentToken: await srv.token('PC-shell') };
      const first = await shell({ packaged: true, policy });
      const sealed = fs.readFileSync(path.join(first.dir, 'userData', 'workstation.sealed'));
      expect(sealed.subarray(0, 7).toString()).toBe('DOUBLE:');
      expect(sealed.toString()).not.toContain('"privateJwk"');
      expect(first.s.agent.audit.recent(50).find((r) => r.action === 'workstation.registered')).toMatchObject({
        outcome: 'success',
        reason: expect.stringContaining('sealed by: safeStorage'),
      });
      expect(await ui(first.s.agent, 'diagnostics.get')).toMatchObject({
        result: { workstation: { secretStorage: 'safeStorage — trousseau gnome_libsecret', problem: null } },
      });
    } finally {
      await srv.close();
    }
  });

  it("refuses Linux's basic_text safeStorage (no keyring) unless AllowBasicTextSecretStorage allows it", async () => {
    const srv = await startTestServer();
    try {
      const refused = await shell({
        packaged: true,
        storageBackend: 'basic_text',
        policy: { ServerUrl: srv.issuer, EnrolmentToken: await srv.token('PC-basic') },
      });
      expect(fs.existsSync(path.join(refused.dir, 'userData', 'workstation.sealed'))).toBe(false);
      expect(refused.s.agent.audit.recent(50).find((r) => r.action === 'workstation.registered')).toMatchObject({
        outcome: 'failure',
        reason: expect.stringContaining('basic_text refusé'),
      });
      expect(await ui(refused.s.agent, 'diagnostics.get')).toMatchObject({
        result: {
          workstation: {
            key: 'none',
            secretStorage: expect.stringContaining('basic_text'),
            problem: expect.any(String),
          },
        },
      });
      const allowed = await shell({
        packaged: true,
        storageBackend: 'basic_text',
        policy: {
          ServerUrl: srv.issuer,
          EnrolmentToken: await srv.token('PC-basic-ok'),
          AllowBasicTextSecretStorage: 1,
        },
      });
      expect(fs.existsSync(path.join(allowed.dir, 'userData', 'workstation.sealed'))).toBe(true);
    } finally {
      await srv.close();
    }
  });

  it('serves the UI from app://sillage (registered before ready), refuses paths out of it, trusts only that frame', async () => {
    const { win, privileged, protocols, ipcHandlers } = await shell({ packaged: true });
    expect(privileged).toEqual([APP_SCHEME_PRIVILEGES]);
    expect(win.loaded).toBe('app://sillage/index.html');
    const handler = protocols.get('app')!;
    const outside = await handler(new Request('app://sillage/..%2F..%2Fpackage.json'));
    expect(outside.status).toBe(404);
    expect(outside.headers.get('content-security-policy')).toBe(CSP);
    const invoke = ipcHandlers.get(IPC_COMMAND_CHANNEL)!;
    const from = (url: string) => {
      win.webContents.mainFrame.url = url;
      return invoke(
        { sender: { id: win.webContents.id }, senderFrame: win.webContents.mainFrame },
        'session.getState',
        {},
      );
    };
    expect(await from('app://sillage/index.html#diagnostic')).toMatchObject({ ok: true });
    const root = path.resolve(ROOT, 'renderer', 'dist', 'index.html');
    expect(await from(`file://${root}`)).toMatchObject({ ok: false, error: { code: 'not-allowed' } });
    expect(await from('app://sillage/other.html')).toMatchObject({ ok: false, error: { code: 'not-allowed' } });
  });

  it('does not register (and says why) without an enrolment token', async () => {
    const { s, dir } = await shell({ packaged: true, policy: { ServerUrl: 'http://127.0.0.1:9' } });
    expect(s.agent.plan.authenticator.kind).toBe('session-server');
    expect(fs.existsSync(path.join(dir, 'userData', 'workstation.sealed'))).toBe(false);
    expect(s.agent.audit.recent(50).find((r) => r.action === 'workstation.registered')).toMatchObject({
      outcome: 'failure',
      reason: expect.stringContaining('EnrolmentToken'),
    });
  });
});

describe('the lock plan and the overlay', () => {
  it('covers while locked, steps aside when a session opens, covers again at the lock', async () => {
    const { s, win } = await shell({ packaged: true, policy: { DemoMode: 1 } });
    const agent = s.agent;
    expect(agent.plan.authenticator.kind).toBe('local-demo');
    expect(win.visible && win.kiosk).toBe(true);
    await ui(agent, 'demo.insertCard', { cardId: 'cps-camille' });
    await expect.poll(() => agent.getState().kind).toBe('pin-required');
    await ui(agent, 'session.submitPin', { pin: '1234' });
    expect(agent.getState().kind).toBe('open');
    expect(win.visible).toBe(false);
    expect(win.kiosk).toBe(false);
    expect(win.alwaysOnTop).toBe(false);
    await ui(agent, 'demo.removeCard');
    expect(agent.getState()).toEqual({ kind: 'locked', reason: 'card-removed' });
    expect(win.visible && win.kiosk).toBe(true);
    expect(win.alwaysOnTop).toBe('screen-saver');
  });

  it('refuses every close path while locked: Alt+F4 / taskbar close, hide, minimise, keys, DevTools, quit', async () => {
    const { s, win, appEvents } = await shell({ packaged: true });
    expect(win.tryClose()).toBe(true);
    expect(win.visible).toBe(true);
    win.osHide();
    expect(win.visible).toBe(true);
    win.osMinimize();
    expect(win.visible && !win.minimized).toBe(true);
    win.visible = false;
    win.emit('blur');
    expect(win.visible).toBe(true);
    for (const key of [
      { key: 'w', control: true },
      { key: 'F4', alt: true },
      { key: 'q', control: true },
      { key: 'r', control: true },
      { key: 'F5' },
      { key: 'F12' },
      { key: 'I', control: true, shift: true },
      { key: 'w', meta: true },
    ])
      expect(win.webContents.press(key), JSON.stringify(key)).toBe(true);
    // Typing a PIN is not a dismissal.
    expect(win.webContents.press({ key: '4' })).toBe(false);
    win.webContents.emit('devtools-opened');
    expect(win.webContents.devToolsClosed).toBe(1);
    const quit = { defaultPrevented: false, preventDefault: () => (quit.defaultPrevented = true) };
    appEvents.emit('before-quit', quit);
    expect(quit.defaultPrevented).toBe(true);
    const refused = s.agent.audit.recent(50).filter((r) => r.action === 'overlay.dismiss-refused');
    expect(refused.map((r) => r.reason)).toEqual(['close', 'hide', 'minimize']);
  });

  it('covers every other display while locked, and only then', async () => {
    const { s, windows } = await shell({ packaged: true, policy: { DemoMode: 1 }, displays: 3 });
    const covers = windows.slice(1);
    expect(covers).toHaveLength(2);
    expect(covers.map((w) => w.bounds?.x)).toEqual([1280, 2560]);
    expect(covers.every((w) => w.visible && w.alwaysOnTop === 'screen-saver' && w.options.closable === false)).toBe(
      true,
    );
    expect(covers[0]!.tryClose()).toBe(true);
    await ui(s.agent, 'demo.insertCard', { cardId: 'cps-camille' });
    await expect.poll(() => s.agent.getState().kind).toBe('pin-required');
    await ui(s.agent, 'session.submitPin', { pin: '1234' });
    expect(covers.every((w) => w.destroyed)).toBe(true);
    expect(s.covers.count()).toBe(0);
  });

  it('when a session is open, closing the window hides it (the agent lives in the tray)', async () => {
    const { s, win } = await shell({ packaged: false, argv: ['--local-demo'] });
    await ui(s.agent, 'demo.insertCard', { cardId: 'cps-louis' });
    await expect.poll(() => s.agent.getState().kind).toBe('pin-required');
    await ui(s.agent, 'session.submitPin', { pin: '1234' });
    win.visible = true;
    expect(win.tryClose()).toBe(true);
    expect(win.visible).toBe(false);
  });
});

describe('development runs (npm start)', () => {
  it('demo on and Quit allowed by default; --no-demo without a server is "non configuré"', async () => {
    const dev = await shell({ packaged: false });
    expect(dev.s.agent.plan.demo).toBe(true);
    expect(dev.s.agent.policy()).toMatchObject({ demo: true, allowQuit: true });
    expect(dev.win.options.webPreferences?.devTools).toBe(true);
    expect(dev.applicationMenu()).toBe('default');
    // The tray offers Quit there (AllowQuit), and Quit ends the app.
    const quit = dev.trays[0]!.menu!.find((i) => i.label === 'Quitter')!;
    quit.click!(undefined as never, undefined as never, undefined as never);
    await waitFor(() => dev.exited() === 0, 5000, 'app exit');
    const off = await shell({ packaged: false, argv: ['--no-demo'] });
    expect(off.s.agent.plan.authenticator.kind).toBe('not-configured');
    expect(off.s.agent.demoReaders).toBeNull();
  });
});

describe('the shell and headless mode build the same agent from the same settings', () => {
  const configurations: [string, Record<string, unknown>, string[]][] = [
    [
      'a ward PC on its session server',
      {
        ServerUrl: 'http://127.0.0.1:9',
        BrokerApplications: [{ id: 'dpi', name: 'DPI', executable: '/opt/dpi', audiences: ['https://dpi.test'] }],
        DmpUrlTemplate: 'https://dmp.example/ps?ins={ins}',
        DegradedCpsLogin: 1,
        CpsTrustAnchorsFile: '/etc/sillage/igc-sante.pem',
        MfaWindowMinutes: 120,
        LockMode: 'os',
        TapDebounceMs: 900,
        AllowUidOnlyBadges: 1,
        Language: 'en',
      },
      [],
    ],
    ['a demo PC (training room)', { DemoMode: 1, InactivityLockMinutes: 0 }, []],
    ['no server, no demo', { DemoMode: 0 }, []],
  ];
  for (const [name, policy, argv] of configurations)
    it(name, async () => {
      const app = await shell({ packaged: false, policy, argv: [...argv, '--local-demo'] });
      const dataDir = fs.mkdtempSync(path.join(tmp, 'headless-'));
      const values = parseHeadlessArgs(['--pcsc', '--hid', '--local-demo', '--policy-file', app.policyFile, ...argv]);
      const headless = await composeAgent(headlessSettings(values, dataDir), headlessPlatform(values, dataDir));
      running.push(headless);
      expect(fingerprint(headless)).toEqual(fingerprint(app.s.agent));
    });

  it('and a difference shows (the comparison can fail)', async () => {
    const app = await shell({ packaged: false, policy: { DemoMode: 1 }, argv: ['--local-demo'] });
    const dataDir = fs.mkdtempSync(path.join(tmp, 'headless-'));
    const values = parseHeadlessArgs(['--local-demo', '--policy-file', app.policyFile]);
    const headless = await composeAgent(headlessSettings(values, dataDir), headlessPlatform(values, dataDir));
    running.push(headless);
    // Headless without --pcsc/--hid opens no reader hardware: not the same agent.
    expect(fingerprint(headless)).not.toEqual(fingerprint(app.s.agent));
  });
});

describe('a setting the agent is composed from changes after start (a GPO arriving late)', () => {
  const relaunched = (calls: { target: string; method: string }[]) =>
    calls.some((c) => c.target === 'app' && c.method === 'relaunch') &&
    calls.some((c) => c.target === 'app' && c.method === 'exit');

  it('the not-configured PC is composed again as soon as ServerUrl arrives', async () => {
    const { s, calls, policyFile } = await shell({ packaged: true });
    expect(s.agent.plan.authenticator.kind).toBe('not-configured');
    fs.writeFileSync(`${policyFile}.tmp`, JSON.stringify({ ServerUrl: 'https://sso.hopital.fr' }));
    fs.renameSync(`${policyFile}.tmp`, policyFile);
    await waitFor(() => relaunched(calls), 10_000, 'relaunch');
    expect(s.agent.audit.recent(20).find((r) => r.action === 'agent.restart')).toMatchObject({
      outcome: 'info',
      reason: 'réglages modifiés : ServerUrl',
    });
  });

  it('never while a session is open: at the next lock', async () => {
    const { s, calls, policyFile } = await shell({ packaged: true, policy: { DemoMode: 1 } });
    await ui(s.agent, 'demo.insertCard', { cardId: 'cps-camille' });
    await expect.poll(() => s.agent.getState().kind).toBe('pin-required');
    await ui(s.agent, 'session.submitPin', { pin: '1234' });
    fs.writeFileSync(
      `${policyFile}.tmp`,
      JSON.stringify({ DemoMode: 1, DmpUrlTemplate: 'https://dmp.example/?ins={ins}' }),
    );
    fs.renameSync(`${policyFile}.tmp`, policyFile);
    await waitFor(() => s.agent.config.value('DmpUrlTemplate') !== '', 10_000, 'policy read');
    expect(relaunched(calls)).toBe(false);
    expect(s.agent.getState().kind).toBe('open');
    await ui(s.agent, 'demo.removeCard');
    await waitFor(() => relaunched(calls), 10_000, 'relaunch after the lock');
  });
});

describe('fail closed: the packaged app supervises its agent', () => {
  it('starts the agent as a second process with the supervisor channel, opens no window, restarts it when killed', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'sup-'));
    const double = electronDouble({ packaged: true, userData: path.join(dir, 'userData') });
    const envs: Record<string, string>[] = [];
    const sup = (await runDesktop(double.electron, {
      bundleDir: path.join(ROOT, 'dist', 'electron'),
      preferences: () => confPreferences(dir) as never,
      env: {},
      logDir: path.join(dir, 'logs'),
      spawnAgent: (env) => {
        envs.push(env);
        return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      },
    })) as Supervisor;
    running.push({ close: async () => void (await sup.stop()) });
    expect(double.windows).toHaveLength(0);
    expect(envs[0]).toMatchObject({
      SILLAGE_SUPERVISOR: expect.any(String),
      SILLAGE_SUPERVISOR_TOKEN: expect.any(String),
    });
    process.kill(sup.pid()!, 'SIGKILL');
    await waitFor(() => envs.length === 2, 10_000, 'agent restarted');
    expect(envs[1]!.SILLAGE_RESTARTED_AFTER).toBe('previous agent killed by SIGKILL');
    expect(fs.readFileSync(path.join(dir, 'logs', 'sillage-supervisor.log'), 'utf8')).toContain('killed by SIGKILL');
  });
});
