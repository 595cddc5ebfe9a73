// Where the bundled shell finds the UI and resources, from the repo (dist/electron) or a packaged app.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { app } from 'electron';

export function appRoot(): string {
  // dist/electron/main.cjs → repository or app.asar root.
  return app.isPackaged ? app.getAppPath() : path.resolve(__dirname, '..', '..');
}

export const rendererIndex = () => path.join(appRoot(), 'renderer', 'dist', 'index.html');
export const rendererUrl = () => pathToFileURL(rendererIndex()).toString();
export const preloadPath = () => path.join(__dirname, 'preload.cjs');
export const iconPath = (name: string) =>
  path.join(app.isPackaged ? process.resourcesPath : appRoot(), 'resources', 'icons', `${name}.png`);
