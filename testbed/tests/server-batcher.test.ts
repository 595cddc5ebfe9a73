// The session server's group commit: a burst shares one statement, a failure reaches exactly the
// callers whose items were in that statement, and the next burst still goes through.
import { describe, expect, it } from 'vitest';
import { Batcher } from '../../server/src/batch';

describe('Batcher', () => {
  it('sends what queues during a run in the next run, one run at a time, answers in order', async () => {
    const runs: number[][] = [];
    let inFlight = 0;
    const b = new Batcher<number, number>(async (items) => {
      inFlight++;
      expect(inFlight).toBe(1);
      runs.push(items);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return items.map((i) => i * 10);
    });
    const first = b.add(1);
    const burst = [b.add(2), b.add(3)];
    await new Promise((r) => setTimeout(r, 1));
    const later = [b.add(4), b.add(5), b.add(6)];
    expect(await Promise.all([first, ...burst, ...later])).toEqual([10, 20, 30, 40, 50, 60]);
    expect(runs).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
  });

  it('rejects the callers of a failed run only; the next run is made', async () => {
    let n = 0;
    const b = new Batcher<string, string>(async (items) => {
      if (n++ === 0) {
        await new Promise((r) => setTimeout(r, 5));
        throw new Error('database down');
      }
      return items.map((i) => i.toUpperCase());
    });
    const failed = [b.add('a'), b.add('b')];
    await new Promise((r) => setTimeout(r, 1));
    const next = b.add('c');
    await expect(Promise.all(failed)).rejects.toThrow('database down');
    await expect(failed[1]).rejects.toThrow('database down');
    expect(await next).toBe('C');
  });

  it('splits a burst larger than the batch limit', async () => {
    const sizes: number[] = [];
    const b = new Batcher<number, number>(async (items) => {
      sizes.push(items.length);
      return items;
    }, 3);
    await Promise.all(Array.from({ length: 7 }, (_, i) => b.add(i)));
    expect(sizes).toEqual([3, 3, 1]);
  });
});
