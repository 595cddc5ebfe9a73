// The first login of a shift, on the agent as wired by createAgent: a DESFire badge emulated on vpcd,
// pcscd detection, the PC/SC backend with the badge keys held by the session server (relay), the server
// on PostgreSQL. Two steps, each timed:
//   tap  — badge inserted → PIN pad shown with the holder's name (the server knows whose badge it is);
//          floor: pcscd's detection plus the raw I/O of the same number of APDUs (as tap-reopen).
//   code — code submitted → session open with its tokens; it includes the memory-hard code check
//          (scrypt, 16 MiB); floor: that check alone, in this process with the server's parameters, plus
//          one HTTP round trip to the same server.
// Samples: the tap step; extra.code: the code step with its own floor. Between logins the roaming
// session is ended on the server, so each tap is a first login again.
import { checkSecret, hashSecret } from '../../server/src/directory';
import { waitFor } from '../../testbed/pcscd';
import { rawIo, startBadgeAgent, stateReached } from '../desfire-rig';
import { quantiles } from '../harness';
import type { Benchmark } from '../harness';

const LOGINS = 40;
const CODE = '2468';

const bench: Benchmark = {
  name: 'first-login',
  unit: 'ms',
  description: 'first login of a shift: badge tap → PIN pad with the name, code → session open (scrypt check)',
  async run() {
    const rig = await startBadgeAgent({ secret: CODE });
    const { server, agent, engine, monitor, card, port, present } = rig;
    try {
      const stored = await hashSecret(CODE);

      const tapSamples: number[] = [];
      const tapFloor: number[] = [];
      const codeSamples: number[] = [];
      const codeFloor: number[] = [];
      const detection: number[] = [];
      let apdus = 0;
      for (let i = 0; i < LOGINS + 3; i++) {
        const seen = new Promise<number>((resolve) => monitor.once('card-present', () => resolve(performance.now())));
        const pad = stateReached(engine, 'pin-required', i);
        const before = card.apduCount;
        const t0 = performance.now();
        await card.insert(port);
        const tDetect = await seen;
        const tPad = await pad;
        const st = engine.getState();
        if (st.kind !== 'pin-required' || st.identity?.lastName !== 'BENCH')
          throw new Error(`tap ${i}: no PIN pad with the holder's name`);
        apdus = card.apduCount - before;
        const c0 = performance.now();
        if (!(await engine.submitPin(CODE)).accepted) throw new Error(`login ${i} refused`);
        await waitFor(() => engine.getState().kind === 'open', 10_000, 'session open');
        const c1 = performance.now();
        const s = engine.getState();
        if (s.kind !== 'open' || s.session.assurance !== 'mfa') throw new Error(`login ${i}: not a 2-factor session`);

        // Floors of the same login, measured right after it on the same card and server.
        const r0 = performance.now();
        await rawIo(monitor.reader(monitor.list()[0]!.name)!, apdus);
        const io = performance.now() - r0;
        const k0 = performance.now();
        if (!(await checkSecret(CODE, stored))) throw new Error('code check');
        await (await fetch(`${server.issuer}/healthz`)).arrayBuffer();
        const check = performance.now() - k0;

        await card.remove();
        await waitFor(() => !present(), 5000, 'removed');
        agent.lock('user-lock');
        // The next tap is the first of a new shift.
        await server.sessions.endAllForAccount(rig.accountId, 'bench');
        if (i >= 3) {
          tapSamples.push(tPad - t0);
          tapFloor.push(tDetect - t0 + io);
          detection.push(tDetect - t0);
          codeSamples.push(c1 - c0);
          codeFloor.push(check);
        }
      }
      const tap = quantiles(tapSamples);
      const tf = quantiles(tapFloor);
      const code = quantiles(codeSamples);
      const cf = quantiles(codeFloor);
      return {
        samples: tapSamples,
        floor: tapFloor,
        extra: {
          logins: LOGINS,
          apdusPerTap: apdus,
          detection: quantiles(detection),
          tapAboveFloorP95: Math.round((tap.p95 - tf.p95) * 1000) / 1000,
          code: { ...code, floor: cf, aboveFloorP95: Math.round((code.p95 - cf.p95) * 1000) / 1000 },
          targets: { tapAboveFloorP95: 50, codeAboveFloorP95: 150 },
          custody: 'server relay',
          database: 'postgresql',
        },
      };
    } finally {
      await rig.close();
    }
  },
};

export default bench;
