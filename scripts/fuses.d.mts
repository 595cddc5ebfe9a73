// Types of the afterPack hook (scripts/fuses.mjs) for the tests that run it.
import type { FuseConfig, FuseState, FuseV1Options } from '@electron/fuses';

export declare const SILLAGE_FUSES: Record<FuseV1Options, boolean>;
export interface AfterPackContext {
  appOutDir: string;
  electronPlatformName: string;
  arch: number;
  packager: { appInfo: { productFilename: string }; executableName: string };
}
export declare function electronBinary(context: AfterPackContext): string;
export declare function applyFuses(
  binary: string,
  opts?: { resetAdHocDarwinSignature?: boolean },
): Promise<FuseConfig<FuseState>>;
export default function afterPack(context: AfterPackContext): Promise<void>;
