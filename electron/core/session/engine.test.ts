import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentError, SessionState } from '../../../shared/contract';
import { AGENT_ERROR_CODES, ContractError } from '../../../shared/errors';
import { AuditLog, verifyAuditChain } from '../audit/audit';
import { DemoAuthenticator } from '../demo/demo-authenticator';
import { DemoReaders } from '../demo/demo-readers';
import { DEMO_PIN, DEMO_READERS } from '../demo/data';
import type { CardHandle, CardSignature, PinResult } from '../devices/types';
import { ManualClock } from '../util/clock';
import { SessionEngine } from './engine';

const HOUR = 3_600_000;

/** Wait until the async reader → engine steps have settled. */
const settle = () => new Promise((r) => setTimeout(r, 5));

function setup(opts: { inactivityMs?: number; logged?: string[] } = {}) {
  const clock = new ManualClock();
  const audit = new AuditLog({ clock });
  const readers = new DemoReaders();
  const auth = new DemoAuthenticator({ clock, mfaWindowMs: 4 * HOUR, publicKeys: readers.publicKeys });
  const engine = new SessionEngine({
    authenticator: auth,
    audit,
    clock,
    inactivityMs: opts.inactivityMs ?? 0,
    tapDebounceMs: 1000,
    logger: { error: (msg, f) => opts.logged?.push(`${msg} ${JSON.stringify(f)}`) },
  });
  const states: SessionState[] = [];
  const errors: AgentError[] = [];
  engine.onState.add((s) => states.push(s));
  engine.onError.add((e) => errors.push(e));
  void readers.start((e) => engine.handleReaderEvent(e));
  return { clock, audit, readers, engine, states, errors };
}

type Env = ReturnType<typeof setup>;
const kind = (env: Env) => env.engine.getState().kind;
const actions = (env: Env) => env.audit.recent(500).map((r) => r.action);

describe('session engine — CPS card', () => {
  let env: Env;
  beforeEach(() => {
    env = setup();
  });

  it('reads the identity without PIN and asks for the 4-digit PIN with tries left', async () => {
    env.readers.insertCard('cps-camille');
    expect(kind(env)).toBe('presented');
    await settle();
    const st = env.engine.getState();
    expect(st.kind).toBe('pin-required');
    if (st.kind !== 'pin-required') return;
    expect(st.identity?.lastName).toBe('MARTIN');
    expect(st.triesLeft).toBe(3);
    expect(st.pinLength).toBe(4);
    expect(st.secondFactor).toBe('card-pin');
  });

  it('counts wrong PINs down, then blocks the card and never presents a PIN to it again', async () => {
    env.readers.insertCard('cps-camille');
    await settle();
    expect(await env.engine.submitPin('0000')).toEqual({ accepted: false });
    let st = env.engine.getState();
    expect(st.kind === 'pin-required' && st.triesLeft).toBe(2);
    expect(env.errors.at(-1)).toMatchObject({ code: 'pin-wrong', params: { triesLeft: 2 } });
    await env.engine.submitPin('0000');
    st = env.engine.getState();
    expect(st.kind === 'pin-required' && st.triesLeft).toBe(1);
    await env.engine.submitPin('0000');
    expect(kind(env)).toBe('card-blocked');
    expect(env.errors.at(-1)?.code).toBe('card-blocked');
    await expect(env.engine.submitPin(DEMO_PIN)).rejects.toMatchObject({ code: 'not-allowed' });

    // Re-inserted, the blocked card goes straight to the blocked screen.
    env.readers.removeCard();
    env.readers.insertCard('cps-camille');
    await settle();
    expect(kind(env)).toBe('card-blocked');
    expect(env.readers.inventory().cards.find((c) => c.id === 'cps-camille')?.triesLeft).toBe(0);
    expect(actions(env).filter((a) => a === 'card.blocked')).toHaveLength(2);
  });

  it('opens an MFA session on the right PIN and locks when the card is removed', async () => {
    env.readers.insertCard('cps-louis');
    await settle();
    await env.engine.submitPin('1111');
    expect(await env.engine.submitPin(DEMO_PIN)).toEqual({ accepted: true });
    const st = env.engine.getState();
    expect(st.kind).toBe('open');
    if (st.kind !== 'open') return;
    expect(st.session.user.firstName).toBe('Louis');
    expect(st.session.assurance).toBe('mfa');
    expect(st.session.factors).toEqual(['card', 'pin']);
    expect(st.session.mfaExpiresAt - st.session.authTime).toBe(4 * HOUR);
    // A right PIN resets the card's counter, as a real card does.
    expect(env.readers.inventory().cards.find((c) => c.id === 'cps-louis')?.triesLeft).toBe(3);

    env.readers.removeCard();
    expect(env.engine.getState()).toEqual({ kind: 'locked', reason: 'card-removed' });
    expect(actions(env)).toEqual(
      expect.arrayContaining(['pin.wrong', 'pin.verified', 'session.opened', 'card.removed', 'session.locked']),
    );
  });

  it('refuses a PIN of the wrong form without spending a try', async () => {
    env.readers.insertCard('cps-camille');
    await settle();
    expect(await env.engine.submitPin('12')).toEqual({ accepted: false });
    expect(env.errors.at(-1)?.code).toBe('pin-format');
    const st = env.engine.getState();
    expect(st.kind === 'pin-required' && st.triesLeft).toBe(3);
  });

  it('ends locked, with no session, when the card is pulled during the signature', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let present = true;
    const card: CardHandle = {
      reader: 'Lecteur test',
      cardType: 'CPS3',
      signatureAlgorithm: 'RSA-PKCS1-SHA256',
      readIdentity: async () => ({
        idNat: '899999000011',
        lastName: 'MARTIN',
        firstName: 'Camille',
        profession: 'Infirmière',
      }),
      readCertificate: async () => null,
      pinStatus: async () => ({ triesLeft: 3, blocked: false }),
      verifyPin: async (): Promise<PinResult> => ({ ok: true }),
      sign: async (): Promise<CardSignature> => {
        await gate;
        if (!present) throw new ContractError('card-removed', 'card removed');
        return { signature: Buffer.alloc(64), algorithm: 'x' };
      },
      release: async () => {},
    };
    env.engine.handleReaderEvent({ type: 'card-inserted', card });
    await settle();
    const pending = env.engine.submitPin(DEMO_PIN);
    await settle();
    expect(kind(env)).toBe('authenticating');
    present = false;
    env.engine.handleReaderEvent({ type: 'card-removed', reader: 'Lecteur test' });
    release();
    expect(await pending).toEqual({ accepted: false });
    expect(env.engine.getState()).toEqual({ kind: 'locked', reason: 'card-removed-before-login' });
    expect(env.states.some((s) => s.kind === 'open')).toBe(false);
  });

  it('says a card removed at the PIN pad locked nothing (no session was open)', async () => {
    env.readers.insertCard('cps-camille');
    await settle();
    expect(kind(env)).toBe('pin-required');
    env.readers.removeCard();
    expect(env.engine.getState()).toEqual({ kind: 'locked', reason: 'card-removed-before-login' });
    expect(actions(env)).toContain('card.removed');
    expect(actions(env)).not.toContain('session.locked');
  });

  it('restart (the demo reset) locks an open session and leaves no message of before', async () => {
    env.readers.insertCard('cps-camille');
    await settle();
    await env.engine.submitPin(DEMO_PIN);
    expect(kind(env)).toBe('open');
    env.readers.removeCard();
    expect(env.engine.getState()).toEqual({ kind: 'locked', reason: 'card-removed' });
    expect(env.engine.restart()).toEqual({ kind: 'locked', reason: 'startup' });

    // Camille's badge re-opens her roaming session: a session open on a badge, no card to remove.
    env.readers.tapBadge('badge-camille');
    await settle();
    expect(kind(env)).toBe('open');
    expect(env.engine.restart()).toEqual({ kind: 'locked', reason: 'startup' });
    expect(actions(env).filter((a) => a === 'session.locked')).toHaveLength(2);
  });
});

describe('session engine — badges and roaming window', () => {
  let env: Env;
  beforeEach(() => {
    env = setup();
  });

  async function badgeLogin(badgeId: string) {
    env.readers.tapBadge(badgeId);
    await settle();
    const st = env.engine.getState();
    expect(st.kind).toBe('pin-required');
    expect(st.kind === 'pin-required' && st.secondFactor).toBe('badge-pin');
    expect(await env.engine.submitPin(DEMO_PIN)).toEqual({ accepted: true });
  }

  it('first tap of the shift asks for the second factor, later taps re-open in one step', async () => {
    await badgeLogin('badge-camille');
    const first = env.engine.getState();
    expect(first.kind === 'open' && first.session.assurance).toBe('mfa');

    env.clock.advance(5_000);
    env.readers.tapBadge('badge-camille');
    await settle();
    expect(env.engine.getState()).toEqual({ kind: 'locked', reason: 'tap-out' });

    env.clock.advance(HOUR);
    env.readers.tapBadge('badge-camille');
    await settle();
    const again = env.engine.getState();
    expect(again.kind).toBe('open');
    if (again.kind !== 'open' || first.kind !== 'open') return;
    expect(again.session.assurance).toBe('re-open');
    expect(again.session.factors).toEqual(['badge']);
    expect(again.session.authTime).toBe(first.session.authTime);
    expect(again.session.mfaExpiresAt).toBe(first.session.mfaExpiresAt);
    expect(actions(env)).toContain('session.reopened');
  });

  it('asks for the PIN again once the 4-hour window is over', async () => {
    await badgeLogin('badge-camille');
    env.engine.lock('user-lock');
    env.clock.advance(4 * HOUR + 1);
    env.readers.tapBadge('badge-camille');
    await settle();
    expect(kind(env)).toBe('pin-required');
  });

  it('switches user when another person taps an open workstation', async () => {
    await badgeLogin('badge-camille');
    env.clock.advance(2_000);
    env.readers.tapBadge('badge-louis');
    await settle();
    const st = env.engine.getState();
    expect(st.kind === 'pin-required' && st.identity?.firstName).toBe('Louis');
    expect(env.audit.recent(50).find((r) => r.action === 'session.locked')).toMatchObject({
      reason: 'switch-user',
      idNat: '899999000011',
    });
  });

  it('ignores a bouncing reader (same badge twice within the debounce delay)', async () => {
    await badgeLogin('badge-camille');
    env.readers.tapBadge('badge-camille');
    await settle();
    expect(kind(env)).toBe('open');
  });

  it('a wall clock stepped back does not swallow the next tap (the debounce runs on the monotonic clock)', async () => {
    await badgeLogin('badge-camille');
    env.clock.advance(5_000);
    // NTP or an administrator puts the wall clock a minute back: the tap 5 s after the login is still a tap.
    env.clock.jump(-60_000);
    env.readers.tapBadge('badge-camille');
    await settle();
    expect(env.engine.getState()).toEqual({ kind: 'locked', reason: 'tap-out' });
  });

  it('refuses a UID-only copy (at the reader: no application) and an unknown badge, locked and audited', async () => {
    env.readers.tapBadge('badge-clone');
    await settle();
    expect(env.engine.getState()).toEqual({ kind: 'locked', reason: 'auth-failed' });
    expect(env.errors.at(-1)?.code).toBe('badge-not-encoded');
    env.clock.advance(2000);
    env.readers.tapBadge('badge-inconnu');
    await settle();
    expect(env.errors.at(-1)?.code).toBe('badge-unknown');
    const failures = env.audit.recent(50).filter((r) => r.outcome === 'failure');
    expect(failures.map((r) => r.action)).toEqual(['badge.refused', 'auth.refused']);
    expect(env.states.some((s) => s.kind === 'open')).toBe(false);
  });

  it('a wrong badge PIN keeps the PIN pad with an error, and the next try goes with a new ticket', async () => {
    env.readers.tapBadge('badge-louis');
    await settle();
    expect(await env.engine.submitPin('9999')).toEqual({ accepted: false });
    expect(kind(env)).toBe('pin-required');
    expect(env.errors.at(-1)?.code).toBe('pin-wrong');
    expect(await env.engine.submitPin(DEMO_PIN)).toEqual({ accepted: true });
  });
});

describe('session engine — locks and audit', () => {
  it('locks after the inactivity delay, and activity postpones it', async () => {
    const env = setup({ inactivityMs: 60_000 });
    env.readers.insertCard('cps-camille');
    await settle();
    await env.engine.submitPin(DEMO_PIN);
    env.clock.advance(50_000);
    env.engine.activity();
    env.clock.advance(50_000);
    expect(kind(env)).toBe('open');
    env.clock.advance(10_001);
    expect(env.engine.getState()).toEqual({ kind: 'locked', reason: 'inactivity' });
  });

  it('keeps a verifiable audit chain with no PIN in it', async () => {
    const env = setup();
    env.readers.insertCard('cps-camille');
    await settle();
    await env.engine.submitPin('0000');
    await env.engine.submitPin(DEMO_PIN);
    env.engine.lock('user-lock');
    const records = env.audit.recent(500);
    expect(verifyAuditChain(records)).toEqual({ ok: true, records: records.length });
    const text = JSON.stringify(records);
    expect(text).not.toContain('"0000"');
    expect(text).not.toMatch(/1234/);
    const tampered = records.map((r, i) => (i === 2 ? { ...r, outcome: 'success' as const } : r));
    expect(verifyAuditChain(tampered)).toMatchObject({ ok: false, brokenAt: records[2]!.seq });
  });

  it('uses the contactless reader for badges and the contact reader for cards', () => {
    const env = setup();
    expect(env.readers.readers().map((r) => r.name)).toEqual([DEMO_READERS.contact, DEMO_READERS.contactless]);
  });
});

describe('session engine — errors cross the contract by their code', () => {
  /** A CPS card whose identity read fails with `failure`. */
  const failing = (failure: unknown): CardHandle => ({
    reader: 'Lecteur test',
    cardType: 'CPS3',
    signatureAlgorithm: 'RSA-PKCS1-SHA256',
    readIdentity: () => Promise.reject(failure),
    readCertificate: async () => null,
    pinStatus: async () => ({ triesLeft: 3, blocked: false }),
    verifyPin: async (): Promise<PinResult> => ({ ok: true }),
    sign: () => Promise.reject(new Error('not in this test')),
    release: async () => {},
  });

  it('passes a backend’s ContractError on by its code, for every code of the catalog', async () => {
    for (const code of AGENT_ERROR_CODES) {
      const env = setup();
      env.engine.handleReaderEvent({ type: 'card-inserted', card: failing(new ContractError(code, 'card said no')) });
      await settle();
      expect(
        env.errors.map((e) => e.code),
        code,
      ).toEqual([code]);
      expect(env.engine.getState()).toEqual({ kind: 'locked', reason: 'auth-failed' });
    }
  });

  it('never takes a code from an arbitrary exception: it is `internal`, and logged', async () => {
    const logged: string[] = [];
    const env = setup({ logged });
    const lookalike = Object.assign(new TypeError('slot vanished'), { code: 'card-blocked' });
    env.engine.handleReaderEvent({ type: 'card-inserted', card: failing(lookalike) });
    await settle();
    expect(env.errors.map((e) => e.code)).toEqual(['internal']);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/card read failed unexpectedly.*TypeError.*slot vanished/);
    expect(env.audit.recent(50).find((r) => r.action === 'auth.refused')?.reason).toMatch(/^internal: /);
  });
});
