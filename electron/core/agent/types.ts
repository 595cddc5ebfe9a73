// What createAgent takes and what it gives: the agent's options, its DPI broker settings, the agent itself.
import type {
  AnyEvent,
  DiagnosticsReport,
  Lang,
  LockReason,
  NotConfigured,
  ReaderInfo,
  SessionState,
  UiPolicy,
} from '../../../shared/contract';
import type { AgentApi } from '../api/types';
import type { AuditSink } from '../audit/audit';
import type { Authenticator } from '../auth/types';
import type { Broker, BrokerApp, LocalEndpointOptions } from '../broker/broker';
import type { ConfigStore } from '../config/store';
import type { DemoReaders } from '../demo/demo-readers';
import type { ReaderBackend } from '../devices/types';
import type { Logger } from '../logs/logger';
import type { SessionEngine } from '../session/engine';
import type { Clock } from '../util/clock';

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
