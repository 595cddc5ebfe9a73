// Where the bundled shell finds the UI and resources, from the repository (dist/electron) or a packaged app.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ShellElectron } from './electron-api';

export interface ShellPaths {
  /** The repository (development run) or the app.asar root. */
  root: string;
  rendererIndex: string;
  rendererUrl: string;
  preload: string;
  icon(name: string): string;
}

/** `bundleDir`: the directory of the bundled main process (dist/electron). */
export function shellPaths(app: ShellElectron['app'], bundleDir: string, resourcesPath?: string): ShellPaths {
  const root = app.isPackaged ? app.getAppPath() : path.resolve(bundleDir, '..', '..');
  const rendererIndex = path.join(root, 'renderer', 'dist', 'index.html');
  return {
    root,
    rendererIndex,
    rendererUrl: pathToFileURL(rendererIndex).toString(),
    preload: path.join(bundleDir, 'preload.cjs'),
    icon: (name) =>
      path.join(app.isPackaged && resourcesPath ? resourcesPath : root, 'resources', 'icons', `${name}.png`),
  };
}
