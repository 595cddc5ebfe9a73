#!/usr/bin/env node
// `npm run headless -- [flags]`: build the UI and the native addons, then run the headless agent (see
// electron/core/headless/main.ts for its flags).
import { buildUi, headlessArgs, root, runAgent, step } from './lib/agent-process.mjs';

buildUi();
step(process.execPath, ['scripts/build-native.mjs']);
runAgent(process.execPath, headlessArgs(process.argv.slice(2)), { cwd: root });
