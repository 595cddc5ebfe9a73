// TEST DOUBLE of the `electron` module — only the surface the shell uses (electron/shell/electron-api.ts),
// recording every call so the shell-wiring tests can check what reaches Electron: window options and
// states, the application menu, the tray, IPC handlers, power events, opened URLs. It behaves like
// Electron where the shell depends on it (a 'close' that is not prevented hides nothing by itself; events
// carry preventDefault), and nothing more. Electron's own behaviour is the Playwright _electron test's.
import { EventEmitter } from 'node:events';
import type {
  BrowserWindowConstructorOptions,
  Display,
  Input,
  Menu,
  MenuItemConstructorOptions,
  NativeImage,
} from 'electron';
import type { ShellElectron, ShellTray, ShellWebContents, ShellWindow } from '../../electron/shell/electron-api';

export interface Call {
  target: string;
  method: string;
  args: unknown[];
}

/** An event object with preventDefault, as Electron passes. */
export function domEvent(): { preventDefault(): void; defaultPrevented: boolean } {
  const ev = {
    defaultPrevented: false,
    preventDefault() {
      ev.defaultPrevented = true;
    },
  };
  return ev;
}

class FakeWebContents extends EventEmitter implements Omit<ShellWebContents, 'mainFrame'> {
  static nextId = 1;
  readonly id = FakeWebContents.nextId++;
  readonly mainFrame: { url: string } = { url: '' };
  readonly sent: unknown[][] = [];
  devToolsClosed = 0;
  constructor(private readonly record: (method: string, args: unknown[]) => void) {
    super();
  }
  send(channel: string, ...args: unknown[]): void {
    this.sent.push([channel, ...args]);
  }
  isDestroyed(): boolean {
    return false;
  }
  closeDevTools(): void {
    this.devToolsClosed++;
    this.record('closeDevTools', []);
  }
  async executeJavaScript(code: string): Promise<unknown> {
    this.record('executeJavaScript', [code]);
    return undefined;
  }
  /** Simulates a key press reaching the page; true when the shell stopped it. */
  press(input: Partial<Input> & { key: string }): boolean {
    const ev = domEvent();
    this.emit('before-input-event', ev, {
      type: 'keyDown',
      control: false,
      meta: false,
      alt: false,
      shift: false,
      ...input,
    });
    return ev.defaultPrevented;
  }
}

export class FakeWindow extends EventEmitter implements ShellWindow {
  readonly webContents: FakeWebContents & ShellWebContents;
  visible = false;
  minimized = false;
  kiosk = false;
  alwaysOnTop: false | string = false;
  closable: boolean;
  destroyed = false;
  focused = false;
  loaded: string | null = null;
  bounds: Display['bounds'] | null = null;

  constructor(
    readonly options: BrowserWindowConstructorOptions,
    private readonly record: (method: string, args: unknown[]) => void,
  ) {
    super();
    this.closable = options.closable ?? true;
    // The IPC bridge reads only the main frame's URL.
    this.webContents = new FakeWebContents((m, a) => record(`webContents.${m}`, a)) as FakeWebContents &
      ShellWebContents;
  }
  async loadURL(url: string): Promise<void> {
    this.loaded = url;
    this.webContents.mainFrame.url = url;
  }
  show(): void {
    this.visible = true;
    this.minimized = false;
    this.record('show', []);
  }
  hide(): void {
    this.visible = false;
    this.record('hide', []);
  }
  focus(): void {
    this.focused = true;
  }
  restore(): void {
    this.minimized = false;
  }
  moveTop(): void {}
  isMinimized(): boolean {
    return this.minimized;
  }
  isVisible(): boolean {
    return this.visible;
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  setAlwaysOnTop(flag: boolean, level?: 'screen-saver'): void {
    this.alwaysOnTop = flag ? (level ?? 'floating') : false;
    this.record('setAlwaysOnTop', [flag, level]);
  }
  setKiosk(flag: boolean): void {
    this.kiosk = flag;
    this.record('setKiosk', [flag]);
  }
  setClosable(flag: boolean): void {
    this.closable = flag;
  }
  setBounds(bounds: Display['bounds']): void {
    this.bounds = bounds;
  }
  destroy(): void {
    this.destroyed = true;
    this.visible = false;
  }
  /** What the OS does on Alt+F4 or "Close window" from the taskbar: a 'close' the app may prevent. */
  tryClose(): boolean {
    const ev = domEvent();
    this.emit('close', ev);
    if (!ev.defaultPrevented) this.destroy();
    return !this.destroyed;
  }
  /** The OS or a user hides / minimises the window. */
  osHide(): void {
    this.visible = false;
    this.emit('hide');
  }
  osMinimize(): void {
    this.minimized = true;
    this.visible = false;
    this.emit('minimize');
  }
}

export interface DoubleOptions {
  packaged: boolean;
  userData: string;
  displays?: Display['bounds'][];
  /** What safeStorage.getSelectedStorageBackend() answers (Linux): a keyring unless told otherwise. */
  storageBackend?: ReturnType<ShellElectron['safeStorage']['getSelectedStorageBackend']>;
}

export function display(id: number, bounds: Display['bounds']): Display {
  return { id, bounds, workArea: bounds, scaleFactor: 1 } as Display;
}

/** A fresh recorded double; `electron` is what the shell receives. */
export function electronDouble(opts: DoubleOptions) {
  const calls: Call[] = [];
  const record = (target: string) => (method: string, args: unknown[]) => calls.push({ target, method, args });
  const appEvents = new EventEmitter();
  const windows: FakeWindow[] = [];
  const ipcHandlers = new Map<string, (...a: unknown[]) => unknown>();
  const power = new EventEmitter();
  const screenEvents = new EventEmitter();
  const opened: string[] = [];
  const protocols = new Map<string, (request: Request) => Response | Promise<Response>>();
  const privileged: unknown[] = [];
  let ready = false;
  const trays: { image: unknown; tooltip: string; menu: MenuItemConstructorOptions[] | null }[] = [];
  let applicationMenu: Menu | null | 'default' = 'default';
  const displays = (opts.displays ?? [{ x: 0, y: 0, width: 1280, height: 800 }]).map((b, i) => display(i + 1, b));
  let exited: number | null = null;

  const electron: ShellElectron = {
    app: {
      isPackaged: opts.packaged,
      requestSingleInstanceLock: () => true,
      quit: () => void record('app')('quit', []),
      exit: (code?: number) => {
        exited = code ?? 0;
        record('app')('exit', [code]);
      },
      whenReady: async () => {
        ready = true;
      },
      getPath: (name: string) => {
        if (name !== 'userData') throw new Error(`test double: getPath(${name}) not used by the shell`);
        return opts.userData;
      },
      getVersion: () => '0.1.0',
      getAppPath: () => '/opt/Sillage/resources/app.asar',
      setLoginItemSettings: (s: unknown) => void record('app')('setLoginItemSettings', [s]),
      relaunch: () => void record('app')('relaunch', []),
      on: (event: string, listener: (...a: unknown[]) => void) => appEvents.on(event, listener),
    } as ShellElectron['app'],
    BrowserWindow: class extends FakeWindow {
      constructor(o: BrowserWindowConstructorOptions) {
        super(o, record(`window${windows.length + 1}`));
        windows.push(this);
        record('BrowserWindow')('new', [o]);
      }
    },
    Menu: {
      setApplicationMenu: (m: Menu | null) => {
        applicationMenu = m;
        record('Menu')('setApplicationMenu', [m]);
      },
      buildFromTemplate: (t: MenuItemConstructorOptions[]) => t as unknown as Menu,
    },
    Tray: class implements ShellTray {
      private readonly t = { image: null as unknown, tooltip: '', menu: null as MenuItemConstructorOptions[] | null };
      constructor(image: NativeImage) {
        this.t.image = image;
        trays.push(this.t);
      }
      setImage(image: NativeImage): void {
        this.t.image = image;
      }
      setToolTip(text: string): void {
        this.t.tooltip = text;
      }
      setContextMenu(menu: Menu | null): void {
        this.t.menu = menu as unknown as MenuItemConstructorOptions[] | null;
      }
    },
    nativeImage: { createFromPath: (p: string) => ({ path: p }) as unknown as NativeImage },
    ipcMain: {
      handle: (channel: string, h: (...a: unknown[]) => unknown) => void ipcHandlers.set(channel, h),
      removeHandler: (channel: string) => void ipcHandlers.delete(channel),
    } as ShellElectron['ipcMain'],
    powerMonitor: { on: (event, l) => power.on(event, l) },
    // Reversible and marked, so a test sees that secrets went through it (never a real protection).
    safeStorage: {
      isAsyncEncryptionAvailable: async () => true,
      getSelectedStorageBackend: () => opts.storageBackend ?? 'gnome_libsecret',
      encryptStringAsync: async (s: string) => Buffer.concat([Buffer.from('DOUBLE:'), Buffer.from(s).reverse()]),
      decryptStringAsync: async (b: Buffer) => {
        if (!b.subarray(0, 7).equals(Buffer.from('DOUBLE:'))) throw new Error('not sealed by this double');
        return { result: Buffer.from(b.subarray(7)).reverse().toString(), shouldReEncrypt: false };
      },
    },
    // As Electron: privileged schemes only before `ready`, handlers after.
    protocol: {
      registerSchemesAsPrivileged: (schemes) => {
        if (ready) throw new Error('test double: registerSchemesAsPrivileged after ready');
        privileged.push(...schemes);
      },
      handle: (scheme, handler) => {
        if (!ready) throw new Error('test double: protocol.handle before ready');
        protocols.set(scheme, handler as (request: Request) => Response | Promise<Response>);
      },
    },
    screen: {
      getAllDisplays: () => displays,
      getPrimaryDisplay: () => displays[0]!,
      on: (event, l) => screenEvents.on(event, l),
    },
    session: {
      defaultSession: {
        setPermissionRequestHandler: (h: unknown) => void record('session')('setPermissionRequestHandler', [h]),
        setPermissionCheckHandler: (h: unknown) => void record('session')('setPermissionCheckHandler', [h]),
        webRequest: { onHeadersReceived: (h: unknown) => void record('session')('onHeadersReceived', [h]) },
      } as unknown as ShellElectron['session']['defaultSession'],
    },
    shell: {
      openExternal: async (url: string) => void opened.push(url),
    },
  };

  return {
    electron,
    calls,
    windows,
    trays,
    opened,
    protocols,
    privileged,
    ipcHandlers,
    appEvents,
    power,
    screenEvents,
    displays,
    applicationMenu: () => applicationMenu,
    exited: () => exited,
  };
}
