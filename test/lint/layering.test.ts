// The layering is a lint error: these snippets, linted as if they lived in each layer, must fail
// (and the allowed ones pass), with the repository's own ESLint configuration.
import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const eslint = new ESLint({ cwd: root });

async function layeringErrors(file: string, code: string): Promise<string[]> {
  const [res] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return res!.messages
    .filter((m) => m.ruleId === 'sillage/layering' || m.ruleId === 'no-restricted-globals')
    .map((m) => m.message);
}

describe('layering rule', () => {
  it("fails when electron/core imports 'electron'", async () => {
    expect(await layeringErrors('electron/core/x.ts', "import 'electron';\n")).toEqual([
      expect.stringContaining("core may not import the package 'electron'"),
    ]);
    expect(await layeringErrors('electron/core/x.ts', "export const x = await import('electron');\n")).toHaveLength(1);
    expect(
      await layeringErrors(
        'electron/core/x.ts',
        "import { createRoot } from 'react-dom/client';\nexport const y = createRoot;\n",
      ),
    ).toHaveLength(1);
  });

  it('fails when core touches the DOM or the shell', async () => {
    expect(await layeringErrors('electron/core/x.ts', 'export const w = window.location;\n')).toHaveLength(1);
    expect(
      await layeringErrors(
        'electron/core/x.ts',
        "import { createIpcBridge } from '../shell/ipc';\nexport const z = createIpcBridge;\n",
      ),
    ).toHaveLength(1);
  });

  it('fails when the renderer imports Node, electron or core internals', async () => {
    expect(await layeringErrors('renderer/src/x.ts', "import fs from 'node:fs';\nexport const a = fs;\n")).toHaveLength(
      1,
    );
    expect(
      await layeringErrors(
        'renderer/src/x.ts',
        "import { ipcRenderer } from 'electron';\nexport const b = ipcRenderer;\n",
      ),
    ).toHaveLength(1);
    expect(
      await layeringErrors(
        'renderer/src/x.ts',
        "import { SessionEngine } from '../../electron/core/session/engine';\nexport const c = SessionEngine;\n",
      ),
    ).toHaveLength(1);
  });

  it('lets each layer use what it may', async () => {
    expect(
      await layeringErrors(
        'renderer/src/x.ts',
        "import type { SessionState } from '../../shared/contract';\nexport type S = SessionState;\n",
      ),
    ).toEqual([]);
    expect(
      await layeringErrors(
        'electron/shell/x.ts',
        "import { app } from 'electron';\nimport { createAgent } from '../core/agent';\nexport const d = [app, createAgent];\n",
      ),
    ).toEqual([]);
    expect(
      await layeringErrors(
        'electron/core/x.ts',
        "import fs from 'node:fs';\nimport type { SessionState } from '../../shared/contract';\nexport const e: [typeof fs, SessionState | null] = [fs, null];\n",
      ),
    ).toEqual([]);
  });

  it('keeps the server apart from the desktop layers, and shared pure', async () => {
    expect(
      await layeringErrors(
        'server/src/x.ts',
        "import { VERSION } from '../../electron/core/version';\nexport const f = VERSION;\n",
      ),
    ).toHaveLength(1);
    expect(await layeringErrors('shared/x.ts', "import os from 'node:os';\nexport const g = os;\n")).toHaveLength(1);
  });

  it('shares only the pure protocol package between agent and server, by its name', async () => {
    const use = "import { GRANT } from '@sillage/protocol';\nexport const p = GRANT;\n";
    expect(await layeringErrors('server/src/x.ts', use)).toEqual([]);
    expect(await layeringErrors('electron/core/x.ts', use)).toEqual([]);
    expect(await layeringErrors('renderer/src/x.ts', use)).toHaveLength(1);
    expect(await layeringErrors('shared/x.ts', use)).toHaveLength(1);
    expect(
      await layeringErrors(
        'electron/core/x.ts',
        "import { GRANT } from '../../protocol/src/grants';\nexport const q = GRANT;\n",
      ),
    ).toHaveLength(1);
    expect(await layeringErrors('protocol/src/x.ts', "import fs from 'node:fs';\nexport const r = fs;\n")).toHaveLength(
      1,
    );
    expect(
      await layeringErrors(
        'protocol/src/x.ts',
        "import { createHash } from 'node:crypto';\nexport const t = createHash;\n",
      ),
    ).toEqual([]);
    expect(await layeringErrors('protocol/src/x.ts', "import pg from 'pg';\nexport const u = pg;\n")).toHaveLength(1);
  });

  it('orders core one way: a group imports only itself and the groups below it', async () => {
    // Downward and inside a group: allowed.
    expect(
      await layeringErrors(
        'electron/core/session/x.ts',
        "import type { Authenticator } from '../auth/types';\nimport { Listeners } from '../util/emitter';\nexport const h: [Authenticator | null, typeof Listeners] = [null, Listeners];\n",
      ),
    ).toEqual([]);
    // Upward: the CPS code may not reach the PC/SC entry point above it, the server client the session engine,
    // configuration the badge code.
    expect(
      await layeringErrors(
        'electron/core/devices/cps/x.ts',
        "import type { PcscMonitor } from '../pcsc';\nexport type M = PcscMonitor;\n",
      ),
    ).toEqual([expect.stringContaining('cps sits below devices')]);
    expect(
      await layeringErrors(
        'electron/core/oidc/x.ts',
        "import { SessionEngine } from '../session/engine';\nexport const e = SessionEngine;\n",
      ),
    ).toEqual([expect.stringContaining('server-client sits below session')]);
    expect(
      await layeringErrors(
        'electron/core/config/x.ts',
        "import { readBadgeCredential } from '../devices/badge/desfire/credential';\nexport const r = readBadgeCredential;\n",
      ),
    ).toEqual([expect.stringContaining('config sits below badge')]);
    // Inside devices/: the badge code may not reach back to the PC/SC entry point that hands it the card,
    // nor the device types to anything above them.
    expect(
      await layeringErrors(
        'electron/core/devices/badge/x.ts',
        "import { withSharedTransport } from '../pcsc';\nexport const w = withSharedTransport;\n",
      ),
    ).toEqual([expect.stringContaining('badge sits below devices')]);
    expect(
      await layeringErrors(
        'electron/core/devices/types.ts',
        "import type { BadgeOutcome } from './badge/desfire/credential';\nexport type O = BadgeOutcome;\n",
      ),
    ).toEqual([expect.stringContaining('device-types sits below badge')]);
    // Siblings stay apart; a type-only import counts like any other.
    expect(
      await layeringErrors(
        'electron/core/devices/cps/x.ts',
        "import type { BadgeReading } from '../badge/desfire/credential';\nexport type B = BadgeReading;\n",
      ),
    ).toEqual([expect.stringContaining('cps and badge are siblings')]);
    // A folder outside the order is placed in it on purpose.
    expect(await layeringErrors('electron/core/misc/x.ts', "import '../util/url';\n")).toEqual([
      expect.stringContaining('belongs to no group of the core order'),
    ]);
  });

  it('fails on an import cycle inside a core group, type-only imports included', async () => {
    // custody.ts does not import protocol.ts; a custody importing the card protocol closes the loop
    // protocol.ts -> custody.ts -> protocol.ts.
    const errors = await layeringErrors(
      'electron/core/devices/badge/desfire/custody.ts',
      "import type { DesfireCard } from './protocol';\nexport type C = DesfireCard;\n",
    );
    expect(errors).toEqual([
      expect.stringContaining('an import cycle (devices/badge/desfire/custody.ts -> devices/badge/desfire/protocol.ts'),
    ]);
    // The same inside the devices group: the backends from settings build the PC/SC entry point, which may
    // not import them back.
    expect(
      await layeringErrors(
        'electron/core/devices/pcsc.ts',
        "import type { ReadersFromConfig } from './from-config';\nexport type R = ReadersFromConfig;\n",
      ),
    ).toEqual([
      expect.stringContaining('an import cycle (devices/pcsc.ts -> devices/from-config.ts -> devices/pcsc.ts)'),
    ]);
    expect(
      await layeringErrors(
        'electron/core/devices/badge/desfire/other.ts',
        "import type { DesfireCard } from './protocol';\nexport type C = DesfireCard;\n",
      ),
    ).toEqual([]);
  });
});
