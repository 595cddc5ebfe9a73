// Card inserted → identity ready (the PIN pad shows the holder's name): pcscd's detection, the agent's
// classification, slot mapping, certificate read and parsing through PKCS#11. Floor of the same run:
// pcscd's detection of that insertion plus a raw PKCS#11 read of the same certificate.
import { waitFor } from '../../testbed/pcscd';
import { cpsRig } from '../cps-rig';
import type { Benchmark } from '../harness';

const RUNS = 60;

const bench: Benchmark = {
  name: 'cps-insert-identity',
  unit: 'ms',
  description: 'CPS card inserted → identity ready (pcscd/vpcd, PKCS#11 on SoftHSM)',
  async run() {
    const rig = await cpsRig();
    try {
      const samples: number[] = [];
      const floor: number[] = [];
      const detection: number[] = [];
      for (let i = 0; i < RUNS + 5; i++) {
        const seen = new Promise<number>((resolve) =>
          rig.monitor.once('card-present', () => resolve(performance.now())),
        );
        const ready = new Promise<number>((resolve) => {
          const off = rig.engine.onState.add((s) => {
            if (s.kind === 'pin-required' || s.kind === 'card-blocked' || s.kind === 'locked') {
              off();
              resolve(performance.now());
            }
          });
        });
        const t0 = performance.now();
        await rig.card.insert(rig.port);
        const tSeen = await seen;
        const tReady = await ready;
        if (rig.engine.getState().kind !== 'pin-required') throw new Error(`run ${i}: ${rig.engine.getState().kind}`);
        const r0 = performance.now();
        rig.raw.readCertificate();
        const io = performance.now() - r0;
        await rig.card.remove();
        await waitFor(() => rig.engine.getState().kind === 'locked', 5000, 'removed');
        await waitFor(() => !rig.monitor.list().some((r) => r.atr), 5000, 'absent');
        if (i >= 5) {
          samples.push(tReady - t0);
          detection.push(tSeen - t0);
          floor.push(tSeen - t0 + io);
        }
      }
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      return {
        samples,
        floor,
        extra: {
          runs: RUNS,
          detectionP50: Math.round(med(detection) * 1000) / 1000,
          module: 'SoftHSM2 (Cryptolib stand-in)',
        },
      };
    } finally {
      await rig.close();
    }
  },
};

export default bench;
