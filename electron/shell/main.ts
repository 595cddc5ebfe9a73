// Entry point of the desktop app's main process: the real `electron` module and electron-store handed to
// the shell (shell.ts), which the shell-wiring tests run with a test double instead.
import * as electron from 'electron';
import ElectronStore from 'electron-store';
import { PREFERENCES_NAME } from '../core/config/preferences';
import { runDesktop } from './shell';

runDesktop(electron, {
  bundleDir: __dirname,
  resourcesPath: process.resourcesPath,
  preferences: () => new ElectronStore<Record<string, unknown>>({ name: PREFERENCES_NAME }),
}).catch((e: unknown) => {
  console.error(`Sillage failed to start: ${(e as Error).message}`);
  electron.app.exit(1);
});
