// Electron main process: single instance, start at logon, the agent core, one hardened window, the tray,
// and OS lock/sleep events that lock the session.
import { app, ipcMain, powerMonitor } from 'electron';
import type { BrowserWindow } from 'electron';
import { createAgent } from '../core/agent';
import { createIpcBridge } from './ipc';
import { rendererUrl } from './paths';
import { createTray } from './tray';
import { createLockWindow, hardenApp } from './window';

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
    // Demo readers until real readers are configured (PC/SC, HID backends come with their issues).
    const agent = await createAgent({ mode: 'electron', demo: true, dataDir: app.getPath('userData'), allowQuit: !app.isPackaged });
    win = createLockWindow();
    createIpcBridge({ ipcMain, api: agent.api, audit: agent.audit, target: () => (win && !win.isDestroyed() ? win.webContents : null), rendererUrl: rendererUrl() });
    createTray(agent, {
      showDiagnostic: () => {
        focus();
        win?.webContents.executeJavaScript("location.hash = '#diagnostic'; location.reload()").catch(() => {});
      },
      quit: () => {
        if (agent.policy().allowQuit) void agent.stop().finally(() => app.exit(0));
      },
    });
    powerMonitor.on('lock-screen', () => agent.lock('os-lock'));
    powerMonitor.on('suspend', () => agent.lock('os-lock'));
    // Closing the window hides it: the agent lives in the tray.
    app.on('window-all-closed', () => {});
  });
}
