// Group commit for the hot statements of a shift change (token rows, replay records, audit records,
// badge lookups): what concurrent requests queue while one statement is running goes to the database
// together in the next one. One statement in flight per batcher, so a burst of taps costs a few round
// trips instead of one per tap, and a lone tap is sent at once.
//
// One bad row must not fail the other requests of its batch: when a batch fails while the database is
// up, it is split in halves and each half run again (a statement is atomic, so nothing of the failed
// one was applied), until the failing items stand alone and only their callers get the error. With the
// database down, every caller of the batch gets the error at once (splitting would only wait longer).
import diagnostics from 'node:diagnostics_channel';
import { isDatabaseUnavailable } from './db';

/** Every batch sent, as `{ name, size }`: the metrics endpoint's batch-size histogram subscribes. */
export const batchChannel = diagnostics.channel('sillage:batch');

export class Batcher<I, O> {
  private queue: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private running = false;

  /** `run` answers one output per input, in order; it runs alone (no two runs of one batcher overlap). */
  constructor(
    /** Names the statement in the batch-size metrics. */
    private readonly name: string,
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
    while (this.queue.length) await this.settle(this.queue.splice(0, this.maxBatch));
    this.running = false;
  }

  /** Runs a batch; on failure, its halves in order (callers keep their order, as one run would). */
  private async settle(batch: Batcher<I, O>['queue']): Promise<void> {
    if (batchChannel.hasSubscribers) batchChannel.publish({ name: this.name, size: batch.length });
    try {
      const out = await this.run(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve(out[i]!));
    } catch (e) {
      if (batch.length === 1 || isDatabaseUnavailable(e)) {
        batch.forEach((b) => b.reject(e));
        return;
      }
      const half = Math.ceil(batch.length / 2);
      await this.settle(batch.slice(0, half));
      await this.settle(batch.slice(half));
    }
  }
}
