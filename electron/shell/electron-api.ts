// The small surface of the `electron` module the shell uses, and nothing more. The entry point passes the
// real module; the shell-wiring tests pass a recorded test double of exactly this surface
// (test/shell/electron-double.ts), so what reaches Electron is checked in Node without an Electron binary.
// Types only: importing them loads nothing.
import type {
  App,
  BrowserWindowConstructorOptions,
  Display,
  Input,
  IpcMain,
  Menu,
  MenuItemConstructorOptions,
  NativeImage,
  Protocol,
  SafeStorage,
  Session,
  WebContents,
} from 'electron';

// Listener arguments differ per event; the shell names the events it listens to.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...args: any[]) => void;

export interface ShellWebContents extends Pick<WebContents, 'id' | 'send' | 'isDestroyed' | 'mainFrame'> {
  on(event: 'before-input-event', listener: (event: { preventDefault(): void }, input: Input) => void): unknown;
  on(event: 'devtools-opened', listener: () => void): unknown;
  closeDevTools(): void;
  executeJavaScript(code: string): Promise<unknown>;
}

export interface ShellWindow {
  readonly webContents: ShellWebContents;
  on(event: 'close', listener: (event: { preventDefault(): void }) => void): unknown;
  on(event: 'hide' | 'minimize' | 'blur' | 'leave-full-screen' | 'ready-to-show', listener: () => void): unknown;
  once(event: 'ready-to-show', listener: () => void): unknown;
  loadURL(url: string): Promise<void>;
  show(): void;
  hide(): void;
  focus(): void;
  restore(): void;
  moveTop(): void;
  isMinimized(): boolean;
  isVisible(): boolean;
  isDestroyed(): boolean;
  setAlwaysOnTop(flag: boolean, level?: 'screen-saver'): void;
  setKiosk(flag: boolean): void;
  setClosable(flag: boolean): void;
  setBounds(bounds: Display['bounds']): void;
  destroy(): void;
}

export interface ShellTray {
  setImage(image: NativeImage): void;
  setToolTip(text: string): void;
  setContextMenu(menu: Menu | null): void;
}

export interface ShellElectron {
  app: Pick<
    App,
    | 'isPackaged'
    | 'requestSingleInstanceLock'
    | 'quit'
    | 'exit'
    | 'whenReady'
    | 'getPath'
    | 'getVersion'
    | 'getAppPath'
    | 'setLoginItemSettings'
    | 'relaunch'
  > & { on(event: string, listener: Listener): unknown };
  BrowserWindow: new (options: BrowserWindowConstructorOptions) => ShellWindow;
  Menu: {
    setApplicationMenu(menu: Menu | null): void;
    buildFromTemplate(template: MenuItemConstructorOptions[]): Menu;
  };
  Tray: new (image: NativeImage) => ShellTray;
  nativeImage: { createFromPath(path: string): NativeImage };
  ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>;
  protocol: Pick<Protocol, 'registerSchemesAsPrivileged' | 'handle'>;
  powerMonitor: { on(event: 'lock-screen' | 'suspend', listener: () => void): unknown };
  safeStorage: Pick<
    SafeStorage,
    'isAsyncEncryptionAvailable' | 'encryptStringAsync' | 'decryptStringAsync' | 'getSelectedStorageBackend'
  >;
  screen: {
    getAllDisplays(): Display[];
    getPrimaryDisplay(): Display;
    on(event: 'display-added' | 'display-removed' | 'display-metrics-changed', listener: () => void): unknown;
  };
  session: {
    defaultSession: Pick<Session, 'setPermissionRequestHandler' | 'setPermissionCheckHandler'> & {
      webRequest: Pick<Session['webRequest'], 'onHeadersReceived'>;
    };
  };
  shell: { openExternal(url: string): Promise<void> };
}
