import { describe, expect, it } from 'vitest';
import type { SessionState } from '../../../shared/contract';
import { planLock } from './lock-mode';

const open = { kind: 'open' } as SessionState;
const locked = (reason: string) => ({ kind: 'locked', reason }) as SessionState;
const pin = { kind: 'pin-required' } as SessionState;

describe('lock mode plan', () => {
  it('overlay: covers the screen whenever nobody is in, steps aside when a session opens', () => {
    expect(planLock('overlay', open, locked('tap-out'))).toEqual({ window: 'cover', lockOs: false });
    expect(planLock('overlay', locked('startup'), pin)).toEqual({ window: 'cover', lockOs: false });
    expect(planLock('overlay', pin, open)).toEqual({ window: 'release', lockOs: false });
  });

  it('os: a Sillage lock of an open session locks the OS too, but not twice and not for a PIN pad', () => {
    expect(planLock('os', open, locked('inactivity'))).toEqual({ window: 'cover', lockOs: true });
    expect(planLock('os', open, locked('os-lock'))).toEqual({ window: 'cover', lockOs: false });
    expect(planLock('os', locked('startup'), pin)).toEqual({ window: 'keep', lockOs: false });
    expect(planLock('os', pin, locked('auth-failed'))).toEqual({ window: 'keep', lockOs: false });
  });
});
