// Tests that replay NXP's published transcripts fix the reader's RndA (NXP prints it): `randomBytes(16)`
// returns the queued values first, then real randoms. Use from a test file as
//   vi.mock('node:crypto', async (orig) => (await import('…/testbed/fixed-random')).withFixedRandom16(await orig()));
import type * as NodeCrypto from 'node:crypto';

export const fixedRandom16: Buffer[] = [];

export function withFixedRandom16(real: typeof NodeCrypto): typeof NodeCrypto {
  return {
    ...real,
    randomBytes: ((n: number) =>
      n === 16 && fixedRandom16.length ? fixedRandom16.shift()! : real.randomBytes(n)) as typeof real.randomBytes,
  };
}
