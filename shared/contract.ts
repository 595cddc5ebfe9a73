// The one typed contract between the UI (renderer/) and the agent (electron/core).
// Electron IPC carries it in the app, a loopback WebSocket in headless mode; both use the same
// names, payloads and runtime validation (see validate.ts), so the same tests cover both.
// Grouped by area, as in Bitwarden's typed per-area IPC: `session.*`, `readers.*`, `diagnostics.*`,
// `demo.*`, `ui.*`.

import type { AgentErrorCode } from './errors';

export const CONTRACT_VERSION = 1;

export type Lang = 'fr' | 'en';

/** How a credential was presented. */
export type CredentialKind = 'cps-card' | 'badge';

/** How strongly a badge was proven (a UID alone proves nothing: refused unless policy allows it). */
export type BadgeProof = 'desfire-aes-diversified' | 'reader-verified' | 'uid-only';

export interface Identity {
  /** National identifier (idNat): "8" + RPPS, or ADELI / structure forms. */
  idNat: string;
  lastName: string;
  firstName: string;
  /** Profession title as written on the card ("Infirmier", "Médecin"...). */
  profession: string;
}

export interface CredentialSummary {
  kind: CredentialKind;
  /** Reader name the credential was seen on. */
  reader: string;
  /** Card type label (CPS3, CPS4, DESFire EV3...) for display and diagnostics. */
  cardType?: string;
  badgeProof?: BadgeProof;
}

export type LockReason =
  | 'startup'
  | 'user-lock'
  /** The card of an open session was removed. */
  | 'card-removed'
  /** A card was removed before any session opened (PIN pad, blocked card): nothing was locked. */
  | 'card-removed-before-login'
  | 'tap-out'
  | 'switch-user'
  | 'inactivity'
  | 'os-lock'
  | 'mfa-expired'
  | 'auth-failed'
  | 'cancelled'
  /** The roaming session was ended elsewhere (global logout, administrator). */
  | 'session-revoked';

/** Which factors opened the session; `mfa` sessions count for the roaming window. */
/** `card-contactless`: a CPS's technical key over contactless, without PIN (1 factor, re-open only). */
export type Factor = 'card' | 'badge' | 'pin' | 'session-code' | 'card-contactless';

export type Assurance = 'mfa' | 're-open' | 'asserted';

/**
 * Badge proofs only the workstation checked (the session server's `amr`): its chip UID alone
 * (`badge-uid`), the agent's own keys (`badge-ws`), a reader that checks keys itself (`badge-reader`).
 */
export type UnverifiedBadgeProof = 'uid-only' | 'local-key' | 'reader-verified';

export interface OpenSession {
  user: Identity;
  credential: CredentialSummary;
  factors: Factor[];
  /**
   * What the session server proved: `mfa`, 2 factors at first login of the shift; `re-open`, 1 factor
   * inside the roaming window such a login opened; `asserted`, a badge proof the server could not check
   * itself (allowed by its policy; `unverifiedBadge` says whose word it took), 1 factor or 2.
   */
  assurance: Assurance;
  /** With `asserted`: the badge's proof the server took on trust. */
  unverifiedBadge?: UnverifiedBadgeProof;
  /** Epoch ms of the 2-factor login that started the roaming window. */
  authTime: number;
  /** Epoch ms at which the roaming MFA window ends. */
  mfaExpiresAt: number;
  openedAt: number;
  /** Opened while the session server was unreachable, checked locally only (policy-allowed CPS login). */
  degraded?: boolean;
}

/** Second factor expected on the PIN pad. */
export type SecondFactor = 'card-pin' | 'badge-pin' | 'session-code';

export type SessionState =
  | { kind: 'locked'; reason: LockReason }
  | { kind: 'presented'; credential: CredentialSummary }
  | {
      kind: 'pin-required';
      credential: CredentialSummary;
      identity: Identity | null;
      secondFactor: SecondFactor;
      /** Tries left before the card blocks, when the card says so; null when unknown. */
      triesLeft: number | null;
      /** Digits of the expected PIN (4 for CPS) or null when free length (session code). */
      pinLength: number | null;
    }
  | { kind: 'authenticating'; credential: CredentialSummary; identity: Identity | null }
  | { kind: 'open'; session: OpenSession; enrolment?: BadgeEnrolment }
  | { kind: 'card-blocked'; credential: CredentialSummary; identity: Identity | null };

/**
 * Binding a new badge to the person of the open session, offered right after a CPS card + PIN login on
 * this workstation: the next badge tap here, while `waiting`, is sent to the server with its own proof.
 */
export type BadgeEnrolment =
  | { status: 'offered' }
  /** Epoch ms until which the next tap enrols (then back to `offered`). */
  | { status: 'waiting'; until: number }
  /** A badge was tapped: the server checks its proof. */
  | { status: 'checking' }
  | { status: 'bound' }
  /** `badge-taken`: someone else's badge; `enrolment-too-late`: log in with the card again. */
  | { status: 'refused'; code: AgentErrorCode };

export type SessionStateKind = SessionState['kind'];

export type ReaderStatus = 'ok' | 'unavailable' | 'error';

export interface ReaderInfo {
  name: string;
  /** `demo` readers are simulated; `pcsc` and `hid` are real transports. */
  transport: 'demo' | 'pcsc' | 'hid';
  status: ReaderStatus;
  cardPresent: boolean;
  cardType?: string;
  /** What is wrong with the reader and what IT must change (e.g. keyboard-wedge mode). */
  problem?: string;
}

/** Error codes cross the contract from the one catalog, `errors.ts`. */
export type { AgentErrorCode } from './errors';

export interface AgentError {
  code: AgentErrorCode;
  /** Non-secret details for the message (tries left, reader name...). */
  params?: Record<string, string | number>;
  at: number;
}

export interface DiagnosticsReport {
  version: string;
  mode: 'electron' | 'headless';
  demo: boolean;
  platform: string;
  readers: ReaderInfo[];
  state: SessionStateKind;
  lastErrors: AgentError[];
  /** Last audit records (no secrets by construction). */
  audit: AuditRecord[];
  /** Effective configuration, secrets masked, and the settings set by machine policy. */
  config?: Record<string, unknown>;
  lockedSettings?: string[];
  /** Policy values refused at the last reload, naming the setting. */
  configProblems?: string[];
  /** The open session's assurance (what the session server proved), when one is open. */
  session?: { assurance: Assurance; unverifiedBadge?: UnverifiedBadgeProof; factors: Factor[] };
  /** Why nothing can open on this workstation (see UiPolicy.notConfigured). */
  notConfigured?: NotConfigured;
  /** The CPS Cryptolib as found (PC/SC readers configured): path, version, or what is wrong with it. */
  cryptolib?: {
    path: string | null;
    version: string | null;
    description: string | null;
    /** Null: not established from the module's version (each CPS4 is tried, the outcome audited). */
    supportsCps4: boolean | null;
    problem: string | null;
  };
  /** The workstation's registration (session server): where its key lives and what seals its record. */
  workstation?: {
    /** 'tpm': made in the TPM, never leaves it; 'software': sealed by the OS; 'none': not registered. */
    key: 'tpm' | 'software' | 'none';
    /** The key storage in use, or that a new key would use. */
    keyStore: string;
    /** Why no TPM holds the key (null when one does). */
    tpm: string | null;
    secretStorage: string;
    /** Why the workstation is not registered (null when it is). */
    problem: string | null;
  };
}

export interface AuditRecord {
  seq: number;
  at: number;
  action: string;
  outcome: 'success' | 'failure' | 'info';
  reason?: string;
  idNat?: string;
  factor?: string;
  reader?: string;
  /** Hex SHA-256 of the previous record's hash and this record: tampering breaks the chain. */
  hash: string;
}

/**
 * Why the workstation opens nothing: a setting it cannot work without is missing or was refused. The UI
 * shows a full-screen notice for IT (the diagnostic stays reachable); no reader or authenticator runs.
 */
export interface NotConfigured {
  setting: 'ServerUrl';
  /** The refusal of the value given by policy (naming the setting), or null when none was given. */
  problem: string | null;
}

export interface UiPolicy {
  /** The tray/UI offers "Quitter" only when policy allows it. */
  allowQuit: boolean;
  /** The demo panel shows only in demo mode. */
  demo: boolean;
  lang: Lang;
  /** A DMP URL template is configured and the DPI broker runs: "Ouvrir le DMP" is offered. */
  dmp?: boolean;
  /** Settings fixed by machine policy (shown locked, not changeable here), e.g. "Language". */
  locked?: string[];
  /** Set when the workstation is not configured: the UI shows only the "Poste non configuré" notice. */
  notConfigured?: NotConfigured;
}

/** The patient the DPI has on screen, as the agent's UI may show it (never the full INS). */
export interface DmpPatient {
  lastName: string;
  firstName: string;
  insMasked: string;
}

export interface DemoCardInfo {
  id: string;
  label: string;
  identity: Identity;
  cardType: string;
  triesLeft: number;
  blocked: boolean;
  inserted: boolean;
}

export interface DemoBadgeInfo {
  id: string;
  label: string;
  proof: BadgeProof;
  owner: string | null;
}

export interface DemoInventory {
  cards: DemoCardInfo[];
  badges: DemoBadgeInfo[];
  readers: string[];
}

type Empty = Record<string, never>;

/** Commands: UI → agent, request/response. */
export interface Commands {
  'session.getState': { req: Empty; res: SessionState };
  /** PIN or session code; lives only for the call. */
  'session.submitPin': { req: { pin: string }; res: { accepted: boolean } };
  'session.cancel': { req: Empty; res: SessionState };
  'session.lock': { req: Empty; res: SessionState };
  'session.switchUser': { req: Empty; res: SessionState };
  /** Waits for the next badge tap to bind it to the open session's person (see BadgeEnrolment). */
  'session.enrolBadge': { req: Empty; res: SessionState };
  'readers.list': { req: Empty; res: ReaderInfo[] };
  'diagnostics.get': { req: Empty; res: DiagnosticsReport };
  /** One-click export for the helpdesk: report, masked configuration, server reachability, log tail. */
  'diagnostics.export': { req: Empty; res: { fileName: string; content: string } };
  'ui.getPolicy': { req: Empty; res: UiPolicy };
  'ui.setLanguage': { req: { lang: Lang }; res: UiPolicy };
  /** User activity seen by the UI (for the inactivity lock). */
  'ui.activity': { req: Empty; res: { ok: true } };
  'demo.inventory': { req: Empty; res: DemoInventory };
  /** Open the DMP web PS for the patient the DPI has on screen (tray and banner action). */
  'dmp.openCurrent': { req: Empty; res: { url: string } };
  'dmp.getPatient': { req: Empty; res: DmpPatient | null };
  'demo.insertCard': { req: { cardId: string; reader?: string }; res: DemoInventory };
  'demo.removeCard': { req: { reader?: string }; res: DemoInventory };
  'demo.tapBadge': { req: { badgeId: string; reader?: string }; res: DemoInventory };
  'demo.reset': { req: Empty; res: DemoInventory };
}

export type CommandName = keyof Commands;
export type CommandReq<K extends CommandName> = Commands[K]['req'];
export type CommandRes<K extends CommandName> = Commands[K]['res'];

/** Events: agent → UI, pushed. */
export interface Events {
  'session.state': SessionState;
  'readers.changed': ReaderInfo[];
  'agent.error': AgentError;
  'ui.policy': UiPolicy;
  'demo.inventory': DemoInventory;
  'dmp.patient': DmpPatient | null;
}

export type EventName = keyof Events;

export type AnyEvent = { [K in EventName]: { event: K; payload: Events[K] } }[EventName];

/** Result of a command over any transport. Errors carry a code, never a stack or secret. */
export type CommandResult<K extends CommandName> =
  { ok: true; result: CommandRes<K> } | { ok: false; error: { code: AgentErrorCode; message: string } };

/** What the UI sees of the agent, whichever transport carries it. */
export interface AgentClient {
  invoke<K extends CommandName>(cmd: K, req: CommandReq<K>): Promise<CommandRes<K>>;
  /** Subscribe to every event; returns the unsubscribe function. */
  onEvent(listener: (e: AnyEvent) => void): () => void;
}

/** The bridge the Electron preload exposes on `window.sillage` (contextBridge). */
export interface PreloadBridge {
  /** Resolves with the command's result (`CommandResult`), a refusal included: errors are data here. */
  invoke(cmd: string, req: unknown): Promise<unknown>;
  onEvent(listener: (event: string, payload: unknown) => void): () => void;
}

/** IPC channel names (Electron) and WebSocket path (headless). */
export const IPC_COMMAND_CHANNEL = 'sillage:command';
export const IPC_EVENT_CHANNEL = 'sillage:event';
export const WS_PATH = '/agent';

/** Headless WebSocket frames. */
export type WsClientFrame =
  { type: 'hello'; secret: string; version: number } | { type: 'command'; id: number; cmd: string; req: unknown };

export type WsServerFrame =
  | { type: 'welcome'; version: number }
  | { type: 'result'; id: number; ok: true; result: unknown }
  | { type: 'result'; id: number; ok: false; error: { code: AgentErrorCode; message: string } }
  | { type: 'event'; event: EventName; payload: unknown };
