// The first login of a shift, on the agent as wired by createAgent: a DESFire badge emulated on vpcd,
// pcscd detection, the PC/SC backend with the badge keys held by the session server (relay), the server
// on PostgreSQL. Two steps, each timed:
//   tap  — badge inserted → PIN pad shown with the holder's name (the server knows whose badge it is);
//          floor: pcscd's detection plus the raw I/O of the same number of APDUs (as tap-reopen).
//   code — code submitted → session open with its tokens; it includes the memory-hard code check
//          (scrypt, 16 MiB); floor: that check alone, in this process with the server's parameters, plus
//          one HTTP round trip to the same server.
// Samples: the tap step; extra.code: the code step with its own floor. Between logins the roaming
// session is ended on the server, so each tap is a first login again.
import { createAgent } from '../../electron/core/agent';
import { ServerAuthenticator } from '../../electron/core/auth/server-authenticator';
import type { BadgeProfile } from '../../electron/core/config/badge-profile';
import { RelayKeyCustody } from '../../electron/core/oidc/relay-custody';
import { PcscCpsBackend, PcscMonitor } from '../../electron/core/devices/pcsc';
import { lazyClient, registerWorkstation } from '../../electron/core/oidc/server-client';
import { systemClock } from '../../electron/core/util/clock';
import { loadPcsc } from '../../native/pcsclite';
import { startServer } from '../../server/src/app';
import { postgresDb } from '../../server/src/db';
import { checkSecret, hashSecret } from '../../server/src/directory';
import { jsonLog } from '../../server/src/log';
import { DESFIRE_ATR, hospitalBadge, TEST_BADGE } from '../../testbed/cards/desfire-card';
import { startPcscd, waitFor } from '../../testbed/pcscd';
import { startPostgres } from '../../testbed/postgres';
import { VirtualCard } from '../../testbed/vpcd-client';
import { rawIo } from '../desfire-rig';
import { percentile } from '../harness';
import type { Benchmark } from '../harness';

const LOGINS = 40;
const CODE = '2468';
const PROFILE: BadgeProfile = TEST_BADGE.profile;
const q = (xs: number[]) => ({
  p50: Math.round(percentile(xs, 50) * 1000) / 1000,
  p95: Math.round(percentile(xs, 95) * 1000) / 1000,
});

const bench: Benchmark = {
  name: 'first-login',
  unit: 'ms',
  description: 'first login of a shift: badge tap → PIN pad with the name, code → session open (scrypt check)',
  async run() {
    const pcscd = await startPcscd();
    process.env.PCSCLITE_CSOCK_NAME = pcscd.env.PCSCLITE_CSOCK_NAME;
    const pg = await startPostgres();
    pg.createDatabase('bench');
    const db = postgresDb(pg.url('bench'));
    const server = await startServer({
      db,
      port: 0,
      trustAnchorsPem: [],
      desfireKeys: { 'F51230/1': TEST_BADGE.master.toString('hex') },
      log: jsonLog(() => {}, 'silent'),
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
        secret: CODE,
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
      const stored = await hashSecret(CODE);

      const tapSamples: number[] = [];
      const tapFloor: number[] = [];
      const codeSamples: number[] = [];
      const codeFloor: number[] = [];
      const detection: number[] = [];
      let apdus = 0;
      for (let i = 0; i < LOGINS + 3; i++) {
        const seen = new Promise<number>((resolve) => monitor.once('card-present', () => resolve(performance.now())));
        const pad = new Promise<number>((resolve, reject) => {
          const off = engine.onState.add((s) => {
            if (s.kind === 'pin-required') {
              off();
              resolve(performance.now());
            } else if (s.kind === 'locked' && s.reason === 'auth-failed') {
              off();
              reject(new Error(`tap ${i} refused: ${JSON.stringify(engine.lastErrors().at(-1))}`));
            }
          });
        });
        const before = card.apduCount;
        const t0 = performance.now();
        await card.insert(port);
        const tDetect = await seen;
        const tPad = await pad;
        const st = engine.getState();
        if (st.kind !== 'pin-required' || st.identity?.lastName !== 'BENCH')
          throw new Error(`tap ${i}: no PIN pad with the holder's name`);
        apdus = card.apduCount - before;
        const c0 = performance.now();
        if (!(await engine.submitPin(CODE)).accepted) throw new Error(`login ${i} refused`);
        await waitFor(() => engine.getState().kind === 'open', 10_000, 'session open');
        const c1 = performance.now();
        const s = engine.getState();
        if (s.kind !== 'open' || s.session.assurance !== 'mfa') throw new Error(`login ${i}: not a 2-factor session`);

        // Floors of the same login, measured right after it on the same card and server.
        const r0 = performance.now();
        await rawIo(monitor.reader(monitor.list()[0]!.name)!, apdus);
        const io = performance.now() - r0;
        const k0 = performance.now();
        if (!(await checkSecret(CODE, stored))) throw new Error('code check');
        await (await fetch(`${server.issuer}/healthz`)).arrayBuffer();
        const check = performance.now() - k0;

        await card.remove();
        await waitFor(() => !present(), 5000, 'removed');
        agent.lock('user-lock');
        // The next tap is the first of a new shift.
        await server.sessions.endAllForAccount(acc.id, 'bench');
        if (i >= 3) {
          tapSamples.push(tPad - t0);
          tapFloor.push(tDetect - t0 + io);
          detection.push(tDetect - t0);
          codeSamples.push(c1 - c0);
          codeFloor.push(check);
        }
      }
      const tap = q(tapSamples);
      const tf = q(tapFloor);
      const code = q(codeSamples);
      const cf = q(codeFloor);
      return {
        samples: tapSamples,
        floor: tapFloor,
        extra: {
          logins: LOGINS,
          apdusPerTap: apdus,
          detection: q(detection),
          tapAboveFloorP95: Math.round((tap.p95 - tf.p95) * 1000) / 1000,
          code: { ...code, floor: cf, aboveFloorP95: Math.round((code.p95 - cf.p95) * 1000) / 1000 },
          targets: { tapAboveFloorP95: 50, codeAboveFloorP95: 150 },
          custody: 'server relay',
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
