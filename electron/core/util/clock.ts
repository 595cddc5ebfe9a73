// Time behind an interface so tests can move the clock (4-hour MFA windows, inactivity delays).
// Two readings: the wall clock (`now`, what records and tokens carry, which an NTP correction or an
// administrator can step back or forward) and a monotonic one (`monotonic`, only ever moving forward,
// for durations measured on this machine: debounces, rate windows, backoffs).
import { performance } from 'node:perf_hooks';

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Wall-clock time, epoch milliseconds. */
  now(): number;
  /** Milliseconds since an arbitrary origin; never goes back, whatever the wall clock does. */
  monotonic(): number;
  setTimer(ms: number, fn: () => void): Timer;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimer(ms, fn) {
    // setTimeout overflows past ~24.8 days; MFA windows and delays are far below that.
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};

/** A clock driven by hand, for tests and benchmarks. */
export class ManualClock implements Clock {
  private t: number;
  private mono = 0;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];

  constructor(start = Date.UTC(2026, 10, 22, 7, 0, 0)) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  monotonic(): number {
    return this.mono;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const timer = { at: this.mono + Math.max(0, ms), fn, live: true };
    this.timers.push(timer);
    return { cancel: () => (timer.live = false) };
  }

  /**
   * Sets the wall clock forward or back, as a user or a time sync does: the monotonic reading and the
   * timers (setTimeout is monotonic) keep what they had.
   */
  jump(ms: number): void {
    this.t += ms;
  }

  /** Move time forward (both readings), firing due timers in order. */
  advance(ms: number): void {
    const end = this.mono + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.live && x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      this.t += due.at - this.mono;
      this.mono = due.at;
      due.fn();
    }
    this.timers = this.timers.filter((x) => x.live);
    this.t += end - this.mono;
    this.mono = end;
  }
}
