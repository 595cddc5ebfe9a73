// What the workstation does on screen when the session state changes, by the LockMode policy:
// - overlay (the common hospital set-up: a generic Windows session shared by the ward): the Sillage
//   window covers the screen, full screen and on top, whenever nobody is in; it steps aside when a
//   session opens, so the clinician works in the DPI.
// - os: a lock by Sillage (tap-out, card removed, inactivity, switch) also locks the operating system.
// Pure: the Electron shell applies the plan (window calls, OS lock), tests check it here.
import type { SessionState } from '../../../shared/contract';

export type LockMode = 'overlay' | 'os';

export interface LockPlan {
  window: 'cover' | 'release' | 'keep';
  lockOs: boolean;
}

export function planLock(mode: LockMode, prev: SessionState, next: SessionState): LockPlan {
  if (next.kind === 'open') return { window: 'release', lockOs: false };
  const window = mode === 'overlay' || prev.kind === 'open' ? 'cover' : 'keep';
  // The OS already locked itself when that is the reason; a PIN pad or a failed tap is not a lock.
  const lockOs = mode === 'os' && prev.kind === 'open' && next.kind === 'locked' && next.reason !== 'os-lock';
  return { window, lockOs };
}
