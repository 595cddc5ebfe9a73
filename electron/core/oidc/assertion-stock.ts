// Workstation assertions signed ahead of need. A tap sends two or three signed requests in a row (relay
// calls, the grant); a TPM signs in tens of milliseconds, a software key in a fraction of one, and either
// way the user waits for it. The stock holds a few assertions signed while nothing happens; each is handed
// out once (its jti is single use on the server), and only while it has at least half its lifetime left on
// the server's clock, so that a repeat after a lost answer still reaches the server in time. An assertion
// dated under another clock offset than the current one is dropped: the server's time moved under it.
// Assertions live in this process's memory only, like the key handle that signs them.

/** The server's time as the workstation knows it (ServerClock). */
export interface StockClock {
  nowS(): number;
  readonly offsetS: number;
}

interface Signed {
  token: string;
  iatS: number;
  offsetS: number;
}

/** Wait after a take before signing again, so that the stock refills once the tap's requests are sent. */
const REFILL_DELAY_MS = 500;

export class AssertionStock {
  private ready: Signed[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private filling: Promise<void> | null = null;
  private stopped = false;

  /**
   * `sign(nowS)`: a new assertion dated `nowS`, valid `lifetimeS`. `size`: how many to keep (one tap's
   * signed requests).
   */
  constructor(
    private readonly sign: (nowS: number) => Promise<string>,
    private readonly clock: StockClock,
    private readonly lifetimeS: number,
    private readonly size = 3,
  ) {}

  /** An assertion for one request: from the stock when a usable one is there, else signed now. */
  take(): Promise<string> {
    this.dropStale();
    const a = this.ready.shift();
    this.fillSoon();
    return a ? Promise.resolve(a.token) : this.sign(this.clock.nowS());
  }

  /**
   * Fills once no assertion has been taken for a moment: the signatures ahead never queue in front of a
   * request's own (a TPM signs one at a time).
   */
  fillSoon(): void {
    this.schedule(REFILL_DELAY_MS);
  }

  /** How many usable assertions are held now. */
  get held(): number {
    this.dropStale();
    return this.ready.length;
  }

  /** Signs until the stock is full; a failing key leaves it short (take() then signs and reports). */
  fill(): Promise<void> {
    this.filling ??= this.signUntilFull().finally(() => {
      this.filling = null;
      if (this.stopped) return;
      const oldest = this.ready[0];
      // Re-signed when the oldest stops being usable, so that a tap after a quiet hour finds a full stock.
      this.schedule(oldest ? (oldest.iatS + this.maxAgeS - this.clock.nowS()) * 1000 : REFILL_DELAY_MS * 60);
    });
    return this.filling;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.ready = [];
  }

  private get maxAgeS(): number {
    return Math.floor(this.lifetimeS / 2);
  }

  private async signUntilFull(): Promise<void> {
    this.dropStale();
    // Bounded: a clock that keeps moving under the signatures leaves the stock short, not this loop spinning.
    for (let tries = 0; tries < this.size * 2 && !this.stopped && this.ready.length < this.size; tries++) {
      const offsetS = this.clock.offsetS;
      const iatS = this.clock.nowS();
      let token: string;
      try {
        token = await this.sign(iatS);
      } catch {
        return;
      }
      if (this.stopped || offsetS !== this.clock.offsetS) continue;
      this.ready.push({ token, iatS, offsetS });
    }
  }

  private dropStale(): void {
    const now = this.clock.nowS();
    const offsetS = this.clock.offsetS;
    this.ready = this.ready.filter((a) => a.offsetS === offsetS && now - a.iatS < this.maxAgeS && a.iatS <= now);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = null;
        void this.fill();
      },
      Math.max(0, ms),
    );
    this.timer.unref?.();
  }
}
