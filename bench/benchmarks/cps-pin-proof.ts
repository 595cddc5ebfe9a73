// PIN submitted → signed proof checked: the engine's submitPin through the PKCS#11 card (C_Login, then a
// signature with the authentication key over a fresh challenge, verified against the card's
// certificate). Floor of the same run: raw pkcs11js open, login, sign, logout on the same token.
import { waitFor } from '../../testbed/pcscd';
import { cpsRig } from '../cps-rig';
import type { Benchmark } from '../harness';

const RUNS = 60;

const bench: Benchmark = {
  name: 'cps-pin-proof',
  unit: 'ms',
  description: 'PIN submit → signed proof (PKCS#11 login + RSA signature on SoftHSM, checked)',
  async run() {
    const rig = await cpsRig();
    try {
      const samples: number[] = [];
      const floor: number[] = [];
      for (let i = 0; i < RUNS + 5; i++) {
        await rig.card.insert(rig.port);
        await waitFor(() => rig.engine.getState().kind === 'pin-required', 5000, 'PIN pad');
        const t0 = performance.now();
        const r = await rig.engine.submitPin(rig.pin);
        const t1 = performance.now();
        if (!r.accepted || rig.engine.getState().kind !== 'open') throw new Error(`run ${i}: refused`);
        await rig.card.remove();
        await waitFor(() => rig.engine.getState().kind === 'locked', 5000, 'locked');
        await waitFor(() => !rig.monitor.list().some((x) => x.atr), 5000, 'absent');
        const r0 = performance.now();
        rig.raw.loginAndSign(rig.pin);
        const io = performance.now() - r0;
        if (i >= 5) {
          samples.push(t1 - t0);
          floor.push(io);
        }
      }
      return {
        samples,
        floor,
        extra: { runs: RUNS, module: 'SoftHSM2 (Cryptolib stand-in)', algorithm: 'RSA-PKCS1-SHA256 2048' },
      };
    } finally {
      await rig.close();
    }
  },
};

export default bench;
