// The fuses electron-builder's afterPack hook flips, read back with @electron/fuses. No Electron binary can be
// downloaded here, so the hook runs on stand-ins carrying the fuse wire the way Electron 45's binary does
// (sentinel, version byte 1, wire length, one ASCII '0'/'1' per fuse, amid other bytes), laid out as
// electron-builder's appOutDir for each platform. The same hook runs on the real binary where it is packaged.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FuseState, FuseV1Options, getCurrentFuseWire } from '@electron/fuses';
import afterPack, { SILLAGE_FUSES } from '../../scripts/fuses.mjs';

const root = path.resolve(__dirname, '..', '..');
const SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
// Stock Electron 45 wire: RunAsNode on, cookie encryption off, NODE_OPTIONS on, --inspect on, ASAR integrity
// off, only-from-ASAR off, browser V8 snapshot off, file:// privileges on, WASM trap handlers on.
const STOCK = '101100011';

function standIn(file: string, wire = STOCK): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const header = Buffer.concat([Buffer.from(SENTINEL), Buffer.from([1, wire.length]), Buffer.from(wire, 'ascii')]);
  fs.writeFileSync(file, Buffer.concat([randomBytes(300_000), header, randomBytes(200_000)]));
}

const context = (appOutDir: string, electronPlatformName: string) => ({
  appOutDir,
  electronPlatformName,
  arch: 1,
  packager: { appInfo: { productFilename: 'Sillage' }, executableName: 'sillage' },
});

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-fuses-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('Electron fuses (electron-builder afterPack)', () => {
  it('is the hook electron-builder runs', () => {
    const yml = fs.readFileSync(path.join(root, 'electron-builder.yml'), 'utf8');
    expect(/^afterPack:\s*(\S+)\s*$/m.exec(yml)?.[1]).toBe('scripts/fuses.mjs');
  });

  it.each([
    ['win32', 'Sillage.exe'],
    ['linux', 'sillage'],
    ['darwin', 'Sillage.app/Contents/Frameworks/Electron Framework.framework/Electron Framework'],
  ])(
    '%s: RunAsNode, NODE_OPTIONS and --inspect off, cookie encryption, ASAR only and ASAR integrity on',
    async (platform, rel) => {
      const binary = path.join(dir, rel);
      standIn(binary);
      const before = fs.readFileSync(binary);
      await afterPack(context(dir, platform));
      const wire = await getCurrentFuseWire(platform === 'darwin' ? path.join(dir, 'Sillage.app') : binary);
      expect(wire[FuseV1Options.RunAsNode]).toBe(FuseState.DISABLE);
      expect(wire[FuseV1Options.EnableNodeOptionsEnvironmentVariable]).toBe(FuseState.DISABLE);
      expect(wire[FuseV1Options.EnableNodeCliInspectArguments]).toBe(FuseState.DISABLE);
      expect(wire[FuseV1Options.EnableCookieEncryption]).toBe(FuseState.ENABLE);
      expect(wire[FuseV1Options.OnlyLoadAppFromAsar]).toBe(FuseState.ENABLE);
      expect(wire[FuseV1Options.EnableEmbeddedAsarIntegrityValidation]).toBe(FuseState.ENABLE);
      expect(wire[FuseV1Options.GrantFileProtocolExtraPrivileges]).toBe(FuseState.DISABLE);
      // Only the wire changed: nine bytes, all inside it.
      const after = fs.readFileSync(binary);
      const changed = [...after.keys()].filter((i) => after[i] !== before[i]);
      const wireAt = before.indexOf(SENTINEL) + SENTINEL.length + 2;
      expect(changed.length).toBeGreaterThan(0);
      expect(changed.every((i) => i >= wireAt && i < wireAt + STOCK.length)).toBe(true);
    },
  );

  it('decides every fuse of the wire: an Electron with a fuse the hook does not know stops the build', async () => {
    expect(Object.keys(SILLAGE_FUSES)).toHaveLength(STOCK.length);
    standIn(path.join(dir, 'Sillage.exe'), STOCK + '1');
    await expect(afterPack(context(dir, 'win32'))).rejects.toThrow(/strictlyRequireAllFuses/);
  });

  it('a binary without the fuse wire fails the build', async () => {
    fs.writeFileSync(path.join(dir, 'Sillage.exe'), randomBytes(100_000));
    await expect(afterPack(context(dir, 'win32'))).rejects.toThrow(/sentinel/);
  });
});
