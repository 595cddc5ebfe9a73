// getToken through the DPI broker's local socket, as a DPI calls it: cold (a token exchange at the
// session server on PostgreSQL) and warm (the broker's per-audience cache). Cold samples use a fresh
// audience each time, so every one pays the exchange; the floor is a `hello` round trip on the socket.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAgent } from '../../electron/core/agent';
import { ServerAuthenticator } from '../../electron/core/auth/server-authenticator';
import { lazyClient, registerWorkstation } from '../../electron/core/oidc/server-client';
import { systemClock } from '../../electron/core/util/clock';
import { peerCredentials } from '../../native/peercred';
import { startServer } from '../../server/src/app';
import { postgresDb } from '../../server/src/db';
import { jsonLog } from '../../server/src/log';
import { boundBadge, tapRead, TEST_DESFIRE_KEYS } from '../../testbed/badges';
import { waitFor } from '../../testbed/pcscd';
import { startPostgres } from '../../testbed/postgres';
import { BrokerClient } from '../../testbed/reference-dpi';
import { quantiles } from '../harness';
import type { Benchmark } from '../harness';

const COLD = 300;
const WARM = 2000;

const bench: Benchmark = {
  name: 'dpi-token',
  unit: 'ms',
  description: 'getToken through the broker socket: cold (token exchange at the server, PostgreSQL) and warm (cached)',
  async run() {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-bench-dpi-'));
    const pg = await startPostgres();
    pg.createDatabase('bench');
    const db = postgresDb(pg.url('bench'));
    const audiences = Array.from({ length: COLD + 1 }, (_, i) => `https://dpi.bench/${i}`);
    const server = await startServer({
      db,
      port: 0,
      trustAnchorsPem: [],
      relyingParties: [{ clientId: 'dpi', clientSecret: 'dpi-bench-secret-0123456789', audiences }],
      desfireKeys: TEST_DESFIRE_KEYS,
      log: jsonLog(() => {}, 'silent'),
    });
    const creds = await registerWorkstation(
      server.issuer,
      await server.directory.createEnrolmentToken('bench'),
      'BENCH',
    );
    const client = lazyClient(server.issuer, async () => creds, { allowHttp: true });
    // The agent as shipped: its own wiring of the broker to the engine and the server authenticator.
    const agent = await createAgent({
      mode: 'headless',
      demo: false,
      readers: [],
      authenticator: new ServerAuthenticator({
        client,
        clock: systemClock,
        pollMs: 3_600_000,
      }),
      inactivityMs: 0,
      tapDebounceMs: 0,
      broker: {
        apps: [{ id: 'dpi', name: 'DPI', executable: fs.realpathSync(process.execPath), audiences }],
        socketPath: path.join(tmp, 'broker.sock'),
        identify: peerCredentials,
        httpPort: null,
        dmpUrlTemplate: null,
        openUrl: async () => {},
      },
    });
    const engine = agent.engine;
    try {
      const a = await server.directory.addAccount({
        idNat: '899999000011',
        adLogin: 'bench',
        lastName: 'BENCH',
        firstName: 'Test',
        profession: 'Infirmier',
        secret: '2468',
      });
      const badge = await boundBadge(server.directory, a.id, 'CHU-BENCH');
      engine.handleReaderEvent({ type: 'badge-tapped', badge: await tapRead(client, badge, 'bench') });
      await waitFor(() => engine.getState().kind === 'pin-required', 5000, 'PIN pad');
      if (!(await engine.submitPin('2468')).accepted) throw new Error('bench login refused');
      const dpi = await BrokerClient.connect(agent.brokerEndpoints.socket!);

      const cold: number[] = [];
      for (let i = 0; i < COLD; i++) {
        const t0 = performance.now();
        await dpi.call('getToken', { audience: audiences[i]! });
        cold.push(performance.now() - t0);
      }
      await dpi.call('getToken', { audience: audiences[COLD]! });
      const warm: number[] = [];
      for (let i = 0; i < WARM; i++) {
        const t0 = performance.now();
        await dpi.call('getToken', { audience: audiences[COLD]! });
        warm.push(performance.now() - t0);
      }
      // Floor after the JIT has warmed the socket path (measured first, it exceeded warm getToken).
      const floor: number[] = [];
      for (let i = 0; i < 500; i++) {
        const t0 = performance.now();
        await dpi.call('hello');
        floor.push(performance.now() - t0);
      }
      dpi.close();
      return {
        samples: cold,
        floor,
        extra: {
          cold: quantiles(cold),
          warm: quantiles(warm),
          coldSamples: COLD,
          warmSamples: WARM,
          database: 'postgresql',
          transport: 'unix socket',
        },
      };
    } finally {
      await agent.stop();
      await server.close();
      await db.close();
      await pg.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
};

export default bench;
