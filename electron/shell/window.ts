// The one window: lock screen and PIN pad, loaded from app://sillage (app-scheme.ts). Sandboxed renderer,
// no Node, no navigation, no new windows, no permissions, CSP as a response header on top of the page's
// meta CSP. While it covers the screen
// (nobody in), nothing dismisses it: no close path (Alt+F4, the taskbar, Ctrl+W, the menu's
// accelerators), no DevTools in the packaged app, re-shown and re-focused when hidden, and plain cover
// windows on every other display.
import type { Input } from 'electron';
import type { AuditSink } from '../core/audit/audit';
import { CSP } from './app-scheme';
import type { LockPlan } from '../core/session/lock-mode';
import type { ShellElectron, ShellWindow } from './electron-api';
import type { ShellPaths } from './paths';

/** Applied to every webContents the app ever creates, not only ours. */
export function hardenApp(e: ShellElectron): void {
  e.app.on(
    'web-contents-created',
    (
      _ev: unknown,
      contents: {
        setWindowOpenHandler(h: () => { action: 'deny' }): void;
        on(event: string, l: (ev: { preventDefault(): void }) => void): void;
      },
    ) => {
      contents.setWindowOpenHandler(() => ({ action: 'deny' }));
      contents.on('will-navigate', (ev) => ev.preventDefault());
      contents.on('will-redirect', (ev) => ev.preventDefault());
      contents.on('will-attach-webview', (ev) => ev.preventDefault());
    },
  );
  const s = e.session.defaultSession;
  s.setPermissionRequestHandler((_wc, _perm, cb) => cb(false));
  s.setPermissionCheckHandler(() => false);
  s.webRequest.onHeadersReceived((details, cb) => {
    cb({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });
}

export function createLockWindow(e: ShellElectron, paths: ShellPaths, opts: { packaged: boolean }): ShellWindow {
  const win = new e.BrowserWindow({
    width: 1100,
    height: 760,
    show: false,
    title: 'Sillage',
    autoHideMenuBar: true,
    // A ward PC's lock screen has no close button and no close path (see guardLockWindow).
    closable: !opts.packaged,
    webPreferences: {
      preload: paths.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      spellcheck: false,
      devTools: !opts.packaged,
    },
  });
  void win.loadURL(paths.rendererUrl);
  win.once('ready-to-show', () => win.show());
  return win;
}

/** Keys that close, reload or inspect a window in Chromium and Electron's default menu. */
export function isDismissKey(input: Pick<Input, 'type' | 'key' | 'control' | 'meta' | 'alt' | 'shift'>): boolean {
  if (input.type !== 'keyDown') return false;
  const key = input.key.toLowerCase();
  const mod = input.control || input.meta;
  if (mod && ['w', 'q', 'r', 'n', 't', 'm', 'h'].includes(key)) return true;
  if (mod && input.shift && ['i', 'j', 'c'].includes(key)) return true;
  if (input.alt && key === 'f4') return true;
  return ['f5', 'f11', 'f12'].includes(key);
}

export interface LockWindowGuard {
  /** Whether the window covers the screen now (nobody in): every dismissal is refused. */
  covering(): boolean;
}

/**
 * Refuses every close path while the window covers the screen, and hides (never destroys) it otherwise:
 * the agent lives on in the tray, and the next lock needs the same window at once.
 */
export function guardLockWindow(
  win: ShellWindow,
  guard: LockWindowGuard,
  opts: { packaged: boolean; audit: AuditSink },
): void {
  const reassert = () => {
    if (win.isDestroyed()) return;
    if (win.isMinimized()) win.restore();
    if (opts.packaged) {
      win.setAlwaysOnTop(true, 'screen-saver');
      win.setKiosk(true);
    }
    win.show();
    win.moveTop();
    win.focus();
  };
  win.on('close', (ev) => {
    ev.preventDefault();
    if (guard.covering()) {
      opts.audit.record({ action: 'overlay.dismiss-refused', outcome: 'failure', reason: 'close' });
      reassert();
    } else win.hide();
  });
  for (const event of ['hide', 'minimize', 'leave-full-screen'] as const)
    win.on(event, () => {
      if (!guard.covering()) return;
      opts.audit.record({ action: 'overlay.dismiss-refused', outcome: 'failure', reason: event });
      reassert();
    });
  // Focus taken by another window (Alt+Tab, a pop-up) while nobody is in: take it back (ward PCs only).
  if (opts.packaged) win.on('blur', () => guard.covering() && reassert());
  win.webContents.on('before-input-event', (ev, input) => {
    if (guard.covering() && isDismissKey(input)) ev.preventDefault();
  });
  if (opts.packaged) win.webContents.on('devtools-opened', () => win.webContents.closeDevTools());
}

/** Plain windows that cover every other display while the lock window covers its own. */
export class DisplayCovers {
  private covers: ShellWindow[] = [];
  private active = false;

  constructor(
    private readonly e: ShellElectron,
    private readonly guard: LockWindowGuard,
    private readonly opts: { packaged: boolean; audit: AuditSink },
  ) {
    for (const ev of ['display-added', 'display-removed', 'display-metrics-changed'] as const)
      e.screen.on(ev, () => this.active && this.cover());
  }

  cover(): void {
    this.destroyAll();
    this.active = true;
    const primary = this.e.screen.getPrimaryDisplay().id;
    for (const d of this.e.screen.getAllDisplays().filter((x) => x.id !== primary)) {
      const w = new this.e.BrowserWindow({
        ...d.bounds,
        show: false,
        frame: false,
        closable: false,
        focusable: false,
        skipTaskbar: true,
        backgroundColor: '#12263a',
        webPreferences: { sandbox: true, contextIsolation: true, nodeIntegration: false, devTools: false },
      });
      guardLockWindow(w, this.guard, this.opts);
      w.setBounds(d.bounds);
      w.setAlwaysOnTop(true, 'screen-saver');
      w.show();
      this.covers.push(w);
    }
  }

  release(): void {
    this.active = false;
    this.destroyAll();
  }

  private destroyAll(): void {
    for (const w of this.covers) if (!w.isDestroyed()) w.destroy();
    this.covers = [];
  }

  count(): number {
    return this.covers.length;
  }
}

/** Applies the lock plan (core/session/lock-mode.ts) to the window and the other displays. */
export function applyWindowPlan(
  win: ShellWindow,
  covers: DisplayCovers,
  plan: LockPlan['window'],
  opts: { kiosk: boolean },
): void {
  if (win.isDestroyed() || plan === 'keep') return;
  if (plan === 'cover') {
    // Above the taskbar and other windows while nobody is in; kiosk keeps Alt+Tab users out of it.
    // Not in development runs (unpackaged): a developer's screen is not a ward PC.
    if (opts.kiosk) {
      win.setAlwaysOnTop(true, 'screen-saver');
      win.setKiosk(true);
      covers.cover();
    }
    win.show();
    win.focus();
  } else {
    covers.release();
    win.setKiosk(false);
    win.setAlwaysOnTop(false);
    win.hide();
  }
}
