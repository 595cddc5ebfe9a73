// Where the bundled shell finds the UI and resources, from the repository (dist/electron) or a packaged app.
import path from 'node:path';
import { RENDERER_URL } from './app-scheme';
import type { ShellElectron } from './electron-api';

export interface ShellPaths {
  /** The repository (development run) or the app.asar root. */
  root: string;
  /** The bundled UI folder, served as app://sillage (app-scheme.ts). */
  rendererDir: string;
  rendererUrl: string;
  preload: string;
  icon(name: string): string;
}

/** `bundleDir`: the directory of the bundled main process (dist/electron). */
export function shellPaths(app: ShellElectron['app'], bundleDir: string, resourcesPath?: string): ShellPaths {
  const root = app.isPackaged ? app.getAppPath() : path.resolve(bundleDir, '..', '..');
  return {
    root,
    rendererDir: path.join(root, 'renderer', 'dist'),
    rendererUrl: RENDERER_URL,
    preload: path.join(bundleDir, 'preload.cjs'),
    icon: (name) =>
      path.join(app.isPackaged && resourcesPath ? resourcesPath : root, 'resources', 'icons', `${name}.png`),
  };
}
