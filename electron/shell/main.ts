// Electron main process: single instance, start at logon, the agent core, one hardened window, the tray,
// and OS lock/sleep events that lock the session.
import { app, ipcMain, powerMonitor } from 'electron';
import type { BrowserWindow } from 'electron';
import path from 'node:path';
import { createAgent } from '../core/agent';
import { AuditLog } from '../core/audit/audit';
import { ConfigStore, JsonFilePolicySource, JsonPreferenceStore } from '../core/config/store';
import type { PolicySource } from '../core/config/store';
import { loadPolicyWatcher, ManagedPolicySource } from '../core/config/managed-source';
import { ServerAuthenticator } from '../core/auth/server-authenticator';
import { Logger, machineLogDir } from '../core/logs/logger';
import type { LogLevel } from '../core/logs/logger';
import { lazyClient } from '../core/oidc/server-client';
import { readersFromConfig } from '../core/readers/from-config';
import { systemClock } from '../core/util/clock';
import { createIpcBridge } from './ipc';
import { workstationCredentials } from './workstation';
import { rendererUrl } from './paths';
import { createTray } from './tray';
import { applyWindowPlan, createLockWindow, hardenApp } from './window';
import { planLock } from '../core/session/lock-mode';
import type { LockMode } from '../core/session/lock-mode';
import type { SessionState } from '../../shared/contract';
import { lockOperatingSystem } from './os-lock';

if (process.argv.includes('--headless')) {
  // Headless mode is a development tool of the repository, never part of the packaged app.
  console.error('Sillage: --headless is not available in the desktop application.');
  app.exit(2);
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  let win: BrowserWindow | null = null;
  const focus = () => {
    if (!win || win.isDestroyed()) win = createLockWindow();
    if (win.isMinimized()) win.restore();
    win.show();
    win.focus();
  };
  app.on('second-instance', focus);

  app.whenReady().then(async () => {
    hardenApp();
    if (app.isPackaged) app.setLoginItemSettings({ openAtLogin: true });
    // One audit trail (one hash chain) for the configuration and the agent.
    const audit = new AuditLog({ file: path.join(app.getPath('userData'), 'audit.jsonl') });
    // Machine policy: the registry (Windows) or managed preferences (macOS) through the native policy
    // watcher, /etc/sillage/policy.json on Linux.
    let policy: PolicySource | null = null;
    if (process.platform === 'linux') policy = new JsonFilePolicySource('/etc/sillage/policy.json');
    else {
      const createWatcher = loadPolicyWatcher();
      if (createWatcher) {
        const managed = new ManagedPolicySource(createWatcher);
        await managed.start();
        policy = managed;
      } else
        audit.record({
          action: 'config.rejected',
          outcome: 'failure',
          reason: 'policy watcher not available: machine policy not read (defaults and preferences only)',
        });
    }
    const config = new ConfigStore({
      policy,
      preferences: new JsonPreferenceStore(path.join(app.getPath('userData'), 'preferences.json')),
      audit,
    });
    config.watch();
    // With a session server configured: the real readers and the server authenticator (workstation key
    // sealed by the OS); without one, the demo readers and the local demo authenticator.
    const serverUrl = config.value<string>('ServerUrl');
    const serverClient = serverUrl
      ? lazyClient(
          serverUrl,
          workstationCredentials(serverUrl, config, path.join(app.getPath('userData'), 'workstation.sealed')),
        )
      : null;
    const real = serverClient
      ? readersFromConfig(config, {
          pcsc: true,
          hid: true,
          serverClient,
          warn: (m) => audit.record({ action: 'readers.config', outcome: 'failure', reason: m }),
        })
      : null;
    const logger = new Logger({ dir: machineLogDir(), level: () => config.value<LogLevel>('LogLevel') });
    logger.info('agent starting', { version: app.getVersion(), server: Boolean(serverUrl) });
    const agent = await createAgent({
      logger,
      mode: 'electron',
      demo: !serverClient,
      dataDir: app.getPath('userData'),
      allowQuit: !app.isPackaged,
      config,
      audit,
      ...(serverClient
        ? { authenticator: new ServerAuthenticator({ client: serverClient, clock: systemClock }), serverUrl }
        : {}),
      ...(real ? { readers: real.readers, ...(real.cryptolib ? { cryptolib: real.cryptolib } : {}) } : {}),
    });
    win = createLockWindow();
    createIpcBridge({
      ipcMain,
      api: agent.api,
      audit: agent.audit,
      target: () => (win && !win.isDestroyed() ? win.webContents : null),
      rendererUrl: rendererUrl(),
    });
    createTray(agent, {
      showDiagnostic: () => {
        focus();
        win?.webContents.executeJavaScript("location.hash = '#diagnostic'; location.reload()").catch(() => {});
      },
      quit: () => {
        if (agent.policy().allowQuit) void agent.stop().finally(() => app.exit(0));
      },
    });
    const applyLockPlan = (from: SessionState, to: SessionState) => {
      const plan = planLock(config.value<LockMode>('LockMode'), from, to);
      if (win && !win.isDestroyed()) applyWindowPlan(win, plan.window, { kiosk: app.isPackaged });
      if (plan.lockOs) {
        lockOperatingSystem().then(
          () => agent.audit.record({ action: 'os.locked', outcome: 'info', reason: 'LockMode=os' }),
          (e: Error) => agent.audit.record({ action: 'os.locked', outcome: 'failure', reason: e.message }),
        );
      }
    };
    let prev = agent.getState();
    applyLockPlan(prev, prev);
    agent.engine.onState.add((next) => {
      applyLockPlan(prev, next);
      prev = next;
    });
    powerMonitor.on('lock-screen', () => agent.lock('os-lock'));
    powerMonitor.on('suspend', () => agent.lock('os-lock'));
    // Closing the window hides it: the agent lives in the tray.
    app.on('window-all-closed', () => {});
  });
}
