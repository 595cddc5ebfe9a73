// Open-loop load, as wrk2 makes it: requests are started at a constant arrival rate whatever the server
// does, and each is timed from the moment it was scheduled to start, not from when the generator got
// round to sending it. A closed loop (N clients, each waiting for its answer) slows down with the server
// and so never measures the queue a slow answer builds: "coordinated omission". Taps at a shift change
// arrive at their own pace, as here.
import { percentile } from './harness';

export interface LoadClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: LoadClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

export interface RateResult {
  /** Arrivals per second asked for. */
  rate: number;
  sent: number;
  ok: number;
  failed: number;
  /** Answers per second over the run (below `rate` when the server cannot keep up). */
  achievedRate: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** Failures by message (first 100 characters). */
  errors: Record<string, number>;
}

export interface OpenLoopOptions {
  rate: number;
  durationMs: number;
  /** One request (or one tap of several requests); `i` counts from 0. Resolves when answered and checked. */
  send(i: number): Promise<void>;
  clock?: LoadClock;
  /** Above this many unanswered requests the generator stops sending and counts the rest as failed. */
  maxOutstanding?: number;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

export async function openLoop(opts: OpenLoopOptions): Promise<{ latencies: number[]; result: RateResult }> {
  const clock = opts.clock ?? realClock;
  const maxOutstanding = opts.maxOutstanding ?? 10_000;
  const interval = 1000 / opts.rate;
  const total = Math.floor((opts.durationMs / 1000) * opts.rate);
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let failed = 0;
  const fail = (why: string) => {
    failed++;
    const key = why.slice(0, 100);
    errors[key] = (errors[key] ?? 0) + 1;
  };
  const inflight = new Set<Promise<void>>();
  const start = clock.now();
  let i = 0;
  while (i < total) {
    const due = start + i * interval;
    const now = clock.now();
    if (now < due) {
      await clock.sleep(due - now);
      continue;
    }
    // Late (a busy generator or a timer's granularity): every request now due starts, each still timed
    // from its own scheduled start.
    for (; i < total && start + i * interval <= now; i++) {
      const scheduled = start + i * interval;
      if (inflight.size >= maxOutstanding) {
        fail('generator: too many requests outstanding');
        continue;
      }
      const p: Promise<void> = opts
        .send(i)
        .then(
          () => {
            latencies.push(clock.now() - scheduled);
          },
          (e: unknown) => fail(e instanceof Error ? e.message : String(e)),
        )
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
  }
  await Promise.all(inflight);
  const elapsed = clock.now() - start;
  const q = (p: number) => (latencies.length ? r3(percentile(latencies, p)) : NaN);
  return {
    latencies,
    result: {
      rate: opts.rate,
      sent: total,
      ok: latencies.length,
      failed,
      achievedRate: Math.round((latencies.length / elapsed) * 1000),
      p50: q(50),
      p99: q(99),
      p999: q(99.9),
      max: latencies.length ? r3(Math.max(...latencies)) : NaN,
      errors,
    },
  };
}

/**
 * The highest rate of an ascending ladder whose p99 stays within `limitMs` with nothing failed, every
 * lower rate passing too; 0 when the first one fails.
 */
export function maxRateAtP99(results: RateResult[], limitMs: number): number {
  let best = 0;
  for (const r of [...results].sort((a, b) => a.rate - b.rate)) {
    if (r.failed > 0 || !(r.p99 <= limitMs)) break;
    best = r.rate;
  }
  return best;
}

/**
 * Runs `ladder` in order (then `extra` rates while the p99 still holds, so the maximum is found past
 * the ladder's top), `warmUp` before each rate; then `refine` rates halving the gap between the highest
 * rate that held and the lowest that did not (from 0 when none held), so that two servers far below the
 * ladder's first step still compare. Results in ascending rate.
 */
export async function rateSweep(opts: {
  ladder: number[];
  extra?: number[];
  refine?: number;
  limitMs: number;
  durationMs: number;
  send(i: number): Promise<void>;
  warmUp?: (rate: number) => Promise<void>;
  clock?: LoadClock;
}): Promise<{ results: RateResult[]; latenciesByRate: Map<number, number[]> }> {
  const results: RateResult[] = [];
  const latenciesByRate = new Map<number, number[]>();
  let n = 0;
  const run = async (rate: number) => {
    await opts.warmUp?.(rate);
    const { latencies, result } = await openLoop({
      rate,
      durationMs: opts.durationMs,
      send: (i) => opts.send(n + i),
      ...(opts.clock ? { clock: opts.clock } : {}),
    });
    n += result.sent;
    results.push(result);
    latenciesByRate.set(rate, latencies);
    return result;
  };
  for (const rate of opts.ladder) await run(rate);
  for (const rate of opts.extra ?? []) {
    if (maxRateAtP99(results, opts.limitMs) < results.at(-1)!.rate) break;
    await run(rate);
  }
  for (let k = 0; k < (opts.refine ?? 0); k++) {
    const held = maxRateAtP99(results, opts.limitMs);
    const over = results.filter((r) => r.rate > held).sort((a, b) => a.rate - b.rate)[0];
    if (!over) break;
    const mid = Math.round((held + over.rate) / 2);
    if (mid === held || mid === over.rate || latenciesByRate.has(mid)) break;
    await run(mid);
  }
  results.sort((a, b) => a.rate - b.rate);
  return { results, latenciesByRate };
}
