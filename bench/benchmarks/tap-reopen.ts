// Tap → re-opened session with fresh tokens, on the agent as wired by createAgent: a DESFire badge
// emulated on vpcd, pcscd detection, the PC/SC backend authenticating the badge with the keys the session
// server holds (the relay's challenge), the re-open grant carrying the card's answer, checked by the
// server (PostgreSQL), the engine opening the session. extra.roundTripsPerTap counts the HTTP requests
// the server received during each tap (its own request log). The floor, per tap and in the same run:
// pcscd's detection of the insertion plus the raw I/O of the same number of APDUs on that card — what
// any agent would pay.
import { jsonLog } from '../../server/src/log';
import { waitFor } from '../../testbed/pcscd';
import { rawIo, startBadgeAgent, stateReached } from '../desfire-rig';
import { quantiles } from '../harness';
import type { Benchmark } from '../harness';

const TAPS = 100;

const bench: Benchmark = {
  name: 'tap-reopen',
  unit: 'ms',
  description:
    'badge tap → re-opened session with fresh tokens (pcscd/vpcd, server key relay, re-open grant on PostgreSQL)',
  async run() {
    let requests = 0;
    const rig = await startBadgeAgent({
      secret: '2468',
      // One 'request' line per HTTP request the server answers.
      log: jsonLog((line) => {
        if ((JSON.parse(line) as { msg?: string }).msg === 'request') requests += 1;
      }, 'info'),
    });
    const { agent, engine, monitor, card, port, present } = rig;
    try {
      const tapOnce = async () => {
        await card.insert(port);
        await waitFor(() => engine.getState().kind !== 'locked' || false, 10_000, 'tap seen');
      };

      // First tap of the shift: badge + code.
      await tapOnce();
      await waitFor(() => engine.getState().kind === 'pin-required', 10_000, 'PIN pad');
      if (!(await engine.submitPin('2468')).accepted) throw new Error('bench login refused');
      await card.remove();
      await waitFor(() => !present(), 5000, 'removed');

      const samples: number[] = [];
      const floor: number[] = [];
      const detection: number[] = [];
      const roundTrips: number[] = [];
      let apdus = 0;
      for (let i = 0; i < TAPS + 5; i++) {
        // Locking revokes the session's refresh token (one request): done before the tap is timed.
        const revoked = requests;
        agent.lock('user-lock');
        await waitFor(() => requests > revoked, 5000, 'refresh token revoked');
        const seen = new Promise<number>((resolve) => monitor.once('card-present', () => resolve(performance.now())));
        const opened = stateReached(engine, 'open', i);
        const before = card.apduCount;
        const requestsBefore = requests;
        const t0 = performance.now();
        await card.insert(port);
        const tDetect = await seen;
        const tOpen = await opened;
        const s = engine.getState();
        if (s.kind !== 'open' || s.session.assurance !== 're-open') throw new Error(`tap ${i}: not a re-open`);
        apdus = card.apduCount - before;
        roundTrips.push(requests - requestsBefore);
        const r0 = performance.now();
        await rawIo(monitor.reader(monitor.list()[0]!.name)!, apdus);
        const io = performance.now() - r0;
        await card.remove();
        await waitFor(() => !present(), 5000, 'removed');
        if (i >= 5) {
          samples.push(tOpen - t0);
          detection.push(tDetect - t0);
          floor.push(tDetect - t0 + io);
        }
      }
      return {
        samples,
        floor,
        extra: {
          taps: TAPS,
          apdusPerTap: apdus,
          roundTripsPerTap: Math.max(...roundTrips),
          detection: quantiles(detection),
          custody: 'server relay',
          grant: 're-open',
          database: 'postgresql',
        },
      };
    } finally {
      await rig.close();
    }
  },
};

export default bench;
