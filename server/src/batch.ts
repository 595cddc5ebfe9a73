// Group commit for the hot statements of a shift change (token rows, replay records, audit records,
// badge lookups): what concurrent requests queue while one statement is running goes to the database
// together in the next one. One statement in flight per batcher, so a burst of taps costs a few round
// trips instead of one per tap, and a lone tap is sent at once.
export class Batcher<I, O> {
  private queue: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private running = false;

  /** `run` answers one output per input, in order; if it throws, every caller of that batch gets the error. */
  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly maxBatch = 200,
  ) {}

  add(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) {
        this.running = true;
        // Requests parsed in the same event-loop turn join the first batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const out = await this.run(batch.map((b) => b.item));
        batch.forEach((b, i) => b.resolve(out[i]!));
      } catch (e) {
        batch.forEach((b) => b.reject(e));
      }
    }
    this.running = false;
  }
}
