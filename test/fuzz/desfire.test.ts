// Fuzzing the agent's DESFire reader side (protocol.ts + credential.ts) with mutated card answers: a
// genuine badge (the emulator) answers each APDU, and chosen answers are altered the way a hostile or
// broken card would (status words swapped, frames cut or grown, bits flipped in cryptograms, an earlier
// frame replayed). An altered UID, authentication or data answer must end in a typed refusal, never a
// credential; nothing may end in an untyped exception. (The application selection carries no proof: an
// altered status that still reads as success leads to the same mutual authentication.)
import { describe, expect, it } from 'vitest';
import { BadgeRefused, readBadgeCredential } from '../../electron/core/devices/badge/desfire/credential';
import { LocalKeyCustody } from '../../electron/core/devices/badge/desfire/custody';
import { aidBytes } from '../../electron/core/devices/badge/desfire/protocol';
import { hospitalBadge, TEST_BADGE } from '../../testbed/cards/desfire-card';
import { FUZZ_CASES, fuzz, mutateBytes, Rng } from './harness';
import { DesfireError } from '../../electron/core/devices/badge/desfire/errors';
import type { ApduTransport } from '../../electron/core/devices/types';

const AID = aidBytes(TEST_BADGE.aid);
const custody = new LocalKeyCustody((aid, keyNo) => (aid.equals(AID) && keyNo === 1 ? TEST_BADGE.master : null));
/** APDUs of a tap: UID, select, EV2First (2 frames). Only the selection carries no proof. */
const SELECT = 1;
const SW = ['9100', '91AF', '91AE', '917E', '919D', '91A0', '91CA', '911E', '9000', '6A82', '6700', '91'];

/** One altered answer, from the genuine one and what the card said before. */
function alter(rng: Rng, real: Buffer, earlier: Buffer[]): Buffer {
  switch (rng.int(7)) {
    case 0:
      return Buffer.concat([real.subarray(0, Math.max(0, real.length - 2)), Buffer.from(rng.pick(SW), 'hex')]);
    case 1:
      return real.subarray(0, rng.int(real.length));
    case 2:
      return Buffer.concat([real.subarray(0, real.length - 2), rng.bytes(1 + rng.int(40)), real.subarray(-2)]);
    case 3: {
      const b = Buffer.from(real);
      if (b.length > 2) b[rng.int(b.length - 2)]! ^= 1 << rng.int(8);
      return b;
    }
    case 4:
      return earlier.length ? rng.pick(earlier) : Buffer.alloc(0);
    case 5:
      return Buffer.concat([rng.bytes(rng.int(33)), Buffer.from(rng.pick(SW), 'hex')]);
    default:
      return mutateBytes(rng, real, 300);
  }
}

interface DesfireCase {
  /** Which answers (by APDU index) are altered. */
  targets: number[];
  seed: number;
  allowUidOnly: boolean;
}

describe('fuzz: DESFire card answers', () => {
  it('10,000 reads with altered answers: 0 crashes, 0 wrong accepts', async () => {
    let genuine = 0;
    const report = await fuzz<DesfireCase>({
      name: 'desfire-answers',
      generate: (rng) => ({
        targets: Array.from({ length: 1 + rng.int(2) }, () => rng.int(4)),
        seed: rng.next(),
        allowUidOnly: rng.chance(0.2),
      }),
      async run(c) {
        const rng = new Rng(c.seed);
        const badge = hospitalBadge('CHU-000123', { master: TEST_BADGE.master });
        const earlier: Buffer[] = [];
        const altered = new Set<number>();
        let index = 0;
        const transport: ApduTransport = {
          async transmit(apdu) {
            const real = await badge.handler(apdu);
            const i = index++;
            const answer = c.targets.includes(i) ? alter(rng, real, earlier) : real;
            if (!answer.equals(real)) altered.add(i);
            earlier.push(real);
            return answer;
          },
        };
        try {
          const cred = await readBadgeCredential(transport, [TEST_BADGE.profile], custody, {
            allowUidOnly: c.allowUidOnly,
          });
          if (!altered.size) genuine++;
          if (cred.proof.kind === 'uid-only' && c.allowUidOnly) return {};
          const proofAltered = [...altered].some((i) => i !== SELECT);
          const uid = badge.uid.toString('hex').toUpperCase();
          if (cred.proof.kind !== 'local-key' || cred.uid !== uid || proofAltered)
            return { wrongAccept: `answers ${[...altered]} altered, accepted as ${cred.proof.kind} ${cred.uid}` };
          return {};
        } catch (e) {
          if (e instanceof BadgeRefused || e instanceof DesfireError) return {};
          return { crash: `untyped ${(e as Error)?.name}: ${(e as Error)?.message}` };
        }
      },
    });
    expect(report.failures).toEqual([]);
    expect(report).toMatchObject({ cases: FUZZ_CASES, crashes: 0, wrongAccepts: 0 });
    // The generator does alter answers: an untouched read is the exception, and it is read right.
    expect(genuine).toBeLessThan(report.cases / 2);
  }, 120_000);
});
