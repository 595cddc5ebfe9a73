// The benchmark's reading of the instances' histograms: parsed from the exposition text, subtracted
// between two scrapes, and interpolated as Prometheus's histogram_quantile does.
import { describe, expect, it } from 'vitest';
import { histogram, histogramDelta, histogramQuantile, requestCount } from './server-load';

const text = (n: [number, number, number]) =>
  [
    '# TYPE sillage_request_duration_seconds histogram',
    `sillage_request_duration_seconds_bucket{le="0.005",route="POST /token",grant="badge",status="200"} ${n[0]}`,
    `sillage_request_duration_seconds_bucket{le="0.01",route="POST /token",grant="badge",status="200"} ${n[1]}`,
    `sillage_request_duration_seconds_bucket{le="+Inf",route="POST /token",grant="badge",status="200"} ${n[2]}`,
    `sillage_request_duration_seconds_count{route="POST /token",grant="badge",status="200"} ${n[2]}`,
    `sillage_request_duration_seconds_bucket{le="+Inf",route="POST /token",grant="badge",status="400"} 7`,
    `sillage_request_duration_seconds_count{route="POST /token",grant="badge",status="400"} 7`,
  ].join('\n');

describe('instance histograms in the benchmark', () => {
  it('reads one series, subtracts two scrapes, interpolates quantiles inside buckets', () => {
    const series = { route: 'POST /token', grant: 'badge', status: '200' };
    const before = histogram(text([10, 10, 10]), 'sillage_request_duration_seconds', series);
    const after = histogram(text([60, 110, 110]), 'sillage_request_duration_seconds', series);
    const d = histogramDelta(before, after);
    expect([...d]).toEqual([
      [0.005, 50],
      [0.01, 100],
      [Infinity, 100],
    ]);
    expect(histogramQuantile(d, 0.5)).toBeCloseTo(0.005);
    expect(histogramQuantile(d, 0.75)).toBeCloseTo(0.0075);
    expect(histogramQuantile(new Map(), 0.5)).toBeNaN();
    expect(requestCount(text([60, 110, 110]))).toBe(117);
  });
});
