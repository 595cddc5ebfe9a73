// Re-open by badge tap within the roaming window against two session-server processes on one PostgreSQL,
// the shift-change case: latency at 32 concurrent clients and re-opens per second at 1, 8 and 32. A
// re-open is what a tap costs the server: the relay's challenge for the card, then the grant carrying
// the card's answer, which the server checks (2 requests, each with its own client assertion). Floor:
// the same path's /healthz round trip (transport alone); extra.providerFloor: the same load on
// oidc-provider alone (client authentication, nothing stored, 2 requests per tap too), what no re-open
// on this machine can beat.
//
// The 32 "workstations" share this machine's 2 cores with the servers and PostgreSQL, so the load
// generator is lean: each request carries a fresh private_key_jwt assertion signed with the
// workstation's registered key and goes over a keep-alive connection; the badge is an emulated card
// answering through the agent's own credential code; each answer is checked (tokens present, ID token
// says re-open with the first login's auth_time). The agent's own client (openid-client over fetch, full response validation) costs
// about four times this generator's CPU per request, which here would be taken from the servers; it is
// measured apart, at 1 client (extra.agentClient), and used for the shift-start 2-factor logins.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { badgeTapParams, GRANT, parseRelayBeginResponse } from '@sillage/protocol';
import type { RelayBeginRequest, RelayBeginResponse, RelayFinishResponse } from '@sillage/protocol';
import { readBadgeCredential } from '../../electron/core/badge/desfire/credential';
import { RelayKeyCustody } from '../../electron/core/oidc/relay-custody';
import { registerWorkstation, SessionServerClient } from '../../electron/core/oidc/server-client';
import { SoftwareKey } from '../../electron/core/keys/software-key';
import type { JWK } from 'jose';
import { postgresDb } from '../../server/src/db';
import { migrate } from '../../server/src/db';
import { Directory } from '../../server/src/directory';
import { tapProof } from '../../testbed/badges';
import { hospitalBadge, TEST_BADGE } from '../../testbed/cards/desfire-card';
import { startLoadBalancer } from '../../testbed/lb';
import { refusal } from '../../testbed/server-refusal';
import { FLOOR_CLIENT, FLOOR_GRANT } from '../provider-floor-server';
import { startPostgres } from '../../testbed/postgres';
import { percentile, quantiles } from '../harness';
import type { Benchmark } from '../harness';

/** CPU seconds (user + system) of one process, from /proc (Linux). */
function procCpuS(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** CPU seconds so far of the load generator, each server instance and PostgreSQL (all its processes). */
function cpuSnapshot(serverPids: number[]): { loadGenerator: number; servers: number; postgres: number } {
  let postgres = 0;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'postgres') postgres += procCpuS(Number(d));
    } catch {
      /* exited meanwhile */
    }
  }
  const u = process.cpuUsage();
  return {
    loadGenerator: (u.user + u.system) / 1e6,
    servers: serverPids.reduce((s, p) => s + procCpuS(p), 0),
    postgres,
  };
}

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, '..', '..');

/** Requests each server gets before anything is measured. */
const WARM_UP = 4000;
const REOPEN_ACR = 'urn:sillage:loa:reopen';

/** One of the bench's badges; each tap gets a fresh card in the field (same chip, same keys). */
interface Badge {
  uid: Buffer;
  number: string;
}
const inField = (b: Badge) => hospitalBadge(b.number, { uid: b.uid });
const hex = (b: Badge) => b.uid.toString('hex').toUpperCase();
const b64url = (v: string | Buffer) => Buffer.from(v).toString('base64url');

/** One simulated workstation: its registered key, one keep-alive connection to its instance. */
class Workstation {
  private readonly key: KeyObject;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  /** auth_time of each badge's roaming session, as its 2-factor login reported it. */
  constructor(
    private readonly creds: { clientId: string; privateJwk: JWK },
    private readonly issuer: string,
    private readonly port: number,
    private readonly authTimes = new Map<string, number>(),
  ) {
    this.key = createPrivateKey({ key: creds.privateJwk as unknown as JsonWebKey, format: 'jwk' });
  }

  private assertion(): string {
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

  /** One tap: the relay's challenge, the card's answer, the re-open grant; throws unless re-open tokens. */
  async reopen(badge: Badge): Promise<void> {
    const emu = inField(badge);
    const c = await readBadgeCredential({ transmit: async (a) => emu.process(a) }, [TEST_BADGE.profile], this.custody);
    const r = await this.post(
      '/token',
      'application/x-www-form-urlencoded',
      new URLSearchParams({
        grant_type: GRANT.badge,
        ...badgeTapParams(c.proof),
        scope: 'openid profile offline_access',
        client_id: this.creds.clientId,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: this.assertion(),
      }).toString(),
    );
    const tokens = r.body as Record<string, string>;
    if (r.status !== 200 || !tokens.access_token || !tokens.refresh_token || !tokens.id_token)
      throw new Error(`re-open refused (${r.status}): ${JSON.stringify(tokens)}`);
    const claims = JSON.parse(Buffer.from(tokens.id_token.split('.')[1]!, 'base64url').toString()) as {
      acr?: string;
      auth_time?: number;
    };
    if (claims.acr !== REOPEN_ACR || claims.auth_time !== this.authTimes.get(hex(badge)))
      throw new Error(`re-open tokens do not tell a re-open of the first login: ${JSON.stringify(claims)}`);
  }

  /** The agent's relay custody over this generator's connection. */
  private readonly custody = new RelayKeyCustody(async () => this);

  async relayBegin(req: RelayBeginRequest): Promise<RelayBeginResponse> {
    const r = await this.post(
      '/sillage/desfire/auth/begin',
      'application/json',
      JSON.stringify({ ...req, client_assertion: this.assertion() }),
    );
    const p = parseRelayBeginResponse(r.body);
    if (r.status !== 200 || !p.ok) throw new Error(`relay challenge refused (${r.status}): ${JSON.stringify(r.body)}`);
    return p.value;
  }

  relayFinish(): Promise<RelayFinishResponse> {
    throw new Error('fixed-UID badges need no session keys');
  }

  /** oidc-provider alone: a fixed grant, twice per tap like a re-open. */
  async floorTap(): Promise<void> {
    for (let i = 0; i < 2; i++) {
      const r = await this.post(
        '/token',
        'application/x-www-form-urlencoded',
        new URLSearchParams({
          grant_type: FLOOR_GRANT,
          scope: 'openid profile offline_access',
          client_id: this.creds.clientId,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: this.assertion(),
        }).toString(),
      );
      if (r.status !== 200 || r.body.access_token !== 'floor')
        throw new Error(`provider floor refused (${r.status}): ${JSON.stringify(r.body)}`);
    }
  }

  private post(path: string, type: string, body: string): Promise<{ status: number; body: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          path,
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': type, 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            try {
              resolve({
                status: res.statusCode ?? 0,
                body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>,
              });
            } catch (e) {
              reject(e instanceof Error ? e : new Error(String(e)));
            }
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A child Node process (TypeScript through tsx), resolved once it prints `ready`. */
async function startChild(args: string[], env: Record<string, string>, ready: string): Promise<ChildProcess> {
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

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  await exited;
}

async function runFor(
  reopen: (w: number, badge: Badge) => Promise<unknown>,
  badges: Badge[],
  concurrency: number,
  total: number,
  latencies?: number[],
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (next < total) {
        const i = next++;
        const t0 = performance.now();
        await reopen(w, badges[i % badges.length]!);
        latencies?.push(performance.now() - t0);
      }
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

const bench: Benchmark = {
  name: 'server-reopen',
  unit: 'ms',
  description:
    're-open by tap (relay challenge + grant) latency at 32 clients, re-opens/s at 1, 8, 32 (two instances, PostgreSQL)',
  async run() {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-bench-'));
    const pg = await startPostgres();
    pg.createDatabase('bench');
    const lb = await startLoadBalancer();
    const issuer = `http://127.0.0.1:${lb.port}`;
    const db = postgresDb(pg.url('bench'));
    await migrate(db);
    // Any CA certificate will do as anchor: no card login here.
    const { makeTestPki } = await import('../../testbed/pki');
    const pki = makeTestPki(path.join(tmp, 'pki'));
    const children: ChildProcess[] = [];
    const keysFile = path.join(tmp, 'desfire-keys.json');
    fs.writeFileSync(keysFile, JSON.stringify({ 'F51230/1': TEST_BADGE.master.toString('hex') }), { mode: 0o600 });
    try {
      // The balancer needs each instance's port before it starts: explicit ports.
      const ports = [0, 0].map(() => 20000 + Math.floor(Math.random() * 20000));
      for (const port of ports) {
        // SILLAGE_BENCH_PROF=DIR writes a CPU profile of each instance there.
        const prof = process.env.SILLAGE_BENCH_PROF
          ? ['--cpu-prof', '--cpu-prof-dir', process.env.SILLAGE_BENCH_PROF]
          : [];
        children.push(
          await startChild(
            [
              ...prof,
              path.join(root, 'server', 'src', 'main.ts'),
              '--port',
              String(port),
              '--issuer',
              issuer,
              '--trust-anchor',
              pki.root.certFile,
              '--desfire-keys',
              keysFile,
              '--log-level',
              'warn',
            ],
            { DATABASE_URL: pg.url('bench') },
            'Sillage session server:',
          ),
        );
      }
      lb.setBackends(ports);

      const dir = new Directory(db);
      const badges: Badge[] = [];
      for (let i = 0; i < 64; i++) {
        const a = await dir.addAccount({
          idNat: `8999990${String(i).padStart(5, '0')}`,
          adLogin: `bench${i}`,
          lastName: `BENCH${i}`,
          firstName: 'Test',
          profession: 'Infirmier',
          secret: '2468',
        });
        const badge = { uid: hospitalBadge(`CHU-BENCH-${i}`).uid, number: `CHU-BENCH-${i}` };
        await dir.bindBadge({ uid: badge.uid.toString('hex'), number: badge.number }, a.id);
        badges.push(badge);
      }
      const clients: SessionServerClient[] = [];
      const workstations: Workstation[] = [];
      const authTimes = new Map<string, number>();
      for (let i = 0; i < 32; i++) {
        const key = SoftwareKey.generate();
        const creds = await registerWorkstation(issuer, await dir.createEnrolmentToken(`bench-${i}`), `BENCH-PC-${i}`, {
          key,
        });
        // Half the workstations on each instance, as a balancer would spread them; requests go straight
        // to the instance so the load generator does not also pay for a balancer in its own process.
        const port = ports[i % ports.length]!;
        const direct: typeof fetch = (url, init) =>
          fetch(String(url instanceof Request ? url.url : url).replace(issuer, `http://127.0.0.1:${port}`), init);
        clients.push(await SessionServerClient.connect(issuer, creds, { allowHttp: true, fetch: direct }));
        workstations.push(
          new Workstation({ clientId: creds.clientId, privateJwk: key.privateJwk }, issuer, port, authTimes),
        );
      }
      // Start of the shift: every badge's 2-factor login (the agent's own client) opens its roaming session.
      for (const [i, b] of badges.entries()) {
        const client = clients[i % clients.length]!;
        const tap = await refusal(client.badge(await tapProof(client, inField(b))));
        authTimes.set(hex(b), (await client.badgeCode(String(tap.body.login_ticket), '2468')).claims.auth_time!);
      }

      const floor: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t0 = performance.now();
        await (await fetch(`http://127.0.0.1:${ports[i % 2]}/healthz`)).arrayBuffer();
        floor.push(performance.now() - t0);
      }
      const agentReopen = async (w: number, b: Badge) => clients[w]!.badge(await tapProof(clients[w]!, inField(b)));
      const leanReopen = (w: number, b: Badge) => workstations[w]!.reopen(b);
      // Warm-up: a session server runs for days; the JIT's optimised code and the pools are its steady state.
      await runFor(agentReopen, badges, 8, 200);
      await runFor(leanReopen, badges, 32, WARM_UP);
      const agentSamples: number[] = [];
      await runFor(agentReopen, badges, 1, 200, agentSamples);
      const grantsPerSecond: Record<string, number> = {};
      for (const c of [1, 8])
        grantsPerSecond[String(c)] = Math.round(await runFor(leanReopen, badges, c, c === 1 ? 300 : 1500));
      const samples: number[] = [];
      const pids = children.map((c) => c.pid!);
      const commits = async () =>
        Number(
          (await db.query<{ n: string }>("SELECT xact_commit AS n FROM pg_stat_database WHERE datname = 'bench'"))
            .rows[0]!.n,
        );
      const commitsBefore = await commits();
      const before = cpuSnapshot(pids);
      grantsPerSecond['32'] = Math.round(await runFor(leanReopen, badges, 32, 3000, samples));
      const after = cpuSnapshot(pids);
      // Where each grant's CPU goes at 32 clients (the machine has 2 cores for all of it).
      const cpuMsPerGrant = Object.fromEntries(
        Object.entries(after).map(([k, v]) => [
          k,
          Math.round(((v - before[k as keyof typeof before]) / 3000) * 1e5) / 100,
        ]),
      );
      // Backends publish their counters within a second of going idle.
      await new Promise((r) => setTimeout(r, 1500));
      const statementsPerGrant = Math.round(((await commits()) - commitsBefore - 1) / 30) / 100;
      workstations.forEach((w) => w.close());
      for (const c of children.splice(0)) await stopChild(c);

      // Same machine, same load, oidc-provider alone (client authentication, nothing stored): the part of
      // the latency that is the library and the shared cores, not the grant.
      const floorKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const floorJwk = { ...floorKey.publicKey.export({ format: 'jwk' }), kid: 'floor', alg: 'ES256', use: 'sig' };
      for (const port of ports)
        children.push(
          await startChild(
            [path.join(root, 'bench', 'provider-floor-server.ts'), String(port), issuer, JSON.stringify(floorJwk)],
            {},
            'ready',
          ),
        );
      const floorCreds = {
        clientId: FLOOR_CLIENT,
        privateJwk: {
          ...(floorKey.privateKey.export({ format: 'jwk' }) as JWK),
          kid: 'floor',
          alg: 'ES256',
        },
      };
      const floorStations = Array.from(
        { length: 32 },
        (_, i) => new Workstation(floorCreds, issuer, ports[i % ports.length]!),
      );
      const floorGrant = (w: number) => floorStations[w]!.floorTap();
      await runFor(floorGrant, badges, 32, WARM_UP);
      const floorSamples: number[] = [];
      const floorRate = Math.round(await runFor(floorGrant, badges, 32, 3000, floorSamples));
      floorStations.forEach((w) => w.close());
      return {
        samples,
        floor,
        extra: {
          grantsPerSecond,
          instances: 2,
          requestsPerReopen: 2,
          database: 'postgresql',
          concurrency: 32,
          cpuMsPerGrant,
          statementsPerGrant,
          agentClient: { clients: 1, ...quantiles(agentSamples) },
          providerFloor: {
            concurrency: 32,
            p50: quantiles(floorSamples).p50,
            p99: Math.round(percentile(floorSamples, 99) * 1000) / 1000,
            // Taps (2 requests each) per second, as grantsPerSecond counts re-opens.
            tapsPerSecond: floorRate,
          },
        },
      };
    } finally {
      for (const c of children) await stopChild(c);
      await db.close();
      await lb.close();
      await pg.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
};

export default bench;
