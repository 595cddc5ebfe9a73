// The open-loop generator on a virtual clock (no real time is measured): arrivals keep their pace while
// the server falls behind, and each request is timed from its scheduled start, so the queue shows.
import { describe, expect, it } from 'vitest';
import type { LoadClock } from './open-loop';
import { maxRateAtP99, openLoop, rateSweep } from './open-loop';
import type { RateResult } from './open-loop';

/** A clock whose time moves only when every pending task has run and the next timer is due. */
function virtualClock(): LoadClock & { run<T>(p: Promise<T>): Promise<T> } {
  let t = 0;
  const timers: { at: number; seq: number; fire: () => void }[] = [];
  let seq = 0;
  const settle = async () => {
    for (let k = 0; k < 20; k++) await new Promise((r) => setImmediate(r));
  };
  return {
    now: () => t,
    sleep: (ms) =>
      new Promise<void>((fire) => {
        timers.push({ at: t + Math.max(0, ms), seq: seq++, fire });
      }),
    async run(p) {
      let done = false;
      const out = p.finally(() => (done = true));
      for (;;) {
        await settle();
        if (done) return out;
        timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
        const next = timers.shift();
        if (!next) throw new Error('nothing scheduled and not done');
        t = next.at;
        next.fire();
      }
    },
  };
}

/** One worker answering in `serviceMs`, requests served in arrival order (a saturated server). */
function serialServer(clock: LoadClock, serviceMs: number) {
  let free = 0;
  return async () => {
    const startAt = Math.max(clock.now(), free);
    free = startAt + serviceMs;
    await clock.sleep(free - clock.now());
  };
}

describe('open loop', () => {
  it('under capacity: every request takes the service time, at the asked rate', async () => {
    const clock = virtualClock();
    const send = serialServer(clock, 5);
    const { result } = await clock.run(openLoop({ rate: 100, durationMs: 1000, send, clock }));
    expect(result).toMatchObject({ sent: 100, ok: 100, failed: 0, p50: 5, p99: 5, max: 5 });
    expect(result.achievedRate).toBeGreaterThanOrEqual(99);
  });

  it('over capacity: arrivals keep coming, the queue is in the latencies (no coordinated omission)', async () => {
    const clock = virtualClock();
    // 200 answers/s at most, 400 arrivals/s for one second: the last one waits for the 399 before it.
    const send = serialServer(clock, 5);
    const { result, latencies } = await clock.run(openLoop({ rate: 400, durationMs: 1000, send, clock }));
    expect(result.sent).toBe(400);
    expect(result.ok).toBe(400);
    // Scheduled at 399 × 2.5 ms, answered at 400 × 5 ms.
    expect(result.max).toBe(2000 - 997.5);
    expect(latencies[0]).toBe(5);
    expect(result.p50).toBeGreaterThan(400);
    expect(result.achievedRate).toBe(200);
  });

  it('a late generator still times each request from its scheduled start', async () => {
    const clock = virtualClock();
    let sleeps = 0;
    // The generator's own timer fires 7 ms late every time (a busy event loop).
    const late: LoadClock = { now: clock.now, sleep: (ms) => (sleeps++, clock.sleep(ms + 7)) };
    const { result } = await clock.run(
      openLoop({ rate: 1000, durationMs: 100, send: () => clock.sleep(1), clock: late }),
    );
    expect(sleeps).toBeGreaterThan(0);
    expect(result.sent).toBe(100);
    expect(result.max).toBeGreaterThanOrEqual(7);
  });

  it('counts failures apart, by message, and stops sending past the outstanding limit', async () => {
    const clock = virtualClock();
    const { result } = await clock.run(
      openLoop({
        rate: 100,
        durationMs: 100,
        send: async (i) => {
          await clock.sleep(1);
          if (i % 5 === 0) throw new Error('refused (400)');
        },
        clock,
      }),
    );
    expect(result).toMatchObject({ sent: 10, ok: 8, failed: 2, errors: { 'refused (400)': 2 } });
    const stuck = await clock.run(
      openLoop({ rate: 100, durationMs: 100, send: () => clock.sleep(10_000), clock, maxOutstanding: 3 }),
    );
    expect(stuck.result).toMatchObject({ sent: 10, ok: 3, failed: 7 });
  });

  it('the highest rate within the p99 limit, every lower one passing; the sweep goes past its ladder', async () => {
    const r = (rate: number, p99: number, failed = 0) => ({ rate, p99, failed }) as RateResult;
    expect(maxRateAtP99([r(100, 3), r(300, 9), r(600, 14.9), r(1000, 40)], 15)).toBe(600);
    expect(maxRateAtP99([r(100, 3), r(300, 20), r(600, 14)], 15)).toBe(100);
    expect(maxRateAtP99([r(100, 3, 1), r(300, 5)], 15)).toBe(0);
    const clock = virtualClock();
    // Service 0.5 ms: 2000/s at most; the sweep continues past 1000 until the p99 breaks.
    const send = serialServer(clock, 0.5);
    const { results } = await clock.run(
      rateSweep({ ladder: [100, 1000], extra: [1500, 3000, 6000], limitMs: 15, durationMs: 200, send, clock }),
    );
    expect(results.map((x) => x.rate)).toEqual([100, 1000, 1500, 3000]);
    expect(maxRateAtP99(results, 15)).toBe(1500);
  });

  it('halves the gap between the rate that held and the one that did not, from 0 when none held', async () => {
    const clock = virtualClock();
    // Service 5 ms: 200/s at most; nothing of the ladder holds a p99 of 15 ms.
    const send = serialServer(clock, 5);
    const { results } = await clock.run(
      rateSweep({ ladder: [300, 600], refine: 4, limitMs: 15, durationMs: 500, send, clock }),
    );
    const rates = results.map((x) => x.rate);
    expect(rates).toEqual([...rates].sort((a, b) => a - b));
    // 150 holds, 225 not; 188 holds, 207 not: the maximum known within 19/s of the 200/s capacity.
    expect(rates).toEqual([150, 188, 207, 225, 300, 600]);
    expect(maxRateAtP99(results, 15)).toBe(188);
  });
});
