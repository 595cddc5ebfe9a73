// The Electron main process: single instance, start at logon, the agent from the composition root
// (core/app/compose.ts, the same as headless mode's), one hardened lock window, the tray, and the OS
// events that lock the session. Everything here adapts the agent to Electron; nothing decides which
// readers, authenticator, broker or policies run.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { composeAgent } from '../core/app/compose';
import type { ComposedAgent, Platform, SettingsSources } from '../core/app/compose';
import { overridesFromArgv } from '../core/app/flags';
import { lockOperatingSystem } from '../core/app/os-lock';
import { connectSupervisor, RESTARTED_ENV, startSupervisor, SUPERVISOR_ENV } from '../core/app/supervisor';
import type { Supervisor, SupervisorLink } from '../core/app/supervisor';
import { defaultSocketPath } from '../core/broker/broker';
import { loadPolicyWatcher, ManagedPolicySource } from '../core/config/managed-source';
import type { CreateWatcher } from '../core/config/managed-source';
import { KeyValuePreferences } from '../core/config/preferences';
import type { KeyValueStore } from '../core/config/preferences';
import { JsonFilePolicySource } from '../core/config/store';
import type { PolicySource } from '../core/config/store';
import { embeddedServerIn } from '../core/demo/embedded-server';
import { Logger, machineLogDir } from '../core/logs/logger';
import { peerCredentials } from '../../native/peercred';
import { APP_SCHEME, APP_SCHEME_PRIVILEGES, appSchemeHandler } from './app-scheme';
import type { ShellElectron, ShellTray, ShellWindow } from './electron-api';
import { createIpcBridge } from './ipc';
import { shellPaths } from './paths';
import type { ShellPaths } from './paths';
import { safeStorageStore } from './secret-store';
import { createTray } from './tray';
import { applyWindowPlan, createLockWindow, DisplayCovers, guardLockWindow, hardenApp } from './window';

export interface ShellOptions {
  /** Directory of the bundled main process (dist/electron). */
  bundleDir: string;
  /** The preference store (electron-store in the app). */
  preferences: () => KeyValueStore;
  argv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Linux machine policy file. */
  linuxPolicyFile?: string;
  /** Windows registry / macOS managed preferences watcher (null where it is not built). */
  policyWatcher?: () => CreateWatcher | null;
  resourcesPath?: string;
  platform?: NodeJS.Platform;
  /** The agent's and supervisor's log directory (default: the machine's, see machineLogDir). */
  logDir?: string;
  /** Starts the agent process under the supervisor (default: this executable again, same arguments). */
  spawnAgent?: (env: Record<string, string>) => ChildProcess;
}

export interface RunningShell {
  agent: ComposedAgent;
  window: ShellWindow;
  covers: DisplayCovers;
  tray: ShellTray;
  paths: ShellPaths;
}

/** Machine policy: the registry (Windows) or managed preferences (macOS) by the native watcher, a file on Linux. */
async function machinePolicy(opts: ShellOptions, problems: string[]): Promise<PolicySource | null> {
  const platform = opts.platform ?? process.platform;
  if (platform === 'linux') return new JsonFilePolicySource(opts.linuxPolicyFile ?? '/etc/sillage/policy.json');
  const createWatcher = (opts.policyWatcher ?? loadPolicyWatcher)();
  if (!createWatcher) {
    problems.push('policy watcher not available: machine policy not read (defaults and preferences only)');
    return null;
  }
  const managed = new ManagedPolicySource(createWatcher, platform);
  await managed.start();
  return managed;
}

function shellPlatform(
  e: ShellElectron,
  paths: ShellPaths,
  env: NodeJS.ProcessEnv,
  supervisor: SupervisorLink | null,
  logDir: string | undefined,
  platform: NodeJS.Platform,
): Platform {
  const packaged = e.app.isPackaged;
  // A development run (npm start) can run the demo session server with the Node.js that started npm.
  const embeddedServer = packaged ? null : embeddedServerIn(paths.root, env.npm_node_execpath ?? null);
  return {
    mode: 'electron',
    packaged,
    hardware: { pcsc: true, hid: true },
    canEmbedServer: embeddedServer !== null,
    embeddedServer,
    nodeExecutable: packaged ? null : (env.npm_node_execpath ?? null),
    dataDir: e.app.getPath('userData'),
    logDir: logDir ?? machineLogDir(),
    secretStore: safeStorageStore(e.safeStorage, platform),
    workstationName: os.hostname(),
    brokerSocketPath: defaultSocketPath(),
    identifyPeer: peerCredentials,
    openUrl: (url) => e.shell.openExternal(url),
    lockOperatingSystem: () => lockOperatingSystem(),
    supervisor,
    restartedAfter: env[RESTARTED_ENV] ?? null,
  };
}

/**
 * The packaged app's first process is the supervisor (core/app/supervisor.ts): it runs the agent as a
 * second copy of this executable and, if that copy dies, locks or restarts (fail closed). It opens no
 * window and takes no single-instance lock (the agent does).
 */
export async function superviseDesktop(e: ShellElectron, opts: ShellOptions): Promise<Supervisor> {
  const argv = opts.argv ?? process.argv;
  const env = opts.env ?? process.env;
  const log = new Logger({ dir: opts.logDir ?? machineLogDir(), level: () => 'info', name: 'sillage-supervisor' });
  const sup = await startSupervisor({
    spawn:
      opts.spawnAgent ??
      ((extra) => spawn(process.execPath, argv.slice(1), { env: { ...env, ...extra }, stdio: 'inherit' })),
    lockOperatingSystem: () => lockOperatingSystem(),
    log: (m) => log.info(m),
  });
  e.app.on('will-quit', () => void sup.stop());
  void sup.done.then((code) => {
    log.close();
    e.app.exit(code);
  });
  return sup;
}

/** The desktop app: supervisor first on a ward PC (packaged), the agent itself otherwise. */
export async function runDesktop(e: ShellElectron, opts: ShellOptions): Promise<RunningShell | Supervisor | null> {
  const env = opts.env ?? process.env;
  if (e.app.isPackaged && !env[SUPERVISOR_ENV]) return superviseDesktop(e, opts);
  return startShell(e, opts);
}

/** Machine policy, electron-store preferences, and a development run's flags (never a packaged app's). */
async function shellSettings(
  e: ShellElectron,
  opts: ShellOptions,
  argv: string[],
  env: NodeJS.ProcessEnv,
): Promise<SettingsSources> {
  const problems: string[] = [];
  return {
    policy: await machinePolicy(opts, problems),
    preferences: new KeyValuePreferences(opts.preferences()),
    legacyPreferences: path.join(e.app.getPath('userData'), 'preferences.json'),
    overrides: e.app.isPackaged ? null : overridesFromArgv(argv.slice(1), env),
    problems,
  };
}

/**
 * The app up to its agent: --headless refused, another instance left to run (this one ends, not a crash),
 * the UI's scheme registered before `ready`, then the app hardened. Null when this process ends.
 */
async function readyApp(e: ShellElectron, argv: string[], env: NodeJS.ProcessEnv) {
  const { app } = e;
  if (argv.includes('--headless')) {
    // Headless mode is a development tool of the repository, never part of the packaged app.
    console.error('Sillage: --headless is not available in the desktop application.');
    app.exit(2);
    return null;
  }
  const supervisor = connectSupervisor(env);
  if (!app.requestSingleInstanceLock()) {
    // Another agent runs: this one and its supervisor end (not a crash to recover from).
    await supervisor?.stopping('another instance runs');
    app.quit();
    return null;
  }
  // The UI's origin, app://sillage, is registered before `ready` and answered from the bundled UI only.
  e.protocol.registerSchemesAsPrivileged([APP_SCHEME_PRIVILEGES]);
  await app.whenReady();
  const packaged = app.isPackaged;
  hardenApp(e);
  if (packaged) {
    app.setLoginItemSettings({ openAtLogin: true });
    // No application menu: none of its accelerators (close, reload, DevTools) exist on a ward PC.
    e.Menu.setApplicationMenu(null);
  }
  return { supervisor, packaged };
}

/** Runs the desktop app; resolves with its parts once up (null when another instance runs). */
export async function startShell(e: ShellElectron, opts: ShellOptions): Promise<RunningShell | null> {
  const { app } = e;
  const argv = opts.argv ?? process.argv;
  const env = opts.env ?? process.env;
  const ready = await readyApp(e, argv, env);
  if (!ready) return null;
  const { supervisor, packaged } = ready;
  const paths = shellPaths(app, opts.bundleDir, opts.resourcesPath);
  e.protocol.handle(APP_SCHEME, appSchemeHandler(paths.rendererDir));
  const agent = await composeAgent(
    await shellSettings(e, opts, argv, env),
    shellPlatform(e, paths, env, supervisor, opts.logDir, opts.platform ?? process.platform),
  );

  const win = createLockWindow(e, paths, { packaged });
  let quitting = false;
  // While the app quits (tray Quit, or any quit of a development run), the window closes like any other.
  const guard = { covering: () => !quitting && agent.window.current() === 'cover' };
  guardLockWindow(win, guard, { packaged, audit: agent.audit });
  const covers = new DisplayCovers(e, guard, { packaged, audit: agent.audit });
  createIpcBridge({
    ipcMain: e.ipcMain,
    api: agent.api,
    audit: agent.audit,
    target: () => (win.isDestroyed() ? null : win.webContents),
    rendererUrl: paths.rendererUrl,
  });
  /** Ends this agent (after telling its supervisor why), the window closing like any other. */
  const leave = (first: () => Promise<unknown>) => {
    quitting = true;
    void first()
      .then(() => agent.close())
      .finally(() => app.exit(0));
  };
  const focus = () => {
    if (win.isMinimized()) win.restore();
    win.show();
    win.focus();
  };
  app.on('second-instance', focus);
  const tray = createTray(e, paths.icon, agent, {
    showDiagnostic: () => {
      focus();
      win.webContents.executeJavaScript("location.hash = '#diagnostic'; location.reload()").catch(() => {});
    },
    quit: () => agent.policy().allowQuit && leave(async () => agent.supervisor?.stopping('quit (AllowQuit)')),
  });
  // The lock plan of the composition (LockMode): the window covers or steps aside.
  const apply = (plan: 'cover' | 'release' | 'keep') => applyWindowPlan(win, covers, plan, { kiosk: packaged });
  apply(agent.window.current());
  agent.window.changed.add(apply);
  // Settings that make the agent changed (a GPO after start): composed again, by the supervisor on a ward PC.
  agent.restartNeeded.add((reason) =>
    leave(async () => (agent.supervisor ? agent.supervisor.restart(reason) : app.relaunch())),
  );
  e.powerMonitor.on('lock-screen', () => agent.lock('os-lock'));
  e.powerMonitor.on('suspend', () => agent.lock('os-lock'));
  // Closing the window hides it: the agent lives in the tray.
  app.on('window-all-closed', () => {});
  // On a ward PC only the tray's Quit (when policy allows it) ends the app: not a menu's or the dock's.
  app.on('before-quit', (ev: { preventDefault(): void }) => {
    if (packaged && !quitting) ev.preventDefault();
    else quitting = true;
  });
  return { agent, window: win, covers, tray, paths };
}
