// The engine's badge enrolment steps, on the demo readers and a manual clock (the server path runs in
// testbed/tests/desfire-pcsc.test.ts and the e2e suite).
import { describe, expect, it } from 'vitest';
import type { AgentErrorCode } from '../../../shared/contract';
import { AuditLog } from '../audit/audit';
import type { Authenticator } from '../auth/types';
import { DemoAuthenticator } from '../demo/demo-authenticator';
import { DemoReaders } from '../demo/demo-readers';
import { DEMO_PIN } from '../demo/data';
import { ManualClock } from '../util/clock';
import { ENROL_WAIT_MS, SessionEngine } from './engine';

const settle = () => new Promise((r) => setTimeout(r, 5));

type Answer = { ok: true } | { ok: false; code: AgentErrorCode; reason: string };

async function cpsSession(answers: (() => Promise<Answer>)[]) {
  const clock = new ManualClock();
  const audit = new AuditLog({ clock });
  const readers = new DemoReaders();
  const auth: Authenticator = new DemoAuthenticator({ clock, mfaWindowMs: 3_600_000, publicKeys: readers.publicKeys });
  const tapped: string[] = [];
  auth.enrolBadge = (_session, badge) => {
    tapped.push(badge.chipId);
    return answers.shift()!();
  };
  const engine = new SessionEngine({ authenticator: auth, audit, clock, inactivityMs: 0, tapDebounceMs: 0 });
  void readers.start((e) => engine.handleReaderEvent(e));
  readers.insertCard('cps-camille');
  await settle();
  await engine.submitPin(DEMO_PIN);
  return { clock, audit, readers, engine, tapped };
}

const status = (engine: SessionEngine) => {
  const st = engine.getState();
  return st.kind === 'open' ? st.enrolment : st.kind;
};

describe('badge enrolment in the session engine', () => {
  it('is offered after a CPS login; waits a minute for the tap, then offers again', async () => {
    const { engine, clock, audit, readers, tapped } = await cpsSession([]);
    expect(status(engine)).toEqual({ status: 'offered' });
    expect(engine.enrolBadge()).toMatchObject({ enrolment: { status: 'waiting', until: clock.now() + ENROL_WAIT_MS } });
    clock.advance(ENROL_WAIT_MS);
    expect(status(engine)).toEqual({ status: 'offered' });
    expect(audit.recent(10).map((r) => [r.action, r.reason])).toContainEqual(['badge.enrol', 'no badge presented']);
    // Not waiting: a badge tapped is another person at the PC (the session switches), nothing enrolled.
    await readers.tapBadge('badge-louis');
    await settle();
    expect(tapped).toEqual([]);
    expect(engine.getState()).not.toMatchObject({ kind: 'open', session: { credential: { kind: 'cps-card' } } });
  });

  it('says too late, keeps the session open, and ignores a second tap while the server checks the first', async () => {
    let answer!: (a: Answer) => void;
    const { engine, readers, tapped } = await cpsSession([
      () => new Promise<Answer>((r) => (answer = r)),
      async () => ({ ok: true }),
    ]);
    engine.enrolBadge();
    void readers.tapBadge('badge-inconnu');
    await settle();
    expect(status(engine)).toEqual({ status: 'checking' });
    expect(() => engine.enrolBadge()).toThrow(/no badge enrolment/);
    answer({ ok: false, code: 'enrolment-too-late', reason: 'enrolment_needs_cps_login' });
    await settle();
    expect(engine.getState()).toMatchObject({
      kind: 'open',
      session: { user: { lastName: 'MARTIN' } },
      enrolment: { status: 'refused', code: 'enrolment-too-late' },
    });
    expect(tapped).toHaveLength(1);
  });

  it('drops a late answer once the session locked', async () => {
    let answer!: (a: Answer) => void;
    const { engine, readers } = await cpsSession([() => new Promise<Answer>((r) => (answer = r))]);
    engine.enrolBadge();
    void readers.tapBadge('badge-inconnu');
    await settle();
    engine.lock('user-lock');
    answer({ ok: true });
    await settle();
    expect(engine.getState()).toEqual({ kind: 'locked', reason: 'user-lock' });
  });

  it('is not offered after a badge login or a re-open', async () => {
    const clock = new ManualClock();
    const readers = new DemoReaders();
    const auth: Authenticator = new DemoAuthenticator({
      clock,
      mfaWindowMs: 3_600_000,
      publicKeys: readers.publicKeys,
    });
    auth.enrolBadge = async () => ({ ok: true });
    const engine = new SessionEngine({
      authenticator: auth,
      audit: new AuditLog({ clock }),
      clock,
      inactivityMs: 0,
      tapDebounceMs: 0,
    });
    void readers.start((e) => engine.handleReaderEvent(e));
    await readers.tapBadge('badge-camille');
    await settle();
    await engine.submitPin(DEMO_PIN);
    expect(engine.getState()).toMatchObject({ kind: 'open', session: { credential: { kind: 'badge' } } });
    expect(status(engine)).toBeUndefined();
    expect(() => engine.enrolBadge()).toThrow(/no badge enrolment/);
  });
});
