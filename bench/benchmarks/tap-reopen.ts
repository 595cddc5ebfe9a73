// Tap → re-opened session with fresh tokens, on the agent as wired by createAgent: a DESFire badge
// emulated on vpcd, pcscd detection, the PC/SC backend authenticating the badge with the keys the session
// server holds (the relay's challenge), the re-open grant carrying the card's answer, checked by the
// server (PostgreSQL), the engine opening the session. extra.roundTripsPerTap counts the HTTP requests
// the server received during each tap (its own request log). The floor, per tap and in the same run:
// pcscd's detection of the insertion plus the raw I/O of the same number of APDUs on that card — what
// any agent would pay.
import { createAgent } from '../../electron/core/agent';
import { ServerAuthenticator } from '../../electron/core/auth/server-authenticator';
import { RelayKeyCustody } from '../../electron/core/oidc/relay-custody';
import { PcscCpsBackend, PcscMonitor } from '../../electron/core/devices/pcsc';
import { lazyClient, registerWorkstation } from '../../electron/core/oidc/server-client';
import { systemClock } from '../../electron/core/util/clock';
import { loadPcsc } from '../../native/pcsclite';
import { startServer } from '../../server/src/app';
import { postgresDb } from '../../server/src/db';
import { jsonLog } from '../../server/src/log';
import { DESFIRE_ATR, hospitalBadge, TEST_BADGE } from '../../testbed/cards/desfire-card';
import { startPcscd, waitFor } from '../../testbed/pcscd';
import { startPostgres } from '../../testbed/postgres';
import { VirtualCard } from '../../testbed/vpcd-client';
import { rawIo } from '../desfire-rig';
import { percentile } from '../harness';
import type { Benchmark } from '../harness';
import type { BadgeProfile } from '../../electron/core/config/badge-profile';

const TAPS = 100;
const PROFILE: BadgeProfile = TEST_BADGE.profile;
const q = (xs: number[]) => ({
  p50: Math.round(percentile(xs, 50) * 1000) / 1000,
  p95: Math.round(percentile(xs, 95) * 1000) / 1000,
});

const bench: Benchmark = {
  name: 'tap-reopen',
  unit: 'ms',
  description:
    'badge tap → re-opened session with fresh tokens (pcscd/vpcd, server key relay, re-open grant on PostgreSQL)',
  async run() {
    const pcscd = await startPcscd();
    process.env.PCSCLITE_CSOCK_NAME = pcscd.env.PCSCLITE_CSOCK_NAME;
    const pg = await startPostgres();
    pg.createDatabase('bench');
    const db = postgresDb(pg.url('bench'));
    let requests = 0;
    const server = await startServer({
      db,
      port: 0,
      trustAnchorsPem: [],
      desfireKeys: { 'F51230/1': TEST_BADGE.master.toString('hex') },
      // One 'request' line per HTTP request the server answers.
      log: jsonLog((line) => {
        if ((JSON.parse(line) as { msg?: string }).msg === 'request') requests += 1;
      }, 'info'),
    });
    const monitor = new PcscMonitor({ createContext: loadPcsc });
    const emu = hospitalBadge('CHU-000123');
    const card = new VirtualCard({ atr: DESFIRE_ATR, handler: emu.handler });
    let agent: Awaited<ReturnType<typeof createAgent>> | null = null;
    try {
      const acc = await server.directory.addAccount({
        idNat: '899999000011',
        adLogin: 'bench',
        lastName: 'BENCH',
        firstName: 'Test',
        profession: 'Infirmier',
        secret: '2468',
      });
      await server.directory.bindBadge({ uid: emu.uid.toString('hex'), number: 'CHU-000123' }, acc.id);
      const creds = await registerWorkstation(
        server.issuer,
        await server.directory.createEnrolmentToken('bench'),
        'BENCH',
      );
      const client = lazyClient(server.issuer, async () => creds, { allowHttp: true });
      const backend = new PcscCpsBackend({
        monitor,
        module: () => null,
        badges: { profiles: () => [PROFILE], custody: new RelayKeyCustody(client), allowUidOnly: () => false },
      });
      agent = await createAgent({
        mode: 'headless',
        demo: false,
        readers: [backend],
        authenticator: new ServerAuthenticator({ client, clock: systemClock, pollMs: 3_600_000 }),
        inactivityMs: 0,
        tapDebounceMs: 0,
      });
      const engine = agent.engine;
      await waitFor(() => monitor.list().length >= 1, 5000, 'readers');
      const port = pcscd.ports[0]!;
      const present = () => monitor.list().some((r) => r.atr);
      const tapOnce = async () => {
        await card.insert(port);
        await waitFor(() => engine.getState().kind !== 'locked' || false, 10_000, 'tap seen');
      };

      // First tap of the shift: badge + code.
      await tapOnce();
      await waitFor(() => engine.getState().kind === 'pin-required', 10_000, 'PIN pad');
      if (!(await engine.submitPin('2468')).accepted) throw new Error('bench login refused');
      await card.remove();
      await waitFor(() => !present(), 5000, 'removed');

      const samples: number[] = [];
      const floor: number[] = [];
      const detection: number[] = [];
      const roundTrips: number[] = [];
      let apdus = 0;
      for (let i = 0; i < TAPS + 5; i++) {
        // Locking revokes the session's refresh token (one request): done before the tap is timed.
        const revoked = requests;
        agent.lock('user-lock');
        await waitFor(() => requests > revoked, 5000, 'refresh token revoked');
        const seen = new Promise<number>((resolve) => monitor.once('card-present', () => resolve(performance.now())));
        const opened = new Promise<number>((resolve, reject) => {
          const off = engine.onState.add((s) => {
            if (s.kind === 'open') {
              off();
              resolve(performance.now());
            } else if (s.kind === 'locked' && s.reason === 'auth-failed') {
              off();
              reject(new Error(`tap ${i} refused: ${JSON.stringify(engine.lastErrors().at(-1))}`));
            }
          });
        });
        const before = card.apduCount;
        const requestsBefore = requests;
        const t0 = performance.now();
        await card.insert(port);
        const tDetect = await seen;
        const tOpen = await opened;
        const s = engine.getState();
        if (s.kind !== 'open' || s.session.assurance !== 're-open') throw new Error(`tap ${i}: not a re-open`);
        apdus = card.apduCount - before;
        roundTrips.push(requests - requestsBefore);
        const r0 = performance.now();
        await rawIo(monitor.reader(monitor.list()[0]!.name)!, apdus);
        const io = performance.now() - r0;
        await card.remove();
        await waitFor(() => !present(), 5000, 'removed');
        if (i >= 5) {
          samples.push(tOpen - t0);
          detection.push(tDetect - t0);
          floor.push(tDetect - t0 + io);
        }
      }
      return {
        samples,
        floor,
        extra: {
          taps: TAPS,
          apdusPerTap: apdus,
          roundTripsPerTap: Math.max(...roundTrips),
          detection: q(detection),
          custody: 'server relay',
          grant: 're-open',
          database: 'postgresql',
        },
      };
    } finally {
      await agent?.stop();
      await card.remove();
      await server.close();
      await db.close();
      await pg.stop();
      await pcscd.stop();
    }
  },
};

export default bench;
