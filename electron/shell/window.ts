// The one window: lock screen and PIN pad. Sandboxed renderer, no Node, no navigation, no new windows,
// no permissions, CSP as a response header on top of the page's meta CSP.
import { BrowserWindow, app, session } from 'electron';
import { preloadPath, rendererIndex } from './paths';

export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Applied to every webContents the app ever creates, not only ours. */
export function hardenApp(): void {
  app.on('web-contents-created', (_e, contents) => {
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
    contents.on('will-navigate', (e) => e.preventDefault());
    contents.on('will-redirect', (e) => e.preventDefault());
    contents.on('will-attach-webview', (e) => e.preventDefault());
  });
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  session.defaultSession.webRequest.onHeadersReceived((details, cb) => {
    cb({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });
}

export function createLockWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1100,
    height: 760,
    show: false,
    title: 'Sillage',
    autoHideMenuBar: true,
    webPreferences: {
      preload: preloadPath(),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      spellcheck: false,
    },
  });
  void win.loadFile(rendererIndex());
  win.once('ready-to-show', () => win.show());
  return win;
}

/** Applies the lock plan (core/session/lock-mode.ts) to the window. */
export function applyWindowPlan(
  win: BrowserWindow,
  plan: 'cover' | 'release' | 'keep',
  opts: { kiosk: boolean },
): void {
  if (win.isDestroyed() || plan === 'keep') return;
  if (plan === 'cover') {
    // Above the taskbar and other windows while nobody is in; kiosk keeps Alt+Tab users out of it.
    // Not in development runs (unpackaged): a developer's screen is not a ward PC.
    if (opts.kiosk) {
      win.setAlwaysOnTop(true, 'screen-saver');
      win.setKiosk(true);
    }
    win.show();
    win.focus();
  } else {
    win.setKiosk(false);
    win.setAlwaysOnTop(false);
    win.hide();
  }
}
