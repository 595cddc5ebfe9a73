// The real Electron app through Playwright's _electron, in the flow the headless e2e runs: lock screen →
// demo card → PIN → session → the reference DPI gets a token from the broker → lock; and the lock window
// refuses to close while locked. Runs wherever an Electron binary is installed (see scripts/start.mjs for
// how to get one); elsewhere it is skipped and prints why.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { _electron as electron, expect, test } from '@playwright/test';
// @ts-expect-error plain ES module of the scripts, no types
import { electronBinary } from '../scripts/start.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { binary, why } = electronBinary() as { binary: string | null; why: string | null };

test('Electron app: demo card, PIN, session, DPI token from the broker, lock; the locked window does not close', async () => {
  if (!binary) console.log(`SKIPPED Electron e2e: ${why}`);
  test.skip(!binary, why ?? '');
  test.setTimeout(120_000);
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-electron-'));
  const config = path.join(home, 'config');
  const runtime = path.join(home, 'run');
  const env = {
    ...process.env,
    // The app's profile (userData) and the broker socket in this run's own directories.
    XDG_CONFIG_HOME: config,
    XDG_RUNTIME_DIR: runtime,
    // A development run starts the demo session server with this Node.js (as npm start does).
    npm_node_execpath: process.execPath,
  } as Record<string, string>;
  const app = await electron.launch({
    executablePath: binary!,
    args: [path.join(root, 'dist', 'electron', 'main.cjs')],
    cwd: root,
    env,
  });
  try {
    const win = await app.firstWindow();
    await expect(win.getByTestId('lock-screen')).toContainText('Badgez ou insérez votre carte CPS');
    expect(await win.evaluate(() => typeof (window as unknown as { sillage?: unknown }).sillage)).toBe('object');
    expect(await win.evaluate(() => typeof (globalThis as unknown as { require?: unknown }).require)).toBe('undefined');
    expect(await win.evaluate(() => typeof (globalThis as unknown as { process?: unknown }).process)).toBe('undefined');
    expect(await win.evaluate(() => window.open('https://example.org') === null)).toBe(true);

    // Locked: closing the window (Alt+F4, the taskbar) and Ctrl+W do nothing.
    await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0]!.close());
    await win.keyboard.press('Control+W');
    expect(await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0]!.isVisible())).toBe(true);
    expect(app.windows()).toHaveLength(1);

    await win.getByTestId('demo-insert-cps-camille').click();
    await expect(win.getByTestId('pin-pad')).toBeVisible();
    await win.keyboard.type('1234');
    await win.keyboard.press('Enter');
    await expect(win.getByTestId('session-banner')).toBeVisible();

    // The reference DPI, as docs/dpi-integration.md runs it, against this app's broker and demo server.
    const userData = path.join(config, 'sillage');
    const issuer = /http:\/\/127\.0\.0\.1:\d+/.exec(fs.readFileSync(path.join(userData, 'audit.jsonl'), 'utf8'))![0];
    const dpi = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'testbed/reference-dpi.ts',
        '--socket',
        path.join(runtime, 'sillage', 'broker.sock'),
        '--issuer',
        issuer,
        '--client-id',
        'dpi-demo',
        '--audience',
        'https://dpi.demo.sillage.test',
      ],
      {
        cwd: root,
        env: {
          ...process.env,
          REF_DPI_CLIENT_SECRET: fs.readFileSync(path.join(userData, 'embedded-server', 'demo-dpi.secret'), 'utf8'),
        },
      },
    );
    const lines: Record<string, unknown>[] = [];
    readline
      .createInterface({ input: dpi.stdout })
      .on('line', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
    try {
      await expect.poll(() => lines.find((l) => l.kind === 'ready')).toMatchObject({ app: 'dpi-demo' });
      dpi.stdin.write('token\n');
      await expect
        .poll(() => lines.find((l) => l.kind === 'token' || l.kind === 'error'))
        .toMatchObject({ kind: 'token', active: true, idnat: '899999000011' });
    } finally {
      dpi.kill();
    }

    await win.getByTestId('demo-remove-card').click();
    await expect(win.getByTestId('lock-reason')).toContainText('carte retirée');
  } finally {
    await app.close();
  }
});
