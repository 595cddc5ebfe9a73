import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { percentile, summarize, writeResult } from './harness';

describe('bench harness', () => {
  it('uses nearest-rank percentiles', () => {
    const s = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(s, 50)).toBe(50);
    expect(percentile(s, 95)).toBe(95);
    expect(percentile(s, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(() => percentile([], 50)).toThrow();
  });

  it('writes the documented JSON shape', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-'));
    const r = summarize({ name: 'x', unit: 'ms' }, { samples: [3, 1, 2], floor: [1, 1], extra: { a: 1 } });
    const file = writeResult(dir, r);
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(Object.keys(json)).toEqual(['name', 'unit', 'n', 'p50', 'p95', 'p99', 'floor', 'extra']);
    expect(json).toEqual({
      name: 'x',
      unit: 'ms',
      n: 3,
      p50: 2,
      p95: 3,
      p99: 3,
      floor: { p50: 1, p95: 1 },
      extra: { a: 1 },
    });
    expect(summarize({ name: 'y', unit: 'ms' }, { samples: [1] }).floor).toBeNull();
  });
});
