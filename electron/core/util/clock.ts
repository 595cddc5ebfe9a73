// Time behind an interface so tests can move the clock (4-hour MFA windows, inactivity delays).
export interface Timer {
  cancel(): void;
}

export interface Clock {
  now(): number;
  setTimer(ms: number, fn: () => void): Timer;
}

export const systemClock: Clock = {
  now: () => Date.now(),
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
  private timers: { at: number; fn: () => void; live: boolean }[] = [];

  constructor(start = Date.UTC(2026, 10, 22, 7, 0, 0)) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const timer = { at: this.t + Math.max(0, ms), fn, live: true };
    this.timers.push(timer);
    return { cancel: () => (timer.live = false) };
  }

  /**
   * Sets the wall clock forward or back, as a user or a time sync does. Timers wait a delay (setTimeout
   * is monotonic): they keep what they had left.
   */
  jump(ms: number): void {
    this.t += ms;
    for (const x of this.timers) x.at += ms;
  }

  /** Move time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.live && x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      this.t = due.at;
      due.fn();
    }
    this.timers = this.timers.filter((x) => x.live);
    this.t = end;
  }
}
