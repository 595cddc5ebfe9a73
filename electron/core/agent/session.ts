// The session side of the agent: the audit trail (also told to the agent log), the authenticator (the
// session server's, the demo's, or one refusing everything on a workstation not configured) and the
// session engine reading its timers from the settings.
import path from 'node:path';
import { AuditLog } from '../audit/audit';
import type { AuditSink } from '../audit/audit';
import type { Authenticator } from '../auth/types';
import { DemoAuthenticator } from '../demo/demo-authenticator';
import type { DemoReaders } from '../demo/demo-readers';
import type { Logger } from '../logs/logger';
import { SessionEngine } from '../session/engine';
import type { Clock } from '../util/clock';
import type { AgentOptions } from './types';

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

/** The given audit trail, or the agent's own (in its data folder, else in memory). */
export function agentAudit(opts: AgentOptions, clock: Clock): AuditSink {
  const file = opts.dataDir ? { file: path.join(opts.dataDir, 'audit.jsonl') } : {};
  return auditWithLog(opts.audit ?? new AuditLog({ clock, ...file }), opts.logger);
}

/** A workstation that is not configured has no authenticator: every attempt is refused (none can start). */
const refuseEverything: Authenticator = {
  loginWithCard: async () => ({ ok: false, code: 'auth-refused', reason: 'workstation not configured' }),
  badgeTapped: async () => ({ kind: 'refused', code: 'auth-refused', reason: 'workstation not configured' }),
  loginWithBadge: async () => ({ ok: false, code: 'auth-refused', reason: 'workstation not configured' }),
  endWorkstationSession: async () => {},
};

export function authenticatorOf(opts: AgentOptions, clock: Clock, demoReaders: DemoReaders | null): Authenticator {
  const mfaWindowMs = opts.mfaWindowMs ?? DEFAULT_MFA_WINDOW_MS;
  const authenticator =
    opts.authenticator ??
    (demoReaders ? new DemoAuthenticator({ clock, mfaWindowMs, publicKeys: demoReaders.publicKeys }) : null) ??
    (opts.notConfigured ? refuseEverything : null);
  if (!authenticator) throw new Error('no authenticator: give a session-server authenticator or turn demo mode on');
  return authenticator;
}

export function sessionEngine(
  opts: AgentOptions,
  authenticator: Authenticator,
  audit: AuditSink,
  clock: Clock,
): SessionEngine {
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
  return engine;
}

/**
 * The agent log (for the helpdesk) gets state changes and errors; both are secret-free by construction,
 * and the logger redacts by name and shape anyway.
 */
export function logSession(engine: SessionEngine, logger: Logger | undefined): void {
  if (!logger) return;
  engine.onState.add((s) =>
    logger.debug('state', { kind: s.kind, ...(s.kind === 'locked' ? { reason: s.reason } : {}) }),
  );
  engine.onError.add((e) => logger.warn('agent error', { code: e.code, ...(e.params ?? {}) }));
}
