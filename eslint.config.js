import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import sillage from './tools/eslint/layering.js';

// Browser globals that betray DOM code in the headless agent core.
const DOM_GLOBALS = [
  'window',
  'document',
  'navigator',
  'localStorage',
  'sessionStorage',
  'HTMLElement',
  'location',
].map((name) => ({ name, message: 'electron/core runs in plain Node: no DOM (see DEVELOPERS.md).' }));

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      '**/dist/',
      'bench/results/',
      'e2e/output/',
      'test-results/',
      'playwright-report/',
      '.tmp/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { sillage },
    languageOptions: { globals: { ...globals.node } },
    rules: {
      'sillage/layering': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['electron/core/**/*.ts', 'native/**/*.ts', 'shared/**/*.ts'],
    rules: { 'no-restricted-globals': ['error', ...DOM_GLOBALS] },
  },
  {
    // CommonJS on purpose: electron-builder loads its hooks with require().
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['renderer/src/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'The UI has no Node: use the shared contract.' },
        { name: 'require', message: 'The UI has no Node.' },
      ],
    },
  },
);
