// Workstation assertions signed ahead of need. A tap sends two or three signed requests in a row (relay
// calls, the grant); a TPM takes milliseconds per signature (the tests' software TPM about 4), a software
// key a fraction of one, and either way the user waits for it. The stock holds a few assertions signed
// while nothing happens; each is handed out once (its jti is single use on the server), and only while it
// has at least half its lifetime left on the server's clock, so that a repeat after a lost answer still
// reaches the server in time. An assertion dated under another clock offset than the current one is
// dropped: the server's time moved under it. Assertions live in this process's memory only, like the key
// handle that signs them.

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

/** Wait after a take before signing again: a tap's requests follow each other within a few milliseconds. */
const REFILL_DELAY_MS = 100;

export class AssertionStock {
  private ready: Signed[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private filling: Promise<void> | null = null;
  /** Requests that found the stock empty while it was being signed: each gets the next signature. */
  private waiters: ((token: string | null) => void)[] = [];
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
    if (a) return Promise.resolve(a.token);
    // A TPM signs one at a time: the signature under way is the one this request waits for.
    if (this.filling)
      return new Promise<string | null>((r) => this.waiters.push(r)).then((t) => t ?? this.sign(this.clock.nowS()));
    return this.sign(this.clock.nowS());
  }

  /** Fills once no assertion has been taken for a moment (the tap's requests are sent). */
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
      for (const w of this.waiters.splice(0)) w(null);
      if (this.stopped) return;
      const oldest = this.ready[0];
      // Re-signed when the oldest stops being usable, so that a tap after a quiet hour finds a full stock.
      this.schedule(oldest ? (oldest.iatS + this.maxAgeS - this.clock.nowS()) * 1000 : REFILL_DELAY_MS * 60);
    });
    return this.filling;
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.waiters.splice(0)) w(null);
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
    const wanted = () => this.waiters.length > 0 || this.ready.length < this.size;
    for (let tries = 0; tries < this.size * 2 + 2 && !this.stopped && wanted(); tries++) {
      const offsetS = this.clock.offsetS;
      const iatS = this.clock.nowS();
      let token: string;
      try {
        token = await this.sign(iatS);
      } catch {
        return;
      }
      if (this.stopped || offsetS !== this.clock.offsetS) continue;
      const waiter = this.waiters.shift();
      if (waiter) waiter(token);
      else this.ready.push({ token, iatS, offsetS });
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
