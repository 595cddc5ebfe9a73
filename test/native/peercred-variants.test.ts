// The system variants of native/peercred.ts over a recorded addon: where nothing a peer writes can be tied
// to the process that connected, no peer is ever confirmed; on Linux an addon without the kernel checks
// it needs is refused at accept rather than trusted.
import { describe, expect, it } from 'vitest';
import type { Addon } from '../../native/peercred-addon';
import { linuxPeer } from '../../native/peercred.linux';
import { otherPeer } from '../../native/peercred.other';

const credentialsOnly: Addon = { peerCredentials: () => ({ pid: 4242, uid: 1000, gid: 1000 }) };

describe('peer identity variants', () => {
  it('other systems: the credentials at accept, no executable, and no answer ever confirmed', async () => {
    const peer = otherPeer(credentialsOnly, 7, 'win32');
    expect(peer).toMatchObject({ pid: 4242, uid: 1000, gid: 1000, executable: null });
    await expect(peer.confirm({ timeoutMs: 10, maxBytes: 10 })).rejects.toThrow(/not implemented on win32/);
  });

  it('Linux: an addon without pidfd and SO_PASSCRED support identifies no peer', () => {
    expect(() => linuxPeer(credentialsOnly, 7)).toThrow(/without pidfd and SO_PASSCRED/);
  });
});
