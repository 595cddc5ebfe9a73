// The session engine: one state machine per workstation, driven by reader events and UI commands.
//
//   locked ─card/badge─▶ presented ─▶ pin-required ─PIN─▶ authenticating ─▶ open ─▶ locked
//                              └──── badge within the roaming window (re-open, 1 factor) ────┘
//
// Every transition bumps an epoch; an async step (card I/O, server call) that finishes after a newer
// transition (card pulled, another tap) is discarded, so a late answer can never open a session.
import type {
  AgentError,
  AgentErrorCode,
  CredentialSummary,
  Identity,
  LockReason,
  OpenSession,
  SessionState,
} from '../../../shared/contract';
import { ContractError } from '../../../shared/errors';
import type { AuditSink } from '../audit/audit';
import type { Authenticator, AuthOutcome } from '../auth/types';
import type { BadgeRead, CardHandle, ReaderEvent } from '../devices/types';
import { exceptionFields } from '../logs/logger';
import type { Logger } from '../logs/logger';
import type { Clock, Timer } from '../util/clock';
import { Listeners } from '../util/emitter';

export const CPS_PIN_LENGTH = 4;
/** How long the open session waits for the badge to enrol after "Associer un badge". */
export const ENROL_WAIT_MS = 60_000;

export interface EngineOptions {
  authenticator: Authenticator;
  audit: AuditSink;
  clock: Clock;
  /** Lock an open session after this long without UI activity; 0 disables. */
  inactivityMs: number;
  /** A second read of the same badge within this delay is the same tap (bouncing readers, double taps). */
  tapDebounceMs: number;
  /** Where an exception no boundary mapped to a code is written (the user reads `internal`). */
  logger?: Pick<Logger, 'error'>;
}

type Current =
  | { kind: 'none' }
  | { kind: 'card'; card: CardHandle; identity: Identity | null }
  /** `ticket`: the server's stand-in for the proven tap, for the code step of a first login. */
  | { kind: 'badge'; badge: BadgeRead; identity: Identity | null; ticket: string | null };

export class SessionEngine {
  readonly onState = new Listeners<SessionState>();
  readonly onError = new Listeners<AgentError>();

  private state: SessionState = { kind: 'locked', reason: 'startup' };
  private epoch = 0;
  private current: Current = { kind: 'none' };
  /** A card in a reader, whether or not it is the current credential (lock keeps it there). */
  private insertedCards = new Map<string, CardHandle>();
  private lastTap: { key: string; at: number } | null = null;
  private inactivity: Timer | null = null;
  private mfaEnd: Timer | null = null;
  private unwatch: (() => void) | null = null;
  private enrolWait: Timer | null = null;
  private errors: AgentError[] = [];

  constructor(private readonly opts: EngineOptions) {}

  getState(): SessionState {
    return this.state;
  }

  lastErrors(): AgentError[] {
    return [...this.errors];
  }

  // ── reader events ────────────────────────────────────────────────────────────────────────────

  handleReaderEvent(e: ReaderEvent): void {
    switch (e.type) {
      case 'card-inserted':
        void this.cardInserted(e.card);
        break;
      case 'card-removed':
        this.cardRemoved(e.reader);
        break;
      case 'badge-tapped':
        void this.badgeTapped(e.badge);
        break;
      case 'cps-tapped':
        void this.cpsTapped(e.card);
        break;
      case 'card-unknown':
        this.audit('card.unknown', 'failure', {
          reader: e.reader,
          reason: e.atr ? `ATR ${e.atr}` : 'unrecognised card',
        });
        this.error('card-unknown', { reader: e.reader });
        break;
      case 'badge-refused':
        // Nothing opens on a badge that failed its proof. An open session locks (someone else is at the
        // PC); a PIN entry in progress for another credential is left alone.
        this.audit('badge.refused', 'failure', {
          reader: e.reader,
          reason: `${e.code}: ${e.message}${e.uid ? ` (UID ${e.uid})` : ''}`,
        });
        if (this.state.kind === 'open') this.lock('switch-user');
        // The lock screen then says why the tap did nothing (a PIN pad in progress keeps its state).
        if (this.state.kind === 'locked') this.set({ kind: 'locked', reason: 'auth-failed' });
        this.error(e.code, { reader: e.reader });
        break;
      case 'reader-error':
        this.audit('reader.error', 'failure', { reader: e.reader, reason: e.message });
        this.error('reader-error', { reader: e.reader });
        break;
      case 'readers':
        break;
    }
  }

  private async cardInserted(card: CardHandle): Promise<void> {
    this.insertedCards.set(card.reader, card);
    this.audit('card.inserted', 'info', { reader: card.reader, reason: card.cardType });
    this.takeOver('switch-user');
    const credential: CredentialSummary = { kind: 'cps-card', reader: card.reader, cardType: card.cardType };
    this.current = { kind: 'card', card, identity: null };
    const ep = this.set({ kind: 'presented', credential });
    try {
      const identity = await card.readIdentity();
      const status = await card.pinStatus();
      if (ep !== this.epoch) return;
      this.current = { kind: 'card', card, identity };
      this.audit('card.identity-read', 'info', { idNat: identity.idNat, reader: card.reader });
      if (status.blocked) {
        // Never present a PIN to a blocked card: it needs its unblock code (PUK) at the helpdesk.
        this.audit('card.blocked', 'failure', {
          idNat: identity.idNat,
          reader: card.reader,
          reason: 'card reports PIN blocked',
        });
        this.set({ kind: 'card-blocked', credential, identity });
        this.error('card-blocked');
        return;
      }
      this.set({
        kind: 'pin-required',
        credential,
        identity,
        secondFactor: 'card-pin',
        triesLeft: status.triesLeft,
        pinLength: CPS_PIN_LENGTH,
      });
    } catch (err) {
      if (ep !== this.epoch) return;
      this.failAndLock(this.codeOf(err, 'card read'), 'card read failed', { reader: card.reader });
    }
  }

  private cardRemoved(reader: string): void {
    const card = this.insertedCards.get(reader);
    this.insertedCards.delete(reader);
    if (card) void card.release().catch(() => {});
    if (this.current.kind === 'card' && this.current.card.reader === reader) {
      const idNat = this.current.identity?.idNat;
      const was = this.state.kind;
      this.current = { kind: 'none' };
      this.audit('card.removed', 'info', { reader, idNat });
      // "Session verrouillée : carte retirée" only when a session was open; before, nothing was locked.
      if (was !== 'locked') this.lock(was === 'open' ? 'card-removed' : 'card-removed-before-login');
    }
  }

  private async badgeTapped(badge: BadgeRead): Promise<void> {
    // What this PC knows of a badge is its chip: the same chip again is a bounce or a tap-out; whose
    // badge another chip is, only the server's answer says.
    if (this.bounced(`badge:${badge.chipId}`)) return;
    this.audit('badge.tapped', 'info', { reader: badge.reader, factor: badge.strength });
    if (this.state.kind === 'open' && this.state.enrolment?.status === 'waiting') return this.enrol(this.state, badge);

    if (this.state.kind === 'open' && this.current.kind === 'badge' && this.current.badge.chipId === badge.chipId) {
      this.lock('tap-out');
      return;
    }
    this.takeOver('switch-user');
    const credential: CredentialSummary = {
      kind: 'badge',
      reader: badge.reader,
      cardType: badge.cardType,
      badgeProof: badge.strength,
    };
    this.current = { kind: 'badge', badge, identity: null, ticket: null };
    const ep = this.set({ kind: 'presented', credential });
    try {
      const outcome = await this.opts.authenticator.badgeTapped(badge);
      if (ep !== this.epoch) return;
      if (outcome.kind === 'reopened') return this.open(outcome.session);
      if (outcome.kind === 'refused')
        return this.failAndLock(outcome.code, outcome.reason, { reader: badge.reader, factor: badge.strength });
      this.current = { kind: 'badge', badge, identity: outcome.identity, ticket: outcome.ticket };
      this.set({
        kind: 'pin-required',
        credential,
        identity: outcome.identity,
        secondFactor: outcome.secondFactor,
        triesLeft: null,
        pinLength: outcome.pinLength,
      });
    } catch (err) {
      if (ep !== this.epoch) return;
      this.failAndLock(this.codeOf(err, 'badge check'), 'badge check failed', { reader: badge.reader });
    }
  }

  /**
   * A CPS tapped contactless: its technical key proves the card without PIN, so it can only re-open a
   * roaming session (1 factor). Same shared-PC rules as a badge: the same person's tap locks (tap-out),
   * another's switches. Outside the window the server says MFA is needed: insert the card instead.
   */
  private async cpsTapped(card: CardHandle): Promise<void> {
    // The technical key serves this one tap; the card leaves the field anyway.
    try {
      await this.cpsTap(card);
    } finally {
      void card.release().catch(() => {});
    }
  }

  private async cpsTap(card: CardHandle): Promise<void> {
    let identity: Identity;
    try {
      identity = await card.readIdentity();
    } catch (err) {
      this.audit('cps.contactless', 'failure', { reader: card.reader, reason: 'identity unreadable' });
      this.error(this.codeOf(err, 'contactless card read'), { reader: card.reader });
      return;
    }
    if (this.bounced(`cps:${identity.idNat}`)) return;
    this.audit('cps.contactless', 'info', { reader: card.reader, idNat: identity.idNat, factor: 'card-contactless' });
    if (this.state.kind === 'open' && this.state.session.user.idNat === identity.idNat) {
      this.lock('tap-out');
      return;
    }
    this.takeOver('switch-user');
    const credential: CredentialSummary = { kind: 'cps-card', reader: card.reader, cardType: card.cardType };
    this.current = { kind: 'none' };
    const ep = this.set({ kind: 'presented', credential });
    try {
      const outcome = this.opts.authenticator.reopenWithCard
        ? await this.opts.authenticator.reopenWithCard(card, identity)
        : {
            ok: false as const,
            code: 'mfa-required' as const,
            reason: 'contactless CPS re-open not supported by this authenticator',
          };
      if (ep !== this.epoch) return;
      if (outcome.ok) return this.open(outcome.session);
      // Outside the window the card must be inserted (contact) for its PIN: say so.
      const params =
        outcome.code === 'mfa-required' ? { ...(outcome.params ?? {}), credential: 'cps' } : outcome.params;
      this.failAndLock(
        outcome.code,
        outcome.reason,
        { idNat: identity.idNat, reader: card.reader, factor: 'card-contactless' },
        params,
      );
    } catch (err) {
      if (ep !== this.epoch) return;
      this.failAndLock(this.codeOf(err, 'contactless CPS check'), 'contactless CPS check failed', {
        idNat: identity.idNat,
        reader: card.reader,
      });
    }
  }

  /**
   * A second read of the same credential within the debounce delay is the same tap (double taps, bouncing
   * readers). Measured on the monotonic clock: a wall clock set back (NTP, an administrator) must not make
   * the next tap look like a bounce (every tap of that badge dropped until the clock catches up).
   */
  private bounced(key: string): boolean {
    const now = this.opts.clock.monotonic();
    if (this.lastTap && this.lastTap.key === key && now - this.lastTap.at < this.opts.tapDebounceMs) return true;
    this.lastTap = { key, at: now };
    return false;
  }

  /** A new credential arrives while another is in use: the open session ends, a pending one is dropped. */
  private takeOver(reason: LockReason): void {
    if (this.state.kind === 'open') this.lock(reason);
  }

  // ── UI commands ──────────────────────────────────────────────────────────────────────────────

  /** The PIN (or session code) lives only for this call. */
  async submitPin(pin: string): Promise<{ accepted: boolean }> {
    const st = this.state;
    if (st.kind !== 'pin-required') throw new ContractError('not-allowed', 'no PIN is expected now');
    if (st.pinLength !== null && (pin.length !== st.pinLength || !/^[0-9]+$/.test(pin))) {
      this.error('pin-format', { length: st.pinLength });
      return { accepted: false };
    }
    const cur = this.current;
    const ep = this.set({ kind: 'authenticating', credential: st.credential, identity: st.identity });
    try {
      if (cur.kind === 'card') return await this.cardPin(cur.card, st, pin, ep);
      if (cur.kind === 'badge') return await this.badgePin(cur, st, pin, ep);
      throw new ContractError('internal', 'PIN without a credential');
    } catch (err) {
      if (ep === this.epoch) {
        this.failAndLock(this.codeOf(err, 'authentication step'), 'authentication step failed', {
          idNat: st.identity?.idNat,
        });
      }
      return { accepted: false };
    }
  }

  private async cardPin(card: CardHandle, st: PinState, pin: string, ep: number): Promise<{ accepted: boolean }> {
    const r = await card.verifyPin(pin);
    if (ep !== this.epoch) return { accepted: false };
    const idNat = st.identity?.idNat;
    if (!r.ok) {
      if (r.reason === 'wrong') {
        this.audit('pin.wrong', 'failure', {
          idNat,
          factor: 'pin',
          reader: card.reader,
          reason: `tries left: ${r.triesLeft ?? 'unknown'}`,
        });
        this.set({ ...st, triesLeft: r.triesLeft });
        this.error('pin-wrong', r.triesLeft === null ? {} : { triesLeft: r.triesLeft });
      } else if (r.reason === 'blocked') {
        this.audit('card.blocked', 'failure', {
          idNat,
          factor: 'pin',
          reader: card.reader,
          reason: 'PIN blocked after wrong tries',
        });
        this.set({ kind: 'card-blocked', credential: st.credential, identity: st.identity });
        this.error('card-blocked');
      } else {
        this.failAndLock('card-removed', 'card removed during PIN entry', { idNat, reader: card.reader });
      }
      return { accepted: false };
    }
    this.audit('pin.verified', 'success', { idNat, factor: 'pin', reader: card.reader });
    const outcome = await this.opts.authenticator.loginWithCard(card, st.identity ?? (await card.readIdentity()));
    return this.finish(outcome, ep, st);
  }

  private async badgePin(
    cur: Extract<Current, { kind: 'badge' }>,
    st: PinState,
    pin: string,
    ep: number,
  ): Promise<{ accepted: boolean }> {
    const badge = cur.badge;
    if (!cur.ticket) throw new ContractError('badge-tap-again', 'no login ticket for this tap');
    const outcome = await this.opts.authenticator.loginWithBadge(badge, cur.ticket, pin);
    if (ep !== this.epoch) return { accepted: false };
    // A ticket serves one try: the next one needs the ticket the refusal handed out.
    cur.ticket = outcome.ok ? null : (outcome.ticket ?? null);
    if (!outcome.ok && outcome.code === 'pin-wrong' && cur.ticket) {
      const triesLeft = typeof outcome.params?.triesLeft === 'number' ? outcome.params.triesLeft : null;
      this.audit('pin.wrong', 'failure', {
        idNat: st.identity?.idNat,
        factor: st.secondFactor,
        reader: badge.reader,
        reason: outcome.reason,
      });
      this.set({ ...st, triesLeft });
      this.error('pin-wrong', outcome.params);
      return { accepted: false };
    }
    return this.finish(outcome, ep, st);
  }

  private finish(outcome: AuthOutcome, ep: number, st: PinState): { accepted: boolean } {
    if (ep !== this.epoch) return { accepted: false };
    if (!outcome.ok) {
      this.failAndLock(outcome.code, outcome.reason, { idNat: st.identity?.idNat }, outcome.params);
      return { accepted: false };
    }
    this.open(outcome.session);
    return { accepted: true };
  }

  /** "Associer un badge": the next tap on this workstation, within ENROL_WAIT_MS, is bound to this person. */
  enrolBadge(): SessionState {
    const st = this.state;
    if (st.kind !== 'open' || !st.enrolment || st.enrolment.status === 'checking')
      throw new ContractError('not-allowed', 'no badge enrolment for this session');
    this.audit('badge.enrol', 'info', { idNat: st.session.user.idNat, reason: 'waiting for the badge' });
    this.enrolWait?.cancel();
    this.enrolWait = this.opts.clock.setTimer(ENROL_WAIT_MS, () => {
      const now = this.state;
      if (now.kind !== 'open' || now.session !== st.session || now.enrolment?.status !== 'waiting') return;
      this.audit('badge.enrol', 'info', { idNat: st.session.user.idNat, reason: 'no badge presented' });
      this.set({ ...now, enrolment: { status: 'offered' } });
    });
    this.set({ ...st, enrolment: { status: 'waiting', until: this.opts.clock.now() + ENROL_WAIT_MS } });
    return this.state;
  }

  private async enrol(st: Extract<SessionState, { kind: 'open' }>, badge: BadgeRead): Promise<void> {
    this.enrolWait?.cancel();
    this.enrolWait = null;
    const fields = { idNat: st.session.user.idNat, reader: badge.reader, factor: badge.strength };
    const ep = this.set({ ...st, enrolment: { status: 'checking' } });
    let r: Awaited<ReturnType<NonNullable<Authenticator['enrolBadge']>>>;
    try {
      r = await this.opts.authenticator.enrolBadge!(st.session, badge);
    } catch (err) {
      r = { ok: false, code: this.codeOf(err, 'badge enrolment'), reason: 'badge enrolment failed' };
    }
    if (ep !== this.epoch) return;
    if (r.ok) {
      this.audit('badge.enrolled', 'success', fields);
      this.set({ ...st, enrolment: { status: 'bound' } });
      return;
    }
    this.audit('badge.enrol', 'failure', { ...fields, reason: `${r.code}: ${r.reason}` });
    this.set({ ...st, enrolment: { status: 'refused', code: r.code } });
    this.error(r.code);
  }

  cancel(): SessionState {
    if (this.state.kind === 'open' && this.state.enrolment?.status === 'waiting') {
      this.enrolWait?.cancel();
      this.enrolWait = null;
      this.audit('badge.enrol', 'info', { idNat: this.state.session.user.idNat, reason: 'cancelled' });
      this.set({ ...this.state, enrolment: { status: 'offered' } });
      return this.state;
    }
    if (this.state.kind === 'pin-required' || this.state.kind === 'presented' || this.state.kind === 'card-blocked') {
      this.audit('session.cancelled', 'info', {});
      this.lock('cancelled');
    }
    return this.state;
  }

  /** Back to the first screen (the demo's reset): an open session locks, no message of before stays. */
  restart(): SessionState {
    this.lock('startup');
    if (this.state.kind === 'locked' && this.state.reason !== 'startup')
      this.set({ kind: 'locked', reason: 'startup' });
    return this.state;
  }

  switchUser(): SessionState {
    this.lock('switch-user');
    return this.state;
  }

  /** UI activity (keyboard, pointer): restart the inactivity delay. */
  activity(): void {
    if (this.state.kind === 'open') this.armInactivity();
  }

  lock(reason: LockReason): SessionState {
    if (this.state.kind === 'locked') return this.state;
    const session = this.state.kind === 'open' ? this.state.session : null;
    this.inactivity?.cancel();
    this.inactivity = null;
    this.mfaEnd?.cancel();
    this.mfaEnd = null;
    this.unwatch?.();
    this.unwatch = null;
    this.enrolWait?.cancel();
    this.enrolWait = null;
    if (this.current.kind === 'card') void this.current.card.release().catch(() => {});
    this.current = { kind: 'none' };
    if (session) {
      this.audit('session.locked', 'info', { idNat: session.user.idNat, reason });
      void this.opts.authenticator.endWorkstationSession(session).catch(() => {});
    }
    this.set({ kind: 'locked', reason });
    return this.state;
  }

  // ── internals ────────────────────────────────────────────────────────────────────────────────

  private open(session: OpenSession): void {
    // One factor re-opens the roaming session; two open it (`asserted` ones say which proof nobody checked).
    const unchecked = session.unverifiedBadge
      ? `badge proof ${session.unverifiedBadge}`
      : "the roaming session's badge proof";
    this.audit(session.factors.length < 2 ? 'session.reopened' : 'session.opened', 'success', {
      idNat: session.user.idNat,
      factor: session.factors.join('+'),
      reader: session.credential.reader,
      ...(session.degraded
        ? { reason: 'degraded: session server unreachable, card checked locally (policy)' }
        : session.assurance === 'asserted'
          ? {
              reason: `asserted: ${unchecked} not checked by the server (policy)`,
            }
          : {}),
    });
    // A badge is enrolled on the strength of a CPS card + PIN login checked by the server, never a re-open.
    const enrols =
      !!this.opts.authenticator.enrolBadge &&
      session.credential.kind === 'cps-card' &&
      session.factors.includes('pin') &&
      session.assurance === 'mfa' &&
      !session.degraded;
    this.set({ kind: 'open', session, ...(enrols ? { enrolment: { status: 'offered' as const } } : {}) });
    // Still this session (the enrolment steps change the state, not the session).
    const current = () => this.state.kind === 'open' && this.state.session === session;
    this.armInactivity();
    // The roaming window is absolute: the workstation session ends with it (the UI warned before).
    this.mfaEnd = this.opts.clock.setTimer(Math.max(0, session.mfaExpiresAt - this.opts.clock.now()), () => {
      if (current()) this.lock('mfa-expired');
    });
    this.unwatch =
      this.opts.authenticator.watchSession?.(session, (why) => {
        if (!current()) return;
        this.audit('session.revoked', 'info', { idNat: session.user.idNat, reason: why });
        this.lock('session-revoked');
      }) ?? null;
  }

  private armInactivity(): void {
    this.inactivity?.cancel();
    if (this.opts.inactivityMs <= 0) return;
    this.inactivity = this.opts.clock.setTimer(this.opts.inactivityMs, () => {
      if (this.state.kind === 'open') this.lock('inactivity');
    });
  }

  private failAndLock(
    code: AgentErrorCode,
    reason: string,
    fields: { idNat?: string; reader?: string; factor?: string },
    params?: Record<string, string | number>,
  ): void {
    this.audit('auth.refused', 'failure', { ...fields, reason: `${code}: ${reason}` });
    this.error(code, params);
    if (this.current.kind === 'card') void this.current.card.release().catch(() => {});
    this.current = { kind: 'none' };
    this.set({ kind: 'locked', reason: 'auth-failed' });
  }

  /**
   * The engine → contract boundary: a backend reports a failure as a ContractError (the card, the
   * authenticator's refusals); any other exception is a fault of ours, logged and shown as `internal`,
   * never as its text (it could hold data).
   */
  private codeOf(err: unknown, what: string): AgentErrorCode {
    if (err instanceof ContractError) return err.code;
    this.opts.logger?.error(`session engine: ${what} failed unexpectedly`, exceptionFields(err));
    return 'internal';
  }

  private set(state: SessionState): number {
    this.epoch += 1;
    this.state = state;
    this.onState.emit(state);
    return this.epoch;
  }

  private error(code: AgentErrorCode, params?: Record<string, string | number>): void {
    const e: AgentError = {
      code,
      at: this.opts.clock.now(),
      ...(params && Object.keys(params).length ? { params } : {}),
    };
    this.errors.push(e);
    if (this.errors.length > 20) this.errors.shift();
    this.onError.emit(e);
  }

  private audit(
    action: string,
    outcome: 'success' | 'failure' | 'info',
    fields: { idNat?: string; reader?: string; factor?: string; reason?: string },
  ): void {
    const clean = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
    this.opts.audit.record({ action, outcome, ...clean });
  }
}

type PinState = Extract<SessionState, { kind: 'pin-required' }>;
