import { defineConfig } from 'vitest/config';

// Unit and integration suites of the desktop agent and its test bed (Playwright e2e runs separately).
export default defineConfig({
  test: {
    include: [
      'shared/**/*.test.ts',
      'protocol/**/*.test.ts',
      'electron/**/*.test.ts',
      'native/**/*.test.ts',
      'testbed/**/*.test.ts',
      'test/**/*.test.ts',
      'bench/**/*.test.ts',
      'renderer/src/**/*.test.ts',
    ],
    environment: 'node',
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
