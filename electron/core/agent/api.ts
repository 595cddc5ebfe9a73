// The agent as the UI sees it: the contract's command handlers, the UI policy (from the settings, followed
// as they change), the diagnostic, and the events (state, errors, patient, policy) on the dispatcher that
// every transport shares.
import type { DiagnosticsReport, Lang, SessionState, UiPolicy } from '../../../shared/contract';
import { Dispatcher } from '../api/dispatcher';
import type { Handlers } from '../api/dispatcher';
import type { AuditSink } from '../audit/audit';
import { BrokerError } from '../broker/broker';
import type { Broker } from '../broker/broker';
import { ContractError } from '../../../shared/errors';
import { exceptionFields, redact } from '../logs/logger';
import type { SessionEngine } from '../session/engine';
import type { Clock } from '../util/clock';
import { VERSION } from '../version';
import type { AgentDevices } from './devices';
import type { AgentOptions } from './types';

export interface ApiParts {
  opts: AgentOptions;
  engine: SessionEngine;
  broker: Broker | null;
  audit: AuditSink;
  clock: Clock;
  devices: AgentDevices;
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

/** The open session's assurance, for the diagnostic. */
function sessionAssurance(s: SessionState): Pick<DiagnosticsReport, 'session'> {
  if (s.kind !== 'open') return {};
  const { assurance, unverifiedBadge, factors } = s.session;
  return { session: { assurance, ...(unverifiedBadge ? { unverifiedBadge } : {}), factors } };
}

function diagnosticsOf({ opts, engine, audit, devices }: ApiParts): DiagnosticsReport {
  const cfg = opts.config;
  return {
    version: VERSION,
    mode: opts.mode,
    demo: opts.demo,
    platform: `${process.platform}-${process.arch} node ${process.versions.node}`,
    readers: devices.readers(),
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
  };
}

function uiPolicyOf({ opts, broker }: ApiParts): UiPolicy {
  const cfg = opts.config;
  return {
    allowQuit: (cfg?.value<boolean>('AllowQuit') ?? false) || (opts.allowQuit ?? false),
    demo: opts.demo,
    lang: cfg ? cfg.value<Lang>('Language') : (opts.lang ?? 'fr'),
    dmp: Boolean(broker && opts.broker?.dmpUrlTemplate),
    locked: cfg?.locked() ?? [],
    ...(opts.notConfigured ? { notConfigured: opts.notConfigured } : {}),
  };
}

async function exportDiagnostics(parts: ApiParts) {
  const { opts, audit, clock } = parts;
  const report = diagnosticsOf(parts);
  const server = await serverReachability(opts.serverUrl);
  const at = new Date(clock.now());
  audit.record({ action: 'diagnostics.exported', outcome: 'info' });
  const content = JSON.stringify(
    redact({ exportedAt: at.toISOString(), ...report, server, log: opts.logger?.tail(300) ?? [] }),
    null,
    2,
  );
  return { fileName: `sillage-diagnostic-${at.toISOString().replace(/[:.]/g, '-')}.json`, content };
}

/** The UI policy of the moment, and the dispatcher its changes go to. */
interface PolicyHolder {
  get(): UiPolicy;
  set(p: UiPolicy): void;
  dispatcher(): Dispatcher;
}

function handlersOf(parts: ApiParts, policy: PolicyHolder): Handlers {
  const { opts, engine, broker, clock, devices } = parts;
  const { demo } = devices;
  const cfg = opts.config;
  return {
    'session.getState': () => engine.getState(),
    'session.submitPin': ({ pin }) => engine.submitPin(pin),
    'session.cancel': () => engine.cancel(),
    'session.lock': () => engine.lock('user-lock'),
    'session.switchUser': () => engine.switchUser(),
    'session.enrolBadge': () => engine.enrolBadge(),
    'readers.list': () => devices.readers(),
    'diagnostics.export': () => exportDiagnostics(parts),
    'diagnostics.get': () => diagnosticsOf(parts),
    'ui.getPolicy': () => policy.get(),
    'ui.setLanguage': ({ lang }) => {
      if (cfg) {
        // A user preference, unless the hospital fixed the language by policy.
        const r = cfg.setPreference('Language', lang);
        if (!r.ok) throw new ContractError('not-allowed', r.message);
        return policy.get();
      }
      policy.set({ ...policy.get(), lang });
      return policy.get();
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
        policy.dispatcher().emit('agent.error', err);
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
}

export interface AgentFace {
  dispatcher: Dispatcher;
  policy(): UiPolicy;
  /** Stops following the settings. */
  close(): void;
}

export function agentApi(parts: ApiParts): AgentFace {
  const { opts, engine, broker, audit } = parts;
  let policy = uiPolicyOf(parts);
  const holder: PolicyHolder = {
    get: () => policy,
    set: (p) => {
      policy = p;
      dispatcher.emit('ui.policy', policy);
    },
    dispatcher: () => dispatcher,
  };
  const dispatcher = new Dispatcher({ handlers: handlersOf(parts, holder), audit, demo: opts.demo });
  engine.onState.add((s) => dispatcher.emit('session.state', s));
  engine.onError.add((e) => dispatcher.emit('agent.error', e));
  broker?.patientChanged.add((p) => dispatcher.emit('dmp.patient', p));
  const offConfig = opts.config?.changed.add(() => holder.set(uiPolicyOf(parts)));
  return { dispatcher, policy: () => policy, close: () => offConfig?.() };
}
