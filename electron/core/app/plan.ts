// What a workstation runs, decided from its effective settings and a few facts about the process it runs
// in — the only place where that decision is made. Pure: the composition root (compose.ts) builds the
// plan's parts, the tests read it, and the desktop app and headless mode get the same plan from the same
// settings and facts.
import type { NotConfigured } from '../../../shared/contract';
import type { BrokerApp } from '../broker/broker';
import type { ConfigValues } from '../config/schema';
import type { LockMode } from '../session/lock-mode';

/** Facts about the process, not settings: the same facts and settings give the same plan. */
export interface PlatformFacts {
  /** A packaged desktop app (a ward PC), as opposed to a development run from the repository. */
  packaged: boolean;
  /** Reader hardware this process may open (the desktop app: both; headless: by its flags). */
  hardware: { pcsc: boolean; hid: boolean };
  /** A demo session server can be started here (a repository checkout with Node.js). */
  canEmbedServer: boolean;
}

export type AuthenticatorPlan =
  /** The hospital's session server (ServerUrl). */
  | { kind: 'session-server'; url: string }
  /** DemoMode without ServerUrl, in a repository checkout: the real server on PGlite, demo people. */
  | { kind: 'embedded-demo-server' }
  /** DemoMode without ServerUrl where no server can be started: decided locally, demo people only. */
  | { kind: 'local-demo' }
  /** Neither a server nor demo mode: nothing can open. */
  | ({ kind: 'not-configured' } & NotConfigured);

export interface AgentPlan {
  demo: boolean;
  authenticator: AuthenticatorPlan;
  readers: { pcsc: boolean; hid: boolean; demo: boolean };
  /** The DPI broker runs with a session-server authenticator (its tokens come from token exchange). */
  broker: {
    apps: BrokerApp[];
    /** Loopback HTTP endpoint's port; null = none (BrokerHttpPort 0). */
    httpPort: number | null;
    dmpUrlTemplate: string | null;
    /** The demo DPI application (embedded demo server only). */
    demoDpi: boolean;
  } | null;
  lockMode: LockMode;
  inactivityMs: number;
  tapDebounceMs: number;
  mfaWindowMs: number;
  /** Degraded CPS login while the server is unreachable: the trust anchors' file, or off. */
  degradedCps: { trustAnchorsFile: string } | null;
  allowUidOnly: boolean;
  badgeKeyCustody: 'server' | 'local';
  /** The workstation key's policy: a software key without a TPM, a record sealed by Linux's basic_text. */
  workstationKey: { allowSoftware: boolean; allowBasicText: boolean };
  /** Why a setting asked for could not be honoured (audited at start). */
  problems: string[];
}

export function planAgent(
  v: Readonly<ConfigValues>,
  facts: PlatformFacts,
  refused: (key: string) => string | null,
): AgentPlan {
  const demo = v.DemoMode === true;
  const serverUrl = String(v.ServerUrl ?? '');
  const authenticator: AuthenticatorPlan = serverUrl
    ? { kind: 'session-server', url: serverUrl }
    : demo
      ? facts.canEmbedServer
        ? { kind: 'embedded-demo-server' }
        : { kind: 'local-demo' }
      : { kind: 'not-configured', setting: 'ServerUrl', problem: refused('ServerUrl') };
  const configured = authenticator.kind !== 'not-configured';
  const server = authenticator.kind === 'session-server' || authenticator.kind === 'embedded-demo-server';
  const problems: string[] = [];
  let degradedCps: AgentPlan['degradedCps'] = null;
  if (v.DegradedCpsLogin === true) {
    if (authenticator.kind !== 'session-server')
      problems.push('DegradedCpsLogin : sans serveur de sessions configuré, sans effet');
    else if (!v.CpsTrustAnchorsFile)
      problems.push('DegradedCpsLogin : CpsTrustAnchorsFile vide, mode dégradé désactivé');
    else degradedCps = { trustAnchorsFile: String(v.CpsTrustAnchorsFile) };
  }
  const httpPort = Number(v.BrokerHttpPort);
  return {
    demo,
    authenticator,
    readers: {
      pcsc: configured && facts.hardware.pcsc,
      hid: configured && facts.hardware.hid,
      demo: configured && demo,
    },
    broker: server
      ? {
          apps: v.BrokerApplications as BrokerApp[],
          httpPort: httpPort > 0 ? httpPort : null,
          dmpUrlTemplate: v.DmpUrlTemplate ? String(v.DmpUrlTemplate) : null,
          demoDpi: authenticator.kind === 'embedded-demo-server',
        }
      : null,
    lockMode: v.LockMode as LockMode,
    inactivityMs: Number(v.InactivityLockMinutes) * 60_000,
    tapDebounceMs: Number(v.TapDebounceMs),
    mfaWindowMs: Number(v.MfaWindowMinutes) * 60_000,
    degradedCps,
    allowUidOnly: v.AllowUidOnlyBadges === true,
    badgeKeyCustody: v.BadgeKeyCustody === 'local' ? 'local' : 'server',
    workstationKey: {
      allowSoftware: v.AllowSoftwareWorkstationKey === true,
      allowBasicText: v.AllowBasicTextSecretStorage === true,
    },
    problems,
  };
}
