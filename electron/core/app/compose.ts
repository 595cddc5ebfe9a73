// The composition root: the whole agent built from the effective settings (defaults < preferences <
// overrides of a development run < machine policy) and the platform's adapters. The Electron shell and
// headless mode both call composeAgent(); they differ only in the adapters they pass (window, secret
// store, OS lock, where files go), never in which readers, authenticator, broker or policies run.
import fs from 'node:fs';
import path from 'node:path';
import { createAgent } from '../agent';
import type { Agent, BrokerSettings } from '../agent';
import { AuditLog, sealedAuditKey } from '../audit/audit';
import type { AuditSink } from '../audit/audit';
import { ServerAuthenticator } from '../auth/server-authenticator';
import type { DegradedCpsPolicy } from '../auth/server-authenticator';
import type { Authenticator } from '../auth/types';
import { RelayKeyCustody } from '../oidc/relay-custody';
import type { HidHost } from '../devices/badge/hid/transport';
import type { BrokerApp, LocalEndpointOptions } from '../broker/broker';
import { migrateLegacyPreferences } from '../config/preferences';
import { ConfigStore } from '../config/store';
import type { PolicySource, PreferenceStore, SettingOverrides } from '../config/store';
import { DemoAuthenticator } from '../demo/demo-authenticator';
import { DemoReaders } from '../demo/demo-readers';
import { DEMO_DPI } from '../demo/embedded-server';
import type { EmbeddedServer, StartEmbeddedServer } from '../demo/embedded-server';
import { Logger } from '../logs/logger';
import type { LogLevel } from '../logs/logger';
import { lazyClient } from '../oidc/server-client';
import type { SessionServerClient } from '../oidc/server-client';
import { readersFromConfig } from '../devices/from-config';
import { planLock } from '../session/lock-mode';
import type { LockMode, LockPlan } from '../session/lock-mode';
import { systemClock } from '../util/clock';
import type { Clock } from '../util/clock';
import { Listeners } from '../util/emitter';
import { isLoopbackHost } from '../util/url';
import { planAgent } from './plan';
import type { AgentPlan, PlatformFacts } from './plan';
import type { SecretStore } from '../keys/secret-store';
import type { SupervisorLink } from './supervisor';
import { probeHardwareKeys } from '../keys/platform-keys';
import type { HardwareKeys } from '../keys/platform-keys';
import { workstation } from './workstation';
import type { Workstation } from './workstation';

/** Where the settings come from. */
export interface SettingsSources {
  policy: PolicySource | null;
  preferences: PreferenceStore | null;
  /** A development run's flags (never in a packaged app). */
  overrides?: SettingOverrides | null;
  /** The hand-written preference file of earlier versions, migrated once into `preferences`. */
  legacyPreferences?: string;
  /** What went wrong finding the sources (audited once the audit trail is open). */
  problems?: string[];
}

/** What the desktop app or headless mode gives the agent: facts and adapters, no decisions. */
export interface Platform extends PlatformFacts {
  mode: 'electron' | 'headless';
  /** Audit trail, sealed workstation key, demo server state. */
  dataDir: string;
  logDir: string;
  clock?: Clock;
  secretStore: SecretStore;
  /** The TPM that holds the workstation key (the OS's provider, probed when a session server is used). */
  hardwareKeys?: () => HardwareKeys;
  /** Shown in the session server's workstation list. */
  workstationName: string;
  /** The DPI broker's local socket / named pipe. */
  brokerSocketPath: string | null;
  identifyPeer: LocalEndpointOptions['identify'];
  /** Opens the DMP web PS (system browser in the app). */
  openUrl(url: string): Promise<void>;
  /** LockMode = os. */
  lockOperatingSystem(): Promise<void>;
  /** Starts the demo session server (repository checkouts only, see PlatformFacts.canEmbedServer). */
  embeddedServer: StartEmbeddedServer | null;
  /** The Node.js executable the demo DPI runs under (its identity on the broker socket). */
  nodeExecutable: string | null;
  pcscReaderFilter?: (name: string) => boolean;
  /** USB-HID enumeration (node-hid unless given). */
  hidHost?: HidHost;
  /** Opens the OS-protected badge key file (local custody). */
  unprotect?: (blob: Buffer) => Buffer;
  /** A developer's terminal (headless): configuration problems are also printed. */
  warn?(message: string): void;
  /** The supervisor this agent runs under (fail closed), told of each state change. */
  supervisor?: SupervisorLink | null;
  /** Why the supervisor restarted this agent (its predecessor's end), for the audit trail. */
  restartedAfter?: string | null;
}

export interface ComposedAgent extends Agent {
  plan: AgentPlan;
  config: ConfigStore;
  logger: Logger;
  serverUrl: string | null;
  embedded: EmbeddedServer | null;
  /** Where the lock window must be now ('cover' at start), and each change (the shell applies them). */
  window: { current(): LockPlan['window']; changed: Listeners<LockPlan['window']> };
  /**
   * A setting that decides what the agent is made of changed (a GPO arriving after start): the agent must
   * be composed again. Told once, and only while nobody is logged in (never a surprise logout).
   */
  restartNeeded: Listeners<string>;
  /** The supervisor's channel (null when not supervised): say "stopping" before a deliberate exit. */
  supervisor: SupervisorLink | null;
  /** Stops everything composeAgent started (agent, demo server, policy watch, log). */
  close(): Promise<void>;
}

const DEMO_DPI_APP = (executable: string): BrokerApp => ({
  id: DEMO_DPI.clientId,
  name: 'DPI de démonstration',
  executable,
  audiences: [DEMO_DPI.audience],
  dmp: true,
});

export function openSettings(sources: SettingsSources, audit: AuditSink): ConfigStore {
  for (const reason of sources.problems ?? []) audit.record({ action: 'config.rejected', outcome: 'failure', reason });
  if (sources.legacyPreferences && sources.preferences)
    migrateLegacyPreferences(sources.legacyPreferences, sources.preferences, audit);
  const config = new ConfigStore({
    policy: sources.policy,
    preferences: sources.preferences,
    overrides: sources.overrides ?? null,
    audit,
  });
  config.watch();
  return config;
}

interface AuthParts {
  authenticator: Authenticator | undefined;
  serverClient: (() => Promise<SessionServerClient>) | null;
  serverUrl: string | null;
  embedded: EmbeddedServer | null;
  workstation: Workstation | null;
  /** Releases the TPM provider (after the signatures under way). */
  closeKeys(): Promise<void>;
}

async function buildAuthenticator(
  plan: AgentPlan,
  config: ConfigStore,
  platform: Platform,
  audit: AuditSink,
  demoReaders: DemoReaders | null,
  clock: Clock,
): Promise<AuthParts> {
  const a = plan.authenticator;
  const none = { workstation: null, closeKeys: async () => {} };
  if (a.kind === 'not-configured')
    return { authenticator: undefined, serverClient: null, serverUrl: null, embedded: null, ...none };
  if (a.kind === 'local-demo')
    return {
      authenticator: new DemoAuthenticator({
        clock,
        mfaWindowMs: plan.mfaWindowMs,
        publicKeys: demoReaders!.publicKeys,
        allowUidOnly: plan.allowUidOnly,
      }),
      serverClient: null,
      serverUrl: null,
      embedded: null,
      ...none,
    };
  let url: string;
  let enrolmentToken = () => config.value<string>('EnrolmentToken');
  let embedded: EmbeddedServer | null = null;
  if (a.kind === 'embedded-demo-server') {
    embedded = await platform.embeddedServer!({
      dataDir: path.join(platform.dataDir, 'embedded-server'),
      demoCaPem: demoReaders!.pki.caPem,
      mfaWindowMinutes: plan.mfaWindowMs / 60_000,
      allowUidOnly: plan.allowUidOnly,
    });
    url = embedded.issuer;
    const token = embedded.enrolmentToken;
    enrolmentToken = () => token;
  } else url = a.url;
  const hardware = (platform.hardwareKeys ?? (() => probeHardwareKeys(process.platform, platform.dataDir)))();
  const ws = workstation({
    serverUrl: url,
    enrolmentToken,
    file: path.join(platform.dataDir, 'workstation.sealed'),
    store: platform.secretStore,
    hardware,
    allowSoftwareKey: plan.workstationKey.allowSoftware,
    allowBasicText: plan.workstationKey.allowBasicText,
    name: platform.workstationName,
    audit,
  });
  const credentials = ws.credentials;
  const serverClient = lazyClient(url, credentials, {
    allowHttp: isLoopbackHost(new URL(url).hostname),
    // The server keeps where this workstation's audit chain stood with each grant (a rollback shows there).
    auditHead: () => audit.head?.() ?? null,
  });
  const degradedCps = plan.degradedCps
    ? degradedPolicy(plan.degradedCps.trustAnchorsFile, plan.mfaWindowMs, audit)
    : null;
  const authenticator = new ServerAuthenticator({
    client: serverClient,
    clock,
    degradedCps,
    maxMfaWindowMs: plan.mfaWindowMs,
  });
  // Register (or load the sealed key) now, so a wrong token shows at start, not at the first tap.
  await credentials().catch((e: unknown) =>
    platform.warn?.(`Poste non enregistré / not registered: ${(e as Error).message}`),
  );
  return {
    authenticator,
    serverClient,
    serverUrl: url,
    embedded,
    workstation: ws,
    closeKeys: async () => (hardware.ok ? hardware.provider.close() : undefined),
  };
}

/**
 * Degraded CPS login: the trust anchors are read at each use (IT may replace the file without a restart);
 * an unreadable file trusts nothing, and says so in the audit trail.
 */
function degradedPolicy(file: string, mfaWindowMs: number, audit: AuditSink): DegradedCpsPolicy {
  return {
    mfaWindowMs,
    get trustPem() {
      try {
        const pems =
          fs.readFileSync(file, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
        if (!pems.length) throw new Error('aucun certificat PEM');
        return pems;
      } catch (e) {
        audit.record({
          action: 'config.rejected',
          outcome: 'failure',
          reason: `CpsTrustAnchorsFile ${file} : ${(e as Error).message}`,
        });
        return [];
      }
    },
  };
}

function brokerSettings(plan: AgentPlan, platform: Platform): BrokerSettings | undefined {
  if (!plan.broker) return undefined;
  const demoDpi =
    plan.broker.demoDpi && platform.nodeExecutable ? [DEMO_DPI_APP(fs.realpathSync(platform.nodeExecutable))] : [];
  return {
    apps: [...plan.broker.apps, ...demoDpi],
    socketPath: platform.brokerSocketPath,
    identify: platform.identifyPeer,
    httpPort: plan.broker.httpPort,
    dmpUrlTemplate: plan.broker.dmpUrlTemplate,
    openUrl: (url) => platform.openUrl(url),
  };
}

/** The lock plan of each state change (LockMode read at each change): the window to the shell, OS lock here. */
function lockPlans(agent: Agent, config: ConfigStore, platform: Platform): ComposedAgent['window'] {
  const changed = new Listeners<LockPlan['window']>();
  let prev = agent.getState();
  let current: LockPlan['window'] = planLock(config.value<LockMode>('LockMode'), prev, prev).window;
  agent.engine.onState.add((next) => {
    const plan = planLock(config.value<LockMode>('LockMode'), prev, next);
    prev = next;
    if (plan.window !== 'keep') {
      current = plan.window;
      changed.emit(plan.window);
    }
    if (plan.lockOs)
      platform.lockOperatingSystem().then(
        () => agent.audit.record({ action: 'os.locked', outcome: 'info', reason: 'LockMode=os' }),
        (e: Error) => agent.audit.record({ action: 'os.locked', outcome: 'failure', reason: e.message }),
      );
  });
  return { current: () => current, changed };
}

/** Settings read once, when the agent is composed: a change needs a new composition. */
export const COMPOSED_FROM = [
  'ServerUrl',
  'DemoMode',
  'EnrolmentToken',
  'CryptolibPath',
  'ReaderProfiles',
  'BadgeKeyCustody',
  'BadgeKeyFile',
  'MfaWindowMinutes',
  'AllowSoftwareWorkstationKey',
  'AllowBasicTextSecretStorage',
  'DegradedCpsLogin',
  'CpsTrustAnchorsFile',
  'BrokerApplications',
  'BrokerHttpPort',
  'DmpUrlTemplate',
] as const;

function watchStructure(agent: Agent, config: ConfigStore, platform: Platform, audit: AuditSink): Listeners<string> {
  const restart = new Listeners<string>();
  const composed = JSON.stringify(COMPOSED_FROM.map((k) => config.value(k)));
  let pending: string | null = null;
  const fire = () => {
    if (!pending || agent.getState().kind === 'open') return;
    audit.record({ action: 'agent.restart', outcome: 'info', reason: `réglages modifiés : ${pending}` });
    platform.warn?.(`Réglages modifiés (${pending}) : l'agent redémarre / settings changed: the agent restarts`);
    restart.emit(pending);
    pending = '';
  };
  config.changed.add(() => {
    if (pending !== null) return;
    const now = COMPOSED_FROM.map((k) => config.value(k));
    if (JSON.stringify(now) === composed) return;
    const before = JSON.parse(composed) as unknown[];
    pending = COMPOSED_FROM.filter((_, i) => JSON.stringify(now[i]) !== JSON.stringify(before[i])).join(', ');
    fire();
  });
  agent.engine.onState.add(fire);
  return restart;
}

/** The audit trail (one hash chain for the configuration and the agent), the settings, the log and the plan. */
async function openSettingsAndPlan(sources: SettingsSources, platform: Platform, clock: Clock) {
  const audit = new AuditLog({
    clock,
    file: path.join(platform.dataDir, 'audit.jsonl'),
    // Its head and checkpoints signed with a key sealed by the platform's store, outside the file.
    keyStore: await sealedAuditKey(path.join(platform.dataDir, 'audit-key.sealed'), platform.secretStore),
  });
  const config = openSettings(sources, audit);
  for (const p of config.lastProblems()) platform.warn?.(`Réglage refusé / setting refused: ${p.source}: ${p.message}`);
  const logger = new Logger({ dir: platform.logDir, level: () => config.value<LogLevel>('LogLevel') });
  const plan = planAgent(
    config.get(),
    platform,
    (key) => config.lastProblems().find((p) => p.key === key)?.message ?? null,
  );
  for (const p of plan.problems) {
    audit.record({ action: 'config.rejected', outcome: 'failure', reason: p });
    platform.warn?.(p);
  }
  logger.info('agent starting', { mode: platform.mode, authenticator: plan.authenticator.kind, demo: plan.demo });
  return { audit, config, logger, plan };
}

/** The real readers the plan names, from their settings; their configuration problems are audited. */
function realReaders(
  plan: AgentPlan,
  config: ConfigStore,
  platform: Platform,
  audit: AuditSink,
  serverCustody: RelayKeyCustody | null,
) {
  return readersFromConfig(config, {
    pcsc: plan.readers.pcsc,
    hid: plan.readers.hid,
    serverCustody,
    ...(platform.pcscReaderFilter ? { readerFilter: platform.pcscReaderFilter } : {}),
    ...(platform.unprotect ? { unprotect: platform.unprotect } : {}),
    ...(platform.hidHost ? { hidHost: platform.hidHost } : {}),
    warn: (m) => {
      audit.record({ action: 'readers.config', outcome: 'failure', reason: m });
      platform.warn?.(m);
    },
  });
}

/** The supervisor (LockMode = os, fail-closed) is told whether a session is open and which lock mode applies. */
function tellSupervisor(link: SupervisorLink, agent: Agent, config: ConfigStore): void {
  const tell = () => link.state(agent.getState().kind === 'open', config.value<LockMode>('LockMode'));
  tell();
  agent.engine.onState.add(tell);
  config.changed.add(tell);
}

export async function composeAgent(sources: SettingsSources, platform: Platform): Promise<ComposedAgent> {
  const clock = platform.clock ?? systemClock;
  const { audit, config, logger, plan } = await openSettingsAndPlan(sources, platform, clock);
  // The demo authenticators (embedded or local) exist only with demo readers: both follow DemoMode.
  const demoReaders = plan.readers.demo ? new DemoReaders({ allowUidOnly: plan.allowUidOnly }) : null;
  const auth = await buildAuthenticator(plan, config, platform, audit, demoReaders, clock);
  // With a session server, demo badges are checked by it as real ones (a demo server holds their key).
  const serverCustody = auth.serverClient ? new RelayKeyCustody(auth.serverClient) : null;
  if (demoReaders && serverCustody) demoReaders.badgeCustody = serverCustody;
  const real = realReaders(plan, config, platform, audit, serverCustody);
  const a = plan.authenticator;
  if (a.kind === 'not-configured')
    audit.record({
      action: 'agent.not-configured',
      outcome: 'failure',
      reason: a.problem
        ? `ServerUrl refusé : ${a.problem}`
        : 'ServerUrl vide et DemoMode désactivé : rien ne peut s’ouvrir',
    });
  const broker = brokerSettings(plan, platform);
  let agent: Agent;
  try {
    agent = await createAgent({
      mode: platform.mode,
      demo: plan.readers.demo,
      clock,
      config,
      audit,
      logger,
      readers: real.readers,
      ...(real.cryptolib ? { cryptolib: real.cryptolib } : {}),
      ...(demoReaders && plan.readers.demo ? { demoReaders } : {}),
      ...(auth.authenticator ? { authenticator: auth.authenticator } : {}),
      ...(auth.serverUrl ? { serverUrl: auth.serverUrl } : {}),
      ...(auth.workstation ? { workstation: auth.workstation.status } : {}),
      ...(broker ? { broker } : {}),
      ...(a.kind === 'not-configured' ? { notConfigured: { setting: a.setting, problem: a.problem } } : {}),
    });
  } catch (e) {
    await auth.embedded?.stop();
    await auth.closeKeys();
    config.close();
    throw e;
  }
  const window = lockPlans(agent, config, platform);
  if (platform.restartedAfter)
    audit.record({
      action: 'agent.restarted',
      outcome: 'failure',
      reason: `${platform.restartedAfter}: started locked`,
    });
  const link = platform.supervisor;
  if (link) tellSupervisor(link, agent, config);
  const restartNeeded = watchStructure(agent, config, platform, audit);
  return {
    ...agent,
    restartNeeded,
    plan,
    config,
    logger,
    serverUrl: auth.serverUrl,
    embedded: auth.embedded,
    window,
    supervisor: link ?? null,
    async close() {
      config.close();
      await agent.stop();
      await auth.closeKeys();
      await auth.embedded?.stop();
      link?.close();
      logger.close();
    },
  };
}
