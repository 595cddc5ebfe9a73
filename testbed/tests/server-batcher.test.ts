// The session server's group commit: a burst shares one statement, a database failure reaches exactly
// the callers whose items were in that statement, a bad row fails alone, and the next burst still goes
// through.
import { describe, expect, it } from 'vitest';
import { Batcher } from '../../server/src/batch';

/**
 * Statements that stay in flight until the test ends them: `started(n)` resolves once the n-th run began
 * (what is added then queues for the next), `finish()` lets the oldest running one answer.
 */
function statements() {
  const ends: (() => void)[] = [];
  const waiting = new Map<number, () => void>();
  let count = 0;
  return {
    async begin(): Promise<void> {
      count++;
      waiting.get(count)?.();
      await new Promise<void>((r) => ends.push(r));
    },
    started: (n: number) => (count >= n ? Promise.resolve() : new Promise<void>((r) => waiting.set(n, r))),
    finish: () => ends.shift()!(),
  };
}

describe('Batcher', () => {
  it('sends what queues during a run in the next run, one run at a time, answers in order', async () => {
    const runs: number[][] = [];
    let inFlight = 0;
    const db = statements();
    const b = new Batcher<number, number>('test', async (items) => {
      inFlight++;
      expect(inFlight).toBe(1);
      runs.push(items);
      await db.begin();
      inFlight--;
      return items.map((i) => i * 10);
    });
    const first = b.add(1);
    const burst = [b.add(2), b.add(3)];
    await db.started(1);
    const later = [b.add(4), b.add(5), b.add(6)];
    db.finish();
    await db.started(2);
    db.finish();
    expect(await Promise.all([first, ...burst, ...later])).toEqual([10, 20, 30, 40, 50, 60]);
    expect(runs).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
  });

  it('rejects the callers of a run that failed with the database down (no retry); the next run is made', async () => {
    let n = 0;
    const runs: string[][] = [];
    const db = statements();
    const b = new Batcher<string, string>('test', async (items) => {
      runs.push(items);
      if (n++ === 0) {
        await db.begin();
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      }
      return items.map((i) => i.toUpperCase());
    });
    const failed = [b.add('a'), b.add('b')];
    await db.started(1);
    const next = b.add('c');
    db.finish();
    await expect(Promise.all(failed)).rejects.toThrow('ECONNREFUSED');
    await expect(failed[1]).rejects.toThrow('ECONNREFUSED');
    expect(await next).toBe('C');
    expect(runs).toEqual([['a', 'b'], ['c']]);
  });

  it('isolates a bad row: its batch is split until only its caller gets the error, the others their answers', async () => {
    const runs: string[][] = [];
    // A statement PostgreSQL refuses as a whole when one row holds a NUL byte (22021).
    const b = new Batcher<string, string>('test', async (items) => {
      runs.push(items);
      if (items.some((i) => i.includes('\u0000')))
        throw Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' });
      return items.map((i) => i.toUpperCase());
    });
    const items = ['a', 'b', 'c', 'bad\u0000', 'd', 'e', 'f', 'g'];
    const answers = await Promise.allSettled(items.map((i) => b.add(i)));
    expect(answers.map((a) => (a.status === 'fulfilled' ? a.value : 'refused'))).toEqual([
      'A',
      'B',
      'C',
      'refused',
      'D',
      'E',
      'F',
      'G',
    ]);
    // One full run, then halves, depth first: log2(8) levels to isolate one row, each good half run once.
    expect(runs).toEqual([
      items,
      items.slice(0, 4),
      ['a', 'b'],
      ['c', 'bad\u0000'],
      ['c'],
      ['bad\u0000'],
      items.slice(4),
    ]);
  });

  it('splits a burst larger than the batch limit', async () => {
    const sizes: number[] = [];
    const b = new Batcher<number, number>(
      'test',
      async (items) => {
        sizes.push(items.length);
        return items;
      },
      3,
    );
    await Promise.all(Array.from({ length: 7 }, (_, i) => b.add(i)));
    expect(sizes).toEqual([3, 3, 1]);
  });
});
