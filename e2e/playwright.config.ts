import { defineConfig } from '@playwright/test';

// Debian's Chromium (Playwright cannot download its own browser here).
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export default defineConfig({
  testDir: '.',
  outputDir: 'output/test-results',
  globalSetup: './global-setup.ts',
  workers: 1,
  retries: 0,
  // Generous: the agent starts its embedded server (PGlite) per test, slow on a loaded 2-core machine.
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: [['list'], ['json', { outputFile: 'output/results.json' }]],
  use: {
    headless: true,
    viewport: { width: 1280, height: 800 },
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS },
  },
});
