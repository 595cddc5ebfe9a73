// What the server-reopen benchmark drives: session-server instances as child processes (kill -9 and
// restart), a lean workstation (a fresh private_key_jwt per request, sent through the agent's own retrying
// transport, the relay's challenge asked as the agent's custody asks it), and the Prometheus histograms the
// instances publish.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { JWK } from 'jose';
import { parseRelayBeginResponse } from '@sillage/protocol';
import type { RelayBeginRequest, RelayBeginResponse, RelayFinishResponse } from '@sillage/protocol';
import { RelayKeyCustody } from '../electron/core/oidc/relay-custody';
import { LostAnswer } from '../electron/core/oidc/retry';

/** /proc/PID/stat fields after the command name (which may hold spaces), or null once the process is gone. */
function statFields(pid: number | string): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) of one process, from /proc (Linux): utime and stime, the 12th and 13th. */
export function procCpuS(pid: number): number {
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) / 100 : 0;
}

/**
 * CPU seconds so far of the load generator, each server instance and PostgreSQL: every live postgres
 * process, plus what the postmaster's ended backends used (its children's time, cutime and cstime),
 * so a backend that exits between two snapshots does not take its CPU away with it.
 */
export function cpuSnapshot(serverPids: number[]): { loadGenerator: number; servers: number; postgres: number } {
  let postgres = 0;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue;
    }
    const f = statFields(d);
    if (!f) continue;
    postgres += (Number(f[11]) + Number(f[12])) / 100;
    // The postmaster: its parent is not a postgres process.
    let parent = '';
    try {
      parent = fs.readFileSync(`/proc/${f[1]}/comm`, 'utf8').trim();
    } catch {
      /* reparented meanwhile */
    }
    if (parent !== 'postgres') postgres += (Number(f[13]) + Number(f[14])) / 100;
  }
  const u = process.cpuUsage();
  return {
    loadGenerator: (u.user + u.system) / 1e6,
    servers: serverPids.reduce((s, p) => s + procCpuS(p), 0),
    postgres,
  };
}

/** A child Node process (TypeScript through tsx), resolved once it prints `ready`. */
export async function startChild(args: string[], env: Record<string, string>, ready: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes(ready)) resolve();
    });
    child.once('exit', (c) =>
      reject(new Error(`${path.basename(args.find((a) => a.endsWith('.ts')) ?? 'child')} exited with ${c}`)),
    );
  });
  // Request logs would cost the instances more than the grants: discard them.
  child.stdout!.resume();
  return child;
}

export async function stopChild(c: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill(signal);
  await exited;
}

const b64url = (v: string | Buffer) => Buffer.from(v).toString('base64url');

/** One simulated workstation: its registered key; requests through `transport` (keep-alive, retrying). */
export class Workstation {
  private readonly key: KeyObject;

  constructor(
    /** Its client id and the private half of the key it registered. */
    readonly creds: { clientId: string; privateJwk: JWK },
    private readonly issuer: string,
    private readonly transport: typeof fetch,
  ) {
    this.key = createPrivateKey({ key: creds.privateJwk as unknown as JsonWebKey, format: 'jwk' });
  }

  assertion(): string {
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'ES256', kid: this.creds.privateJwk.kid }));
    const payload = b64url(
      JSON.stringify({
        iss: this.creds.clientId,
        sub: this.creds.clientId,
        aud: this.issuer,
        iat: now,
        exp: now + 60,
        jti: randomUUID(),
      }),
    );
    const input = `${header}.${payload}`;
    return `${input}.${b64url(sign('sha256', Buffer.from(input), { key: this.key, dsaEncoding: 'ieee-p1363' }))}`;
  }

  /** A token request with this workstation's client authentication; `check` throws on a wrong answer. */
  async token(
    params: Record<string, string>,
    check: (status: number, body: Record<string, string>) => void,
  ): Promise<void> {
    const body = () =>
      new URLSearchParams({
        ...params,
        client_id: this.creds.clientId,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: this.assertion(),
      }).toString();
    const r = await this.post('/token', 'application/x-www-form-urlencoded', body);
    check(r.status, r.body as Record<string, string>);
  }

  /** The relay's challenge for a card, as the agent's client asks it (its own client assertion). */
  async relayBegin(req: RelayBeginRequest): Promise<RelayBeginResponse> {
    const r = await this.post('/sillage/desfire/auth/begin', 'application/json', () =>
      JSON.stringify({ ...req, client_assertion: this.assertion() }),
    );
    const p = parseRelayBeginResponse(r.body);
    if (r.status !== 200 || !p.ok)
      throw new Error(`relay challenge refused (${r.status}): ${String(r.body.sillage_error ?? r.body.error ?? '')}`);
    return p.value;
  }

  relayFinish(): Promise<RelayFinishResponse> {
    throw new Error('badges read by their fixed UID need no session keys');
  }

  /** The agent's relay custody over this workstation's requests. */
  readonly custody = new RelayKeyCustody(async () => this);

  /**
   * As the agent's client sends a tap's requests: once more, newly signed, after a lost answer (their
   * challenge keeps them single-use).
   */
  private async post(
    route: string,
    type: string,
    body: () => string,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const send = () =>
      this.transport(`${this.issuer}${route}`, {
        method: 'POST',
        headers: { 'content-type': type },
        body: body(),
        signal: AbortSignal.timeout(10_000),
      });
    const res = await send().catch((e: unknown) => {
      if (e instanceof LostAnswer) return send();
      throw e;
    });
    const text = await res.text();
    try {
      return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
    } catch {
      throw new Error(`answer ${res.status} is not JSON`);
    }
  }
}

/** The buckets (cumulative counts by upper bound) and count of one histogram series in exposition text. */
export function histogram(text: string, name: string, labels: Record<string, string>): Map<number, number> {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const out = new Map<number, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== `${name}_bucket`) continue;
    const have = m[2]!.split(/,(?=[a-z_]+=")/);
    if (!want.every((w) => have.includes(w))) continue;
    const le = have.find((h) => h.startsWith('le='))!.slice(4, -1);
    out.set(
      le === '+Inf' ? Infinity : Number(le),
      (out.get(le === '+Inf' ? Infinity : Number(le)) ?? 0) + Number(m[3]),
    );
  }
  return out;
}

/** Requests an instance has answered, all routes (the sum of its latency histograms' counts). */
export function requestCount(text: string): number {
  let n = 0;
  for (const line of text.split('\n'))
    if (line.startsWith('sillage_request_duration_seconds_count')) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  return n;
}

/** after − before, bucket by bucket (counters only grow while an instance lives). */
export function histogramDelta(before: Map<number, number>, after: Map<number, number>): Map<number, number> {
  return new Map([...after].map(([le, n]) => [le, n - (before.get(le) ?? 0)]));
}

/** Quantile of a cumulative histogram, interpolated inside its bucket as Prometheus's histogram_quantile. */
export function histogramQuantile(buckets: Map<number, number>, q: number): number {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (!total) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}
