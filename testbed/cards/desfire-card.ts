// The hospital's encoded badge of the test bed: the DESFire emulator with the application as the encoding
// tool leaves it (key 1 diversified per badge, the badge number in file 1).
import { diversifyAes128 } from '../../electron/core/devices/badge/desfire/crypto';
import type { Diversification } from '../../electron/core/devices/badge/desfire/crypto';
import { DesfireEmulator } from '../../electron/core/demo/desfire-card';
import type { EmuMode } from '../../electron/core/demo/desfire-card';

export { DESFIRE_ATR, DesfireEmulator } from '../../electron/core/demo/desfire-card';
export type { EmuMode } from '../../electron/core/demo/desfire-card';

export const TEST_BADGE = {
  master: Buffer.from('A1B2C3D4E5F60718293A4B5C6D7E8F90', 'hex'),
  aid: 'F51230',
  systemId: '434855',
  profile: { name: 'chu', aid: 'F51230', keyNo: 1, fileNo: 1, length: 16, mode: 'full' as const, systemId: '434855' },
};

/**
 * A badge as the encoding tool leaves it: the application with key 1 diversified (AN10922, or the
 * legacy unpadded scheme of badges encoded before it) from `master` for this badge's UID, file 1 holding
 * `number`, readable after authentication with key 1.
 */
export function hospitalBadge(
  number: string,
  opts: { master?: Buffer; uid?: Buffer; mode?: EmuMode; diversification?: Diversification } = {},
): DesfireEmulator {
  const emu = new DesfireEmulator(opts.uid ? { uid: opts.uid } : {});
  const aid = Buffer.from(TEST_BADGE.aid, 'hex').reverse();
  const data = Buffer.alloc(16);
  data.write(number);
  const key = diversifyAes128(
    opts.master ?? TEST_BADGE.master,
    Buffer.concat([emu.uid, aid, Buffer.from(TEST_BADGE.systemId, 'hex')]),
    opts.diversification ?? 'an10922',
  );
  emu.install(aid, { keys: [Buffer.alloc(16, 0x5a), key], files: { 1: { mode: opts.mode ?? 'full', read: 1, data } } });
  return emu;
}
