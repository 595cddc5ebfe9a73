// Benchmark harness: each benchmark returns raw samples (and the same run's floor: what the agent cannot
// go below, such as raw card I/O or the transport alone); the harness writes one JSON file per benchmark.
import fs from 'node:fs';
import path from 'node:path';

export interface BenchOutput {
  samples: number[];
  /** Same-run measurement of the irreducible part (transport, card I/O, network). */
  floor?: number[] | null;
  extra?: Record<string, unknown>;
}

export interface Benchmark {
  name: string;
  unit: 'ms' | 'us' | 'ops/s' | 'MB' | 's';
  description: string;
  run(): Promise<BenchOutput>;
}

export interface BenchResult {
  name: string;
  unit: string;
  n: number;
  p50: number;
  p95: number;
  p99: number;
  floor: { p50: number; p95: number } | null;
  extra: Record<string, unknown>;
}

/** Nearest-rank percentile (no interpolation: every reported value was measured). */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

const round = (x: number) => Math.round(x * 1000) / 1000;

export function summarize(b: Pick<Benchmark, 'name' | 'unit'>, out: BenchOutput): BenchResult {
  return {
    name: b.name,
    unit: b.unit,
    n: out.samples.length,
    p50: round(percentile(out.samples, 50)),
    p95: round(percentile(out.samples, 95)),
    p99: round(percentile(out.samples, 99)),
    floor:
      out.floor && out.floor.length
        ? { p50: round(percentile(out.floor, 50)), p95: round(percentile(out.floor, 95)) }
        : null,
    extra: out.extra ?? {},
  };
}

export function quantiles(samples: number[]): { p50: number; p95: number } {
  return { p50: round(percentile(samples, 50)), p95: round(percentile(samples, 95)) };
}

export function writeResult(dir: string, r: BenchResult): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${r.name}.json`);
  fs.writeFileSync(file, JSON.stringify(r, null, 2) + '\n');
  return file;
}
