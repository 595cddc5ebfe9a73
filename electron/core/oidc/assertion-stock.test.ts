// Assertions signed ahead of a tap: each handed out once, never older than half its lifetime, never
// dated under a clock offset that has changed since, and a failing key never leaves a request without one.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AssertionStock } from './assertion-stock';

afterEach(() => void vi.useRealTimers());

/** A key signing `n-<date>` tokens in order, and a server clock the test moves. */
function rig(opts: { fail?: () => boolean } = {}) {
  const clock = { now: 1_800_000_000, offsetS: 0, nowS: () => clock.now + clock.offsetS };
  let n = 0;
  const signed: number[] = [];
  const sign = async (nowS: number) => {
    if (opts.fail?.()) throw new Error('key unavailable');
    signed.push(nowS);
    return `${++n}-${nowS}`;
  };
  return { clock, signed, sign };
}

describe('AssertionStock', () => {
  it('hands each assertion out once, signs ahead of the next requests, and signs inline when empty', async () => {
    vi.useFakeTimers();
    const r = rig();
    const stock = new AssertionStock(r.sign, r.clock, 60, 2);
    await stock.fill();
    expect(stock.held).toBe(2);
    const taken = [await stock.take(), await stock.take(), await stock.take()];
    expect(new Set(taken).size).toBe(3);
    expect(r.signed).toHaveLength(3);
    expect(stock.held).toBe(0);
    // Refilled once the burst is over, not during it.
    await vi.advanceTimersByTimeAsync(99);
    expect(stock.held).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(stock.held).toBe(2);
    expect(r.signed).toHaveLength(5);
    stock.stop();
  });

  it('signs ahead only once requests have paused, and a request during the signing waits for one only', async () => {
    vi.useFakeTimers();
    const r = rig();
    // A key that signs one at a time, in 20 ms, like a TPM.
    let busy = Promise.resolve();
    const slow = (nowS: number) => {
      const t = busy.then(() => new Promise((res) => setTimeout(res, 20))).then(() => r.sign(nowS));
      busy = t.then(() => undefined);
      return t;
    };
    const stock = new AssertionStock(slow, r.clock, 60, 3);
    stock.fillSoon();
    await vi.advanceTimersByTimeAsync(60);
    const first = stock.take();
    await vi.advanceTimersByTimeAsync(60);
    const second = stock.take();
    await vi.advanceTimersByTimeAsync(40);
    // Each request signed its own; nothing was signed beside them.
    expect(await first).toBe(`1-${r.clock.nowS()}`);
    expect(await second).toBe(`2-${r.clock.nowS()}`);
    await vi.advanceTimersByTimeAsync(99 - 40);
    expect(r.signed).toHaveLength(2);
    // The stock starts signing; a request 10 ms into it gets that signature, 10 ms later (not one of its
    // own queued behind it: 30 ms).
    await vi.advanceTimersByTimeAsync(1 + 10);
    let got: string | null = null;
    void stock.take().then((t) => (got = t));
    await vi.advanceTimersByTimeAsync(9);
    expect(got).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(got).toBe(`3-${r.clock.nowS()}`);
    await vi.advanceTimersByTimeAsync(500);
    expect(stock.held).toBe(3);
    expect(r.signed).toHaveLength(6);
    stock.stop();
  });

  it('never hands out one older than half its lifetime, and re-signs the stock while nobody taps', async () => {
    vi.useFakeTimers();
    const r = rig();
    const stock = new AssertionStock(r.sign, r.clock, 60, 2);
    await stock.fill();
    r.clock.now += 29;
    expect(stock.held).toBe(2);
    r.clock.now += 1;
    expect(stock.held).toBe(0);
    expect(await stock.take()).toBe(`3-${r.clock.nowS()}`);
    stock.stop();

    const idle = new AssertionStock(r.sign, r.clock, 60, 1);
    await idle.fill();
    const before = r.signed.length;
    // An hour without a tap: the timer keeps one usable assertion ready, about two signatures a minute.
    for (let s = 0; s < 3600; s += 5) {
      r.clock.now += 5;
      await vi.advanceTimersByTimeAsync(5000);
      expect(idle.held, `after ${s + 5} s`).toBe(1);
    }
    const resigned = r.signed.length - before;
    expect(resigned).toBeGreaterThanOrEqual(118);
    expect(resigned).toBeLessThanOrEqual(122);
    const t = await idle.take();
    expect(Number(t.split('-')[1])).toBeGreaterThan(r.clock.nowS() - 30);
    idle.stop();
  });

  it('drops assertions dated under another clock offset, and those dated ahead of a clock set back', async () => {
    const r = rig();
    const stock = new AssertionStock(r.sign, r.clock, 60, 2);
    await stock.fill();
    r.clock.offsetS = 120;
    expect(stock.held).toBe(0);
    expect(await stock.take()).toBe(`3-${r.clock.now + 120}`);
    r.clock.offsetS = 0;
    await stock.fill();
    expect(stock.held).toBe(2);
    r.clock.now -= 3600;
    expect(stock.held).toBe(0);
    stock.stop();
  });

  it('keeps no assertion signed under an offset that changed while it was signed', async () => {
    const r = rig();
    let moves = 1;
    const moving = async (nowS: number) => {
      const t = await r.sign(nowS);
      if (moves-- > 0) r.clock.offsetS += 10;
      return t;
    };
    const stock = new AssertionStock(moving, r.clock, 60, 2);
    await stock.fill();
    expect(stock.held).toBe(2);
    expect(await stock.take()).toBe(`2-${r.clock.nowS()}`);
    stock.stop();
  });

  it('a failing key leaves the stock short and the request signs, and fails, on its own', async () => {
    let failing = true;
    const r = rig({ fail: () => failing });
    const stock = new AssertionStock(r.sign, r.clock, 60, 2);
    await stock.fill();
    expect(stock.held).toBe(0);
    await expect(stock.take()).rejects.toThrow('key unavailable');
    failing = false;
    expect(await stock.take()).toBe(`1-${r.clock.nowS()}`);
    stock.stop();
  });
});
