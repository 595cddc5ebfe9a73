// Other systems: the kernel's credentials of the peer at accept, but no way to tie what it writes next to
// that process, so no peer is ever confirmed and the local socket refuses every one (DPIs there use the
// loopback HTTP endpoint).
import type { Addon, PeerIdentity } from './peercred-addon';

export function otherPeer(a: Addon, fd: number, platform: string): PeerIdentity {
  return {
    ...a.peerCredentials(fd),
    executable: null,
    confirm: () => Promise.reject(new Error(`peer confirmation is not implemented on ${platform}`)),
    release: () => {},
  };
}
