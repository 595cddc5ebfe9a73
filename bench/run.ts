// `npm run bench [-- NAME...]`: run the named benchmarks (all by default), write bench/results/NAME.json.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Benchmark } from './harness';
import { summarize, writeResult } from './harness';

const here = path.dirname(new URL(import.meta.url).pathname);

async function loadAll(): Promise<Benchmark[]> {
  const dir = path.join(here, 'benchmarks');
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .sort();
  const mods = await Promise.all(files.map((f) => import(path.join(dir, f)) as Promise<{ default: Benchmark }>));
  return mods.map((m) => m.default);
}

async function main() {
  const all = await loadAll();
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = wanted.filter((w) => !all.some((b) => b.name === w));
  if (unknown.length) {
    console.error(`Unknown benchmark(s): ${unknown.join(', ')}. Available: ${all.map((b) => b.name).join(', ')}`);
    process.exit(2);
  }
  const chosen = wanted.length ? all.filter((b) => wanted.includes(b.name)) : all;
  if (chosen.length > 1 && !process.argv.includes('--in-process')) {
    // One process per benchmark: each starts its own pcscd/PostgreSQL, and native libraries (libpcsclite,
    // PKCS#11 modules) keep per-process state from the previous one.
    let failed = 0;
    for (const b of chosen) {
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', fileURLToPath(import.meta.url), b.name, '--in-process'],
        { stdio: 'inherit' },
      );
      if (r.status !== 0) failed++;
    }
    process.exit(failed ? 1 : 0);
  }
  const outDir = path.join(here, 'results');
  for (const b of chosen) {
    process.stdout.write(`${b.name}: ${b.description}… `);
    const r = summarize(b, await b.run());
    const file = writeResult(outDir, r);
    const floor = r.floor ? ` (floor p50 ${r.floor.p50}, p95 ${r.floor.p95})` : '';
    console.log(
      `n=${r.n} p50 ${r.p50} p95 ${r.p95} p99 ${r.p99} ${r.unit}${floor} → ${path.relative(process.cwd(), file)}`,
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
