// The agent: readers + session engine + authenticator + audit, exposed to the UI through the contract.
// Plain Node. createAgent() assembles given parts; which parts a workstation gets, from its settings, is
// decided in one place only: the composition root (app/compose.ts), called by the Electron shell and by
// headless mode alike.
import path from 'node:path';
import type {
  AnyEvent,
  DiagnosticsReport,
  Lang,
  LockReason,
  NotConfigured,
  ReaderInfo,
  SessionState,
  UiPolicy,
} from '../../shared/contract';
import { ContractError } from '../../shared/errors';
import { Dispatcher } from './api/dispatcher';
import type { Handlers } from './api/dispatcher';
import type { AgentApi } from './api/types';
import { AuditLog } from './audit/audit';
import type { AuditSink } from './audit/audit';
import { ServerAuthenticator } from './auth/server-authenticator';
import type { Authenticator } from './auth/types';
import { Broker, BrokerError, LocalEndpoint } from './broker/broker';
import type { BrokerApp, LocalEndpointOptions } from './broker/broker';
import { HttpEndpoint } from './broker/http-endpoint';
import { DemoAuthenticator } from './demo/demo-authenticator';
import { DemoReaders } from './demo/demo-readers';
import type { ReaderBackend, ReaderEvent } from './devices/types';
import type { ConfigStore } from './config/store';
import type { Logger } from './logs/logger';
import { exceptionFields, redact } from './logs/logger';
import { SessionEngine } from './session/engine';
import type { Clock } from './util/clock';
import { systemClock } from './util/clock';
import { VERSION } from './version';

export interface AgentOptions {
  mode: 'electron' | 'headless';
  /** Demo readers, and the local demo authenticator when no other is given (DemoMode). */
  demo: boolean;
  /** Where the audit trail is written; omitted = memory only. */
  dataDir?: string;
  lang?: Lang;
  allowQuit?: boolean;
  /** Roaming MFA window, default 4 h. */
  mfaWindowMs?: number;
  inactivityMs?: number;
  tapDebounceMs?: number;
  clock?: Clock;
  /** Real reader backends (PC/SC, HID), or the test bed's. */
  readers?: ReaderBackend[];
  authenticator?: Authenticator;
  audit?: AuditSink;
  /** Demo readers made by the caller (the embedded demo server must trust their CA first). */
  demoReaders?: DemoReaders;
  /** DPI broker (needs the session-server authenticator: tokens come from token exchange). */
  broker?: BrokerSettings;
  /** Effective configuration (defaults < user preferences < machine policy); it overrides lang/allowQuit/inactivity. */
  config?: ConfigStore;
  /** Session server, for the diagnostic's reachability check. */
  serverUrl?: string;
  /** Agent log, whose tail goes into the diagnostic export. */
  logger?: Logger;
  /** Cryptolib status for the diagnostic page (PC/SC backend). */
  cryptolib?: () => NonNullable<DiagnosticsReport['cryptolib']>;
  /** Workstation registration status for the diagnostic page (session server). */
  workstation?: () => NonNullable<DiagnosticsReport['workstation']>;
  /** The workstation lacks a setting it needs: nothing opens, the UI says so. */
  notConfigured?: NotConfigured;
}

export interface BrokerSettings {
  apps: BrokerApp[];
  /** Local socket / pipe path; null = no local endpoint. */
  socketPath: string | null;
  /** The OS's view of a socket peer (native/peercred). */
  identify: LocalEndpointOptions['identify'];
  /** Loopback HTTP port (0 = any free port); null = no HTTP endpoint. */
  httpPort: number | null;
  dmpUrlTemplate: string | null;
  /** System browser or hardened window (the shell), or what headless mode does with it. */
  openUrl(url: string): Promise<void>;
}

export interface Agent {
  api: AgentApi;
  broker: Broker | null;
  /** Where the broker listens (for the IT guide's diagnostics and the tests). */
  brokerEndpoints: { socket: string | null; http: string | null };
  engine: SessionEngine;
  demoReaders: DemoReaders | null;
  audit: AuditSink;
  getState(): SessionState;
  getReaders(): ReaderInfo[];
  policy(): UiPolicy;
  lock(reason: LockReason): void;
  switchUser(): void;
  onEvent(listener: (e: AnyEvent) => void): () => void;
  stop(): Promise<void>;
}

export const DEFAULT_MFA_WINDOW_MS = 4 * 60 * 60 * 1000;
export const DEFAULT_INACTIVITY_MS = 10 * 60 * 1000;

/** Decisions also go to the agent log (without the person's identifier: the audit trail keeps that). */
function auditWithLog(audit: AuditSink, logger: Logger | undefined): AuditSink {
  if (!logger) return audit;
  return {
    record: (e) => {
      const r = audit.record(e);
      logger.log(e.outcome === 'failure' ? 'warn' : 'info', e.action, {
        outcome: e.outcome,
        ...(e.reason ? { reason: e.reason } : {}),
        ...(e.reader ? { reader: e.reader } : {}),
        ...(e.factor ? { factor: e.factor } : {}),
      });
      return r;
    },
    recent: (n) => audit.recent(n),
  };
}

interface BrokerParts {
  broker: Broker | null;
  endpoints: Agent['brokerEndpoints'];
  close(): Promise<void>;
}

async function startBroker(
  settings: BrokerSettings | undefined,
  authenticator: Authenticator,
  engine: SessionEngine,
  audit: AuditSink,
  clock: Clock,
): Promise<BrokerParts> {
  const endpoints: Agent['brokerEndpoints'] = { socket: null, http: null };
  if (!settings || !(authenticator instanceof ServerAuthenticator))
    return { broker: null, endpoints, close: async () => {} };
  const broker = new Broker({
    getState: () => engine.getState(),
    onState: (l) => engine.onState.add(l),
    tokensOf: (s) => authenticator.tokensOf(s),
    exchange: async (t, aud) => (await authenticator.client()).exchange(t, aud),
    audit,
    clock,
    apps: settings.apps,
    dmp: { urlTemplate: settings.dmpUrlTemplate, open: settings.openUrl },
  });
  let local: LocalEndpoint | null = null;
  let http: HttpEndpoint | null = null;
  if (settings.socketPath) {
    local = new LocalEndpoint({ broker, path: settings.socketPath, identify: settings.identify });
    endpoints.socket = await local.listen();
  }
  if (settings.httpPort !== null) {
    http = new HttpEndpoint(broker);
    endpoints.http = await http.listen(settings.httpPort);
  }
  return {
    broker,
    endpoints,
    async close() {
      await local?.close().catch(() => {});
      await http?.close().catch(() => {});
      broker.close();
    },
  };
}

async function serverReachability(serverUrl: string | undefined): Promise<Record<string, unknown>> {
  if (!serverUrl) return { configured: false };
  const t0 = Date.now();
  try {
    const r = await fetch(new URL('healthz', serverUrl.endsWith('/') ? serverUrl : `${serverUrl}/`), {
      signal: AbortSignal.timeout(3000),
    });
    return { url: serverUrl, reachable: r.ok, status: r.status, ms: Date.now() - t0 };
  } catch (e) {
    return { url: serverUrl, reachable: false, error: (e as Error).name, ms: Date.now() - t0 };
  }
}

export async function createAgent(opts: AgentOptions): Promise<Agent> {
  const clock = opts.clock ?? systemClock;
  const audit = auditWithLog(
    opts.audit ?? new AuditLog({ clock, ...(opts.dataDir ? { file: path.join(opts.dataDir, 'audit.jsonl') } : {}) }),
    opts.logger,
  );
  const demoReaders = opts.demo ? (opts.demoReaders ?? new DemoReaders()) : null;
  const backends: ReaderBackend[] = [...(opts.readers ?? []), ...(demoReaders ? [demoReaders] : [])];
  const mfaWindowMs = opts.mfaWindowMs ?? DEFAULT_MFA_WINDOW_MS;
  const authenticator =
    opts.authenticator ??
    (demoReaders ? new DemoAuthenticator({ clock, mfaWindowMs, publicKeys: demoReaders.publicKeys }) : null) ??
    (opts.notConfigured ? refuseEverything : null);
  if (!authenticator) throw new Error('no authenticator: give a session-server authenticator or turn demo mode on');

  const cfg = opts.config;
  const engine = new SessionEngine({
    authenticator,
    audit,
    clock,
    ...(opts.logger ? { logger: opts.logger } : {}),
    // Read at each use: a policy change applies to the next lock timer and the next tap.
    get inactivityMs() {
      return opts.inactivityMs ?? (cfg ? cfg.value<number>('InactivityLockMinutes') * 60_000 : DEFAULT_INACTIVITY_MS);
    },
    get tapDebounceMs() {
      return opts.tapDebounceMs ?? cfg?.value<number>('TapDebounceMs') ?? 1500;
    },
  });
  const brokerParts = await startBroker(opts.broker, authenticator, engine, audit, clock);
  const broker = brokerParts.broker;
  const uiPolicyFromConfig = (): UiPolicy => ({
    allowQuit: (cfg?.value<boolean>('AllowQuit') ?? false) || (opts.allowQuit ?? false),
    demo: opts.demo,
    lang: cfg ? cfg.value<Lang>('Language') : (opts.lang ?? 'fr'),
    dmp: Boolean(broker && opts.broker?.dmpUrlTemplate),
    locked: cfg?.locked() ?? [],
    ...(opts.notConfigured ? { notConfigured: opts.notConfigured } : {}),
  });
  let policy: UiPolicy = uiPolicyFromConfig();
  const readers = () => backends.flatMap((b) => b.readers());
  const demo = () => {
    if (!demoReaders) throw new ContractError('invalid-command', 'not in demo mode');
    return demoReaders;
  };

  const diagnostics = (): DiagnosticsReport => ({
    version: VERSION,
    mode: opts.mode,
    demo: opts.demo,
    platform: `${process.platform}-${process.arch} node ${process.versions.node}`,
    readers: readers(),
    state: engine.getState().kind,
    ...sessionAssurance(engine.getState()),
    lastErrors: engine.lastErrors(),
    audit: audit.recent(30),
    ...(cfg
      ? { config: cfg.masked(), lockedSettings: cfg.locked(), configProblems: cfg.lastProblems().map((p) => p.message) }
      : {}),
    ...(opts.notConfigured ? { notConfigured: opts.notConfigured } : {}),
    ...(opts.cryptolib ? { cryptolib: opts.cryptolib() } : {}),
    ...(opts.workstation ? { workstation: opts.workstation() } : {}),
  });

  const handlers: Handlers = {
    'session.getState': () => engine.getState(),
    'session.submitPin': ({ pin }) => engine.submitPin(pin),
    'session.cancel': () => engine.cancel(),
    'session.lock': () => engine.lock('user-lock'),
    'session.switchUser': () => engine.switchUser(),
    'session.enrolBadge': () => engine.enrolBadge(),
    'readers.list': () => readers(),
    'diagnostics.export': async () => {
      const report = diagnostics();
      const server = await serverReachability(opts.serverUrl);
      const at = new Date(clock.now());
      audit.record({ action: 'diagnostics.exported', outcome: 'info' });
      const content = JSON.stringify(
        redact({ exportedAt: at.toISOString(), ...report, server, log: opts.logger?.tail(300) ?? [] }),
        null,
        2,
      );
      return { fileName: `sillage-diagnostic-${at.toISOString().replace(/[:.]/g, '-')}.json`, content };
    },
    'diagnostics.get': diagnostics,
    'ui.getPolicy': () => policy,
    'ui.setLanguage': ({ lang }) => {
      if (cfg) {
        // A user preference, unless the hospital fixed the language by policy.
        const r = cfg.setPreference('Language', lang);
        if (!r.ok) throw new ContractError('not-allowed', r.message);
        return policy;
      }
      policy = { ...policy, lang };
      dispatcher.emit('ui.policy', policy);
      return policy;
    },
    'ui.activity': () => {
      engine.activity();
      return { ok: true as const };
    },
    'dmp.getPatient': () => broker?.currentPatient() ?? null,
    'dmp.openCurrent': async () => {
      try {
        if (!broker) throw new BrokerError('dmp-not-configured');
        return await broker.openCurrentDmp();
      } catch (e) {
        // The broker → contract boundary: its refusal code says why; anything else is ours, logged.
        const reason = e instanceof BrokerError ? e.code : 'internal';
        if (!(e instanceof BrokerError)) opts.logger?.error('DMP opening failed unexpectedly', exceptionFields(e));
        const err = { code: 'dmp-refused' as const, params: { reason }, at: clock.now() };
        dispatcher.emit('agent.error', err);
        throw new ContractError('dmp-refused', e instanceof BrokerError ? e.message : 'DMP');
      }
    },
    'demo.inventory': () => demo().inventory(),
    'demo.insertCard': ({ cardId, reader }) => (demo().insertCard(cardId, reader), demo().inventory()),
    'demo.removeCard': ({ reader }) => (demo().removeCard(reader), demo().inventory()),
    // Answers once the tap reached the engine (the emulated card's exchange, and the relay's, are done).
    'demo.tapBadge': async ({ badgeId, reader }) => (await demo().tapBadge(badgeId, reader), demo().inventory()),
    'demo.reset': () => {
      demo().reset();
      engine.restart();
      return demo().inventory();
    },
  };

  const dispatcher = new Dispatcher({ handlers, audit, demo: opts.demo });
  // The agent log (for the helpdesk) gets state changes and errors; both are secret-free by
  // construction, and the logger redacts by name and shape anyway.
  const logger = opts.logger;
  if (logger) {
    engine.onState.add((s) =>
      logger.debug('state', { kind: s.kind, ...(s.kind === 'locked' ? { reason: s.reason } : {}) }),
    );
    engine.onError.add((e) => logger.warn('agent error', { code: e.code, ...(e.params ?? {}) }));
  }
  engine.onState.add((s) => dispatcher.emit('session.state', s));
  engine.onError.add((e) => dispatcher.emit('agent.error', e));
  broker?.patientChanged.add((p) => dispatcher.emit('dmp.patient', p));
  const offConfig = cfg?.changed.add(() => {
    policy = uiPolicyFromConfig();
    dispatcher.emit('ui.policy', policy);
  });

  const onReaderEvent = (e: ReaderEvent) => {
    if (e.type === 'readers') dispatcher.emit('readers.changed', readers());
    engine.handleReaderEvent(e);
    if (demoReaders && e.type !== 'readers') dispatcher.emit('demo.inventory', demoReaders.inventory());
  };
  // Re-publish the demo inventory after PIN attempts too (tries-left counters live on the card).
  if (demoReaders) engine.onState.add(() => dispatcher.emit('demo.inventory', demoReaders.inventory()));
  for (const b of backends) await b.start(onReaderEvent);
  audit.record({
    action: 'agent.started',
    outcome: 'info',
    reason: `${opts.mode}${opts.demo ? ' demo' : ''} ${VERSION}`,
  });

  return {
    api: dispatcher,
    broker,
    brokerEndpoints: brokerParts.endpoints,
    engine,
    demoReaders,
    audit,
    getState: () => engine.getState(),
    getReaders: readers,
    policy: () => policy,
    lock: (reason) => void engine.lock(reason),
    switchUser: () => void engine.switchUser(),
    onEvent: (l) => dispatcher.subscribe(l),
    async stop() {
      engine.lock('user-lock');
      await Promise.all(backends.map((b) => b.stop().catch(() => {})));
      await brokerParts.close();
      offConfig?.();
      audit.record({ action: 'agent.stopped', outcome: 'info' });
    },
  };
}

/** A workstation that is not configured has no authenticator: every attempt is refused (none can start). */
const refuseEverything: Authenticator = {
  loginWithCard: async () => ({ ok: false, code: 'auth-refused', reason: 'workstation not configured' }),
  badgeTapped: async () => ({ kind: 'refused', code: 'auth-refused', reason: 'workstation not configured' }),
  loginWithBadge: async () => ({ ok: false, code: 'auth-refused', reason: 'workstation not configured' }),
  endWorkstationSession: async () => {},
};

/** The open session's assurance, for the diagnostic. */
function sessionAssurance(s: SessionState): Pick<DiagnosticsReport, 'session'> {
  if (s.kind !== 'open') return {};
  const { assurance, unverifiedBadge, factors } = s.session;
  return { session: { assurance, ...(unverifiedBadge ? { unverifiedBadge } : {}), factors } };
}
