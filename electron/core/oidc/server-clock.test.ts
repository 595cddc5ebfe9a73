// The server's time as the agent learns it from Date headers (whole seconds): a right clock is left
// alone whatever the header's rounding, a clock off by more than that precision is measured.
import { describe, expect, it } from 'vitest';
import { ServerClock } from './server-client';

const httpDate = (ms: number) => new Date(ms).toUTCString();

describe('ServerClock', () => {
  it('leaves a right clock uncorrected at every sub-second phase and round trip', () => {
    for (const phase of [0, 1, 250, 499, 500, 501, 750, 999])
      for (const rtt of [0, 3, 40, 400]) {
        let local = 1_796_000_000_000 + phase;
        const clock = new ServerClock(() => local);
        const sentAt = local;
        // The server answers anywhere within the round trip, dating its answer in whole seconds.
        const serverAt = sentAt + rtt / 2;
        local = sentAt + rtt;
        clock.learn(httpDate(Math.floor(serverAt / 1000) * 1000), sentAt, local);
        expect(clock.skewS, `phase ${phase} ms, round trip ${rtt} ms`).toBe(0);
        expect(clock.nowS()).toBe(Math.floor(local / 1000));
      }
  });

  it('measures a clock 30 s ahead or 5 h behind to the second, and follows it when it is set right', () => {
    let local = 1_796_000_000_400;
    const clock = new ServerClock(() => local);
    const answer = (serverMs: number) => clock.learn(httpDate(serverMs), local - 10, local);
    answer(local - 30_000);
    expect(clock.skewS).toBe(30);
    expect(clock.nowS()).toBe(Math.floor((local - 30_000) / 1000));
    answer(local + 5 * 3600_000);
    expect(clock.skewS).toBe(-5 * 3600);
    local += 5 * 3600_000;
    answer(local);
    expect(clock.skewS).toBe(0);
    clock.learn(null, local, local);
    clock.learn('not a date', local, local);
    expect(clock.skewS).toBe(0);
  });
});
