// The test bed's usual session server: a private PostgreSQL, the server on it (HTTP on a free port, no
// trust anchor unless given, the test hospital's badge key, silent log), the test hospital's staff, and
// workstations enrolled on it as the agent enrols itself. Tests give only what they test differently.
import { ServerAuthenticator } from '../electron/core/auth/server-authenticator';
import type { ServerAuthenticatorOptions } from '../electron/core/auth/server-authenticator';
import { AuditLog } from '../electron/core/audit/audit';
import { lazyClient, registerWorkstation } from '../electron/core/oidc/server-client';
import type { ClientOptions, SessionServerClient, WorkstationCredentials } from '../electron/core/oidc/server-client';
import { SessionEngine } from '../electron/core/session/engine';
import { systemClock } from '../electron/core/util/clock';
import { startServer } from '../server/src/app';
import type { ServerOptions, SessionServer } from '../server/src/app';
import { postgresDb } from '../server/src/db';
import type { Db } from '../server/src/db';
import { jsonLog } from '../server/src/log';
import type { AgentError } from '../shared/contract';
import { tapEvent, TEST_DESFIRE_KEYS } from './badges';
import type { DesfireEmulator } from './cards/desfire-card';
import { startLoadBalancer } from './lb';
import type { LoadBalancer } from './lb';
import { waitFor } from './pcscd';
import { startPostgres } from './postgres';
import type { PostgresHandle } from './postgres';

/** The test hospital's staff as the directory holds them (RPPS-style test numbers, session codes). */
export const STAFF = {
  camille: {
    idNat: '899999000011',
    adLogin: 'cmartin',
    lastName: 'MARTIN',
    firstName: 'Camille',
    profession: 'Infirmière',
    secret: '4821',
  },
  nina: {
    idNat: '899999000052',
    adLogin: 'nlefevre',
    lastName: 'LEFEVRE',
    firstName: 'Nina',
    profession: 'Infirmière',
    secret: '1357',
  },
  /** A doctor who logs in with the CPS card only (no session code). */
  louis: { idNat: '899999000029', adLogin: 'lbernard', lastName: 'BERNARD', firstName: 'Louis', profession: 'Médecin' },
} as const;

export interface ServerStack extends DatabaseStack {
  server: SessionServer;
}

export interface DatabaseStack {
  pg: PostgresHandle;
  db: Db;
  close(): Promise<void>;
}

/** A private PostgreSQL with a `sillage` database, and a pool on it as the server opens one. */
export async function startDatabase(): Promise<DatabaseStack> {
  const pg = await startPostgres();
  try {
    pg.createDatabase('sillage');
  } catch (e) {
    await pg.stop();
    throw e;
  }
  const db = postgresDb(pg.url('sillage'));
  return {
    pg,
    db,
    async close() {
      await db.close();
      await pg.stop();
    },
  };
}

/** A database and one server on it; `options` replace the test bed's defaults. */
export async function startServerStack(options: Partial<ServerOptions> = {}): Promise<ServerStack> {
  const base = await startDatabase();
  try {
    const server = await startServer({
      db: base.db,
      port: 0,
      trustAnchorsPem: [],
      desfireKeys: TEST_DESFIRE_KEYS,
      log: jsonLog(() => {}, 'silent'),
      ...options,
    });
    return {
      ...base,
      server,
      async close() {
        await server.close();
        await base.close();
      },
    };
  } catch (e) {
    await base.close();
    throw e;
  }
}

export interface EnrolledWorkstation {
  creds: WorkstationCredentials;
  client: () => Promise<SessionServerClient>;
}

/** A workstation registered with a fresh enrolment token, and the agent's lazy client for it. */
export async function enrolWorkstation(
  server: SessionServer,
  name = 'PC',
  opts: ClientOptions = {},
): Promise<EnrolledWorkstation> {
  const creds = await registerWorkstation(server.issuer, await server.directory.createEnrolmentToken(name), name);
  return { creds, client: lazyClient(server.issuer, async () => creds, { allowHttp: true, timeoutMs: 3000, ...opts }) };
}

export interface WardPc {
  engine: SessionEngine;
  auth: ServerAuthenticator;
  audit: AuditLog;
  errors: AgentError[];
  /** A badge tap on this PC's reader ("NAME lecteur"), its relay asked through this PC, handled to the end. */
  tap(badge: DesfireEmulator): Promise<void>;
}

/**
 * A ward PC at the level of the agent core: the session engine on the server's authenticator (`options`:
 * its status polling, the policy), without inactivity lock or tap debounce (a test's taps follow each other
 * within milliseconds, which the debounce would rightly take for a bouncing reader).
 */
export function wardPc(
  name: string,
  client: () => Promise<SessionServerClient>,
  options: Omit<ServerAuthenticatorOptions, 'client' | 'clock'>,
): WardPc {
  const auth = new ServerAuthenticator({ client, clock: systemClock, ...options });
  const audit = new AuditLog({ clock: systemClock });
  const engine = new SessionEngine({
    authenticator: auth,
    audit,
    clock: systemClock,
    inactivityMs: 0,
    tapDebounceMs: 0,
  });
  const errors: AgentError[] = [];
  engine.onError.add((e) => errors.push(e));
  const tap = async (badge: DesfireEmulator) => {
    engine.handleReaderEvent(await tapEvent(client, badge, `${name} lecteur`));
    await waitFor(() => !['presented', 'authenticating'].includes(engine.getState().kind), 5000, 'tap handled');
  };
  return { engine, auth, audit, errors, tap };
}

/** The agent's authenticator on the server, polling the session status once a minute. */
export function serverAuthenticator(client: () => Promise<SessionServerClient>): ServerAuthenticator {
  return new ServerAuthenticator({ client, clock: systemClock, pollMs: 60_000 });
}

/** The agent's session engine on the server's authenticator, without inactivity lock or tap debounce. */
export function serverEngine(client: () => Promise<SessionServerClient>, audit: AuditLog): SessionEngine {
  const authenticator = serverAuthenticator(client);
  return new SessionEngine({ authenticator, audit, clock: systemClock, inactivityMs: 0, tapDebounceMs: 0 });
}

export interface ClusterStack {
  pg: PostgresHandle;
  lb: LoadBalancer;
  /** The address workstations use: the load balancer's. */
  issuer: string;
  /** The instances behind the balancer. */
  servers: SessionServer[];
  /** Each instance's own pool, as separate processes have. */
  dbs: Db[];
  /** One more instance on the same database and address, not behind the balancer. */
  instance(options?: Partial<ServerOptions>): Promise<SessionServer>;
  close(): Promise<void>;
}

/** `count` instances on one database behind one address, as a hospital runs them. */
export async function startCluster(count: number, options: Partial<ServerOptions> = {}): Promise<ClusterStack> {
  const { pg, db: first } = await startDatabase();
  const dbs: Db[] = [first];
  const all: SessionServer[] = [];
  const lb = await startLoadBalancer();
  const issuer = `http://127.0.0.1:${lb.port}`;
  const instance = async (extra: Partial<ServerOptions> = {}) => {
    const db = all.length === 0 ? first : postgresDb(pg.url('sillage'));
    if (db !== first) dbs.push(db);
    const server = await startServer({
      db,
      issuer,
      trustAnchorsPem: [],
      desfireKeys: TEST_DESFIRE_KEYS,
      log: jsonLog(() => {}, 'silent'),
      ...options,
      ...extra,
    });
    all.push(server);
    return server;
  };
  const close = async () => {
    for (const s of all) await s.close();
    for (const d of dbs) await d.close();
    await lb.close();
    await pg.stop();
  };
  try {
    const servers: SessionServer[] = [];
    for (let i = 0; i < count; i++) servers.push(await instance());
    lb.setBackends(servers.map((s) => s.port));
    return { pg, lb, issuer, servers, dbs, instance, close };
  } catch (e) {
    await close();
    throw e;
  }
}
