// Tap → the badge's proof through pcscd + vpcd + pcsclite: SHARED connect, UID, select, EV2First (2
// frames) with a diversified key (held here: the card's answer checked locally, no server round trip),
// disconnect — the card side of a tap once pcscd has reported the badge. The floor is the same run's raw I/O: connect, as many trivial
// APDUs as the tap sent, disconnect, on the same reader and card. pcscd's own detection time (its
// polling of the reader) is reported apart, from real insertions, because every reader adds its own.
// The emulator's socket uses TCP_QUICKACK (testbed/quickack), else vpcd's two-segment frames would add a
// ~40 ms delayed-ACK wait to every APDU and drown the agent's own time.
import { LocalKeyCustody } from '../../electron/core/devices/badge/desfire/custody';
import { readPcscBadge, PcscMonitor } from '../../electron/core/devices/pcsc';
import { loadPcsc } from '../../native/pcsclite';
import { DESFIRE_ATR, hospitalBadge, TEST_BADGE } from '../../testbed/cards/desfire-card';
import { startPcscd, waitFor } from '../../testbed/pcscd';
import { VirtualCard } from '../../testbed/vpcd-client';
import { rawIo } from '../desfire-rig';
import { quantiles } from '../harness';
import type { Benchmark } from '../harness';
import type { BadgeProfile } from '../../electron/core/config/badge-profile';

const TAPS = 300;
const INSERTIONS = 20;
const PROFILE: BadgeProfile = TEST_BADGE.profile;

const bench: Benchmark = {
  name: 'badge-tap-credential',
  unit: 'ms',
  description: 'DESFire tap → proven badge over pcscd/vpcd (EV2First with a diversified AES key, checked locally)',
  async run() {
    const pcscd = await startPcscd();
    process.env.PCSCLITE_CSOCK_NAME = pcscd.env.PCSCLITE_CSOCK_NAME;
    const monitor = new PcscMonitor({ createContext: loadPcsc });
    const emu = hospitalBadge('CHU-000123');
    const uid = emu.uid.toString('hex').toUpperCase();
    const card = new VirtualCard({ atr: DESFIRE_ATR, handler: emu.handler });
    const custody = new LocalKeyCustody(() => TEST_BADGE.master);
    const how = { profiles: () => [PROFILE], custody, allowUidOnly: () => false };
    try {
      monitor.start();
      await waitFor(() => monitor.list().length >= 1, 5000, 'readers');
      const name = monitor.list()[0]!.name;

      // pcscd's detection: insertion on vpcd → card-present from the monitor.
      const detection: number[] = [];
      for (let i = 0; i < INSERTIONS; i++) {
        const t0 = performance.now();
        const seen = new Promise<void>((resolve) => monitor.once('card-present', () => resolve()));
        await card.insert(pcscd.ports[0]!);
        await seen;
        detection.push(performance.now() - t0);
        await card.remove();
        await waitFor(() => !monitor.list().some((r) => r.atr), 5000, 'removed');
      }

      await card.insert(pcscd.ports[0]!);
      await waitFor(() => monitor.list().some((r) => r.atr), 5000, 'present');
      const reader = monitor.reader(name)!;
      const samples: number[] = [];
      const floor: number[] = [];
      let apdusPerTap = 0;
      for (let i = 0; i < TAPS + 20; i++) {
        const before = card.apduCount;
        const t0 = performance.now();
        const out = await readPcscBadge(reader, 'DESFire', how);
        const t1 = performance.now();
        if (!out.ok || out.badge.chipId !== uid)
          throw new Error(`tap ${i} failed: ${out.ok ? out.badge.chipId : out.message}`);
        apdusPerTap = card.apduCount - before;
        const t2 = performance.now();
        await rawIo(reader, apdusPerTap);
        const t3 = performance.now();
        if (i >= 20) {
          samples.push(t1 - t0);
          floor.push(t3 - t2);
        }
      }
      return {
        samples,
        floor,
        extra: {
          apdusPerTap,
          taps: TAPS,
          detection: quantiles(detection),
          auth: 'EV2First',
          key: 'AN10922 diversified AES-128',
          transport: 'pcscd + vsmartcard-vpcd',
        },
      };
    } finally {
      monitor.stop();
      await card.remove();
      await pcscd.stop();
    }
  },
};

export default bench;
