// electron-builder `afterPack` hook: flips the Electron fuses of the packaged binary before it is signed,
// then reads them back and fails the build if one is not as set. Every fuse of the wire is decided here
// (strictlyRequireAllFuses): an Electron upgrade that adds one stops the build until it is decided too.
import path from 'node:path';
import { FuseState, FuseV1Options, FuseVersion, flipFuses, getCurrentFuseWire } from '@electron/fuses';

/** The app's fuses. The UI is served from app:// (electron/shell/app-scheme.ts): file:// needs no privilege. */
export const SILLAGE_FUSES = {
  // ELECTRON_RUN_AS_NODE would turn Sillage.exe into a Node interpreter running any script as the ward account.
  [FuseV1Options.RunAsNode]: false,
  // Cookies and local storage encrypted with the OS-protected key (DPAPI / Keychain / libsecret).
  [FuseV1Options.EnableCookieEncryption]: true,
  // NODE_OPTIONS (--require, --import) and --inspect would run foreign code in the main process.
  [FuseV1Options.EnableNodeOptionsEnvironmentVariable]: false,
  [FuseV1Options.EnableNodeCliInspectArguments]: false,
  // app.asar's header hash is embedded in the executable by electron-builder; a changed archive stops the app.
  [FuseV1Options.EnableEmbeddedAsarIntegrityValidation]: true,
  // No app/ folder or loose files beside the archive can replace it.
  [FuseV1Options.OnlyLoadAppFromAsar]: true,
  [FuseV1Options.LoadBrowserProcessSpecificV8Snapshot]: false,
  [FuseV1Options.GrantFileProtocolExtraPrivileges]: false,
  [FuseV1Options.WasmTrapHandlers]: true,
};

/** Where electron-builder's afterPack context puts the binary carrying the fuse wire. */
export function electronBinary(context) {
  const name = context.packager.appInfo.productFilename;
  switch (context.electronPlatformName) {
    case 'win32':
      return path.join(context.appOutDir, `${name}.exe`);
    case 'darwin':
    case 'mas':
      return path.join(context.appOutDir, `${name}.app`);
    default:
      return path.join(context.appOutDir, context.packager.executableName);
  }
}

/** Flips the fuses of one Electron binary and checks them by reading the wire back. */
export async function applyFuses(binary, { resetAdHocDarwinSignature = false } = {}) {
  await flipFuses(binary, {
    version: FuseVersion.V1,
    strictlyRequireAllFuses: true,
    resetAdHocDarwinSignature,
    ...SILLAGE_FUSES,
  });
  const wire = await getCurrentFuseWire(binary);
  const wrong = Object.entries(SILLAGE_FUSES)
    .filter(([i, on]) => wire[i] !== (on ? FuseState.ENABLE : FuseState.DISABLE))
    .map(([i]) => FuseV1Options[i]);
  if (wrong.length) throw new Error(`fuses not set in ${binary}: ${wrong.join(', ')}`);
  return wire;
}

export default async function afterPack(context) {
  const binary = electronBinary(context);
  // arm64 macOS refuses a binary whose ad-hoc signature no longer matches its bytes (builder-util's Arch:
  // 3 arm64, 4 universal).
  const darwinArm = context.electronPlatformName === 'darwin' && (context.arch === 3 || context.arch === 4);
  await applyFuses(binary, { resetAdHocDarwinSignature: darwinArm });
  console.log(`fuses set and read back: ${binary}`);
}
