// One small fuzzing harness for every surface (listeners, server routes, DESFire answers, HID reports):
// a seeded generator (the same cases on every run, another seed with SILLAGE_FUZZ_SEED), mutators that
// know the inputs' structure (JSON values, HTTP requests) besides plain bytes, and a runner that counts
// what matters — crashes, wrong accepts, 5xx — and prints the counts.
import net from 'node:net';

export const FUZZ_SEED = Number(process.env.SILLAGE_FUZZ_SEED ?? 0x5111a6e);
export const FUZZ_CASES = Number(process.env.SILLAGE_FUZZ_CASES ?? 10_000);

/** xorshift32: small, fast, reproducible from one 32-bit seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  /** 0 ≤ n < max */
  int(max: number): number {
    return max <= 0 ? 0 : this.next() % max;
  }
  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.next() & 0xff;
    return b;
  }
}

/** Values that break parsers: encodings, separators, NUL, boundaries. */
export const NASTY_STRINGS = [
  '',
  '\0',
  'a\0b',
  '%',
  '%00',
  '%zz',
  '%E0%A4%A',
  '%2e%2e%2f',
  '../../../../etc/passwd',
  '//',
  '\\\\',
  '\r\n',
  '\r\nx-injected: 1',
  '\u2028',
  '\ud800',
  '\uffff',
  'é',
  '🙂',
  '__proto__',
  'constructor',
  '{}',
  '[]',
  'null',
  '"',
  "'",
  '<script>',
  ' ',
  '\t',
  '0',
  '-1',
  '1e309',
  'NaN',
  'x'.repeat(300),
  'x'.repeat(5000),
];

const NASTY_VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  -0,
  1e308,
  2 ** 53 + 1,
  -(2 ** 31),
  [],
  {},
  [null],
  { '': null },
  [[[[[[[[[[[]]]]]]]]]]],
];

const INTERESTING_BYTES = [0x00, 0xff, 0x7f, 0x80, 0x0a, 0x0d, 0x25, 0x22, 0x5c, 0x7b, 0x7d, 0xc0, 0xe0, 0xf0];

/** Byte-level mutation: flips, interesting bytes, deletions, duplications, truncation, growth (≤ maxLen). */
export function mutateBytes(rng: Rng, input: Buffer, maxLen = 8192): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    const at = rng.int(b.length + 1);
    switch (rng.int(8)) {
      case 0:
        if (b.length) b[rng.int(b.length)]! ^= 1 << rng.int(8);
        break;
      case 1:
        if (b.length) b[rng.int(b.length)] = rng.pick(INTERESTING_BYTES);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), Buffer.from([rng.pick(INTERESTING_BYTES)]), b.subarray(at)]);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(16)))]);
        break;
      case 4: {
        const len = rng.int(Math.min(64, b.length - at) + 1);
        b = Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
        break;
      }
      case 5:
        b = b.subarray(0, rng.int(b.length + 1));
        break;
      case 6:
        b = Buffer.concat([b.subarray(0, at), Buffer.from(rng.pick(NASTY_STRINGS)), b.subarray(at)]);
        break;
      default:
        b = Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(8)), b.subarray(at)]);
    }
  }
  return b.length > maxLen ? b.subarray(0, maxLen) : b;
}

/** A random string built from the nasty list, a valid one and random text. */
export function mutateString(rng: Rng, s: string): string {
  switch (rng.int(6)) {
    case 0:
      return rng.pick(NASTY_STRINGS);
    case 1:
      return s + rng.pick(NASTY_STRINGS);
    case 2:
      return rng.pick(NASTY_STRINGS) + s;
    case 3: {
      const at = rng.int(s.length + 1);
      return s.slice(0, at) + rng.pick(NASTY_STRINGS) + s.slice(at);
    }
    case 4:
      return mutateBytes(rng, Buffer.from(s), 4096).toString('utf8');
    default:
      return s.slice(0, rng.int(s.length + 1));
  }
}

/** Structure-aware mutation of a JSON value: one node replaced, removed, retyped or extended. */
export function mutateJson(rng: Rng, value: unknown, depth = 0): unknown {
  const replace = () =>
    rng.chance(0.5)
      ? rng.pick(NASTY_VALUES)
      : typeof value === 'string'
        ? mutateString(rng, value)
        : rng.pick(NASTY_STRINGS);
  if (depth > 6 || value === null || typeof value !== 'object') return rng.chance(0.8) ? replace() : value;
  if (Array.isArray(value)) {
    const a = [...value];
    if (!a.length || rng.chance(0.2)) return rng.chance(0.5) ? [...a, replace()] : replace();
    const i = rng.int(a.length);
    a[i] = mutateJson(rng, a[i], depth + 1);
    return a;
  }
  const o: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  const keys = Object.keys(o);
  switch (rng.int(keys.length ? 6 : 2)) {
    case 0:
      return replace();
    case 1:
      o[rng.pick(['__proto__', 'constructor', 'toString', 'x', '', mutateString(rng, 'k')])] = replace();
      return o;
    case 2:
      delete o[rng.pick(keys)];
      return o;
    default: {
      const k = rng.pick(keys);
      o[k] = mutateJson(rng, o[k], depth + 1);
      return o;
    }
  }
}

/** A JSON text from a valid value: usually a structural mutation, sometimes bytes on top. */
export function mutateJsonText(rng: Rng, value: unknown): Buffer {
  const v = rng.chance(0.9) ? mutateJson(rng, value) : value;
  const text = Buffer.from(JSON.stringify(v) ?? 'null');
  return rng.chance(0.25) ? mutateBytes(rng, text) : text;
}

export interface HttpCase {
  method: string;
  target: string;
  headers: [string, string][];
  body: Buffer;
}

const METHODS = ['GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE', 'get', 'G\0ET', ''];

/** Structure-aware mutation of an HTTP request: method, target, headers, body, then maybe its bytes. */
export function mutateHttp(rng: Rng, base: HttpCase, bodyValue?: unknown): HttpCase {
  const c: HttpCase = { ...base, headers: [...base.headers] };
  const rounds = 1 + rng.int(3);
  for (let r = 0; r < rounds; r++) {
    switch (rng.int(6)) {
      case 0:
        c.method = rng.pick(METHODS);
        break;
      case 1:
        c.target = rng.chance(0.2) ? rng.pick(['*', '//', 'http://evil/', '/%', '']) : mutateString(rng, c.target);
        break;
      case 2: {
        if (!c.headers.length) break;
        const i = rng.int(c.headers.length);
        if (rng.chance(0.3)) c.headers.splice(i, 1);
        else c.headers[i] = [c.headers[i]![0], mutateString(rng, c.headers[i]![1])];
        break;
      }
      case 3:
        c.headers.push(
          rng.pick<[string, string]>([
            ['origin', 'http://evil.example'],
            ['host', 'evil.example'],
            ['content-length', String(rng.int(100_000))],
            ['transfer-encoding', 'chunked'],
            ['expect', '100-continue'],
            ['connection', 'upgrade'],
            ['upgrade', 'websocket'],
            ['authorization', `Bearer ${mutateString(rng, 'secret')}`],
            ['x-nasty', rng.pick(NASTY_STRINGS)],
          ]),
        );
        break;
      case 4:
        c.body = bodyValue !== undefined ? mutateJsonText(rng, bodyValue) : mutateBytes(rng, c.body);
        break;
      default:
        c.body = mutateBytes(rng, c.body);
    }
  }
  return c;
}

/** The request as bytes, content-length from the body unless a mutation set its own. */
export function httpBytes(c: HttpCase, rng?: Rng): Buffer {
  const hasLength = c.headers.some(
    ([k]) => k.toLowerCase() === 'content-length' || k.toLowerCase() === 'transfer-encoding',
  );
  const lines = [
    `${c.method} ${c.target} HTTP/1.1`,
    ...c.headers.map(([k, v]) => `${k}: ${v}`),
    ...(hasLength || !c.body.length ? [] : [`content-length: ${c.body.length}`]),
    'connection: close',
  ];
  const raw = Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'utf8'), c.body]);
  return rng && rng.chance(0.1) ? mutateBytes(rng, raw) : raw;
}

export interface HttpAnswer {
  status: number | null;
  body: string;
}

/**
 * Raw bytes to a listener on `port` (they go as they are: the point is to send what clients would not), and
 * its final answer (interim 1xx ones skipped) once it closes, or the head of an event stream. A request the
 * listener still waits on (a body shorter than announced) is ended by half-closing after `idleMs`: a client
 * that stops sending, which the listener must answer too. 'no answer': nothing at all within `maxMs`.
 */
export function exchange(
  port: number,
  bytes: Buffer,
  opts: { maxMs?: number; idleMs?: number } = {},
): Promise<HttpAnswer | 'no answer'> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    let done = false;
    let idle: NodeJS.Timeout | null = null;
    const finish = (timedOut: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      if (idle) clearTimeout(idle);
      s.destroy();
      const text = Buffer.concat(parts).toString('utf8');
      if (timedOut && !text) return resolve('no answer');
      const final = text.replace(/^(HTTP\/1\.[01] 1\d\d[^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, '');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(final);
      resolve({ status: m ? Number(m[1]) : null, body: final.slice(final.indexOf('\r\n\r\n') + 4) });
    };
    const t = setTimeout(() => finish(true), opts.maxMs ?? 3000);
    s.on('data', (d: Buffer) => {
      parts.push(d);
      if (idle) clearTimeout(idle);
      const head = Buffer.concat(parts).toString('latin1');
      if (/\r\n\r\n/.test(head) && /content-type: text\/event-stream/i.test(head)) finish(false);
    });
    s.on('error', () => finish(false));
    s.on('close', () => finish(false));
    s.on('connect', () => {
      s.write(bytes);
      idle = setTimeout(() => s.end(), opts.idleMs ?? 150);
    });
  });
}

export interface Verdict {
  crash?: string;
  wrongAccept?: string;
  fiveXX?: string;
}

export interface FuzzReport {
  surface: string;
  cases: number;
  crashes: number;
  wrongAccepts: number;
  fiveXX: number;
  /** The first few failures, with the case that caused them. */
  failures: { index: number; kind: keyof Verdict; what: string; input: string }[];
}

export interface Surface<I> {
  name: string;
  /** Makes case number `index` (the rng is the surface's own, seeded). */
  generate(rng: Rng, index: number): I;
  run(input: I): Promise<Verdict>;
  /** How to show a failing input (default JSON, cut). */
  show?(input: I): string;
  /** Cases run at once (listeners over sockets). */
  concurrency?: number;
  cases?: number;
}

/** Runs a surface's cases; an exception out of `run` counts as a crash of the surface under test. */
export async function fuzz<I>(surface: Surface<I>): Promise<FuzzReport> {
  const cases = surface.cases ?? FUZZ_CASES;
  const rng = new Rng(FUZZ_SEED ^ hashName(surface.name));
  const report: FuzzReport = { surface: surface.name, cases: 0, crashes: 0, wrongAccepts: 0, fiveXX: 0, failures: [] };
  const show =
    surface.show ?? ((i: I) => JSON.stringify(i, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('latin1') : v)));
  const note = (index: number, kind: keyof Verdict, what: string, input: I) => {
    if (report.failures.length < 5) report.failures.push({ index, kind, what, input: show(input).slice(0, 400) });
  };
  let next = 0;
  const worker = async () => {
    while (next < cases) {
      const index = next++;
      const input = surface.generate(rng, index);
      let v: Verdict;
      try {
        v = await surface.run(input);
      } catch (e) {
        v = { crash: `exception: ${(e as Error)?.stack ?? String(e)}` };
      }
      report.cases++;
      for (const kind of ['crash', 'wrongAccept', 'fiveXX'] as const) {
        const what = v[kind];
        if (!what) continue;
        report[kind === 'crash' ? 'crashes' : kind === 'wrongAccept' ? 'wrongAccepts' : 'fiveXX']++;
        note(index, kind, what, input);
      }
      // A dead target makes every later case a crash: stop there, the first one says why.
      if (v.crash && report.crashes > 20) return;
    }
  };
  await Promise.all(Array.from({ length: surface.concurrency ?? 1 }, worker));
  console.log(
    `fuzz ${surface.name}: ${report.cases} cases (seed ${FUZZ_SEED}): ${report.crashes} crashes, ${report.wrongAccepts} wrong accepts, ${report.fiveXX} 5xx`,
  );
  return report;
}

function hashName(s: string): number {
  let h = 2166136261;
  for (const c of s) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return h >>> 0;
}
