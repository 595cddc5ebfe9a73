// Typed entry to Sillage's peer-credentials addon (native/peercred): the kernel's view of who is
// connected to a local socket, one variant per system (peercred.linux.ts, peercred.other.ts).
import type { Socket } from 'node:net';
import { load } from './peercred-addon';
import type { PeerIdentity } from './peercred-addon';
import { linuxPeer } from './peercred.linux';
import { otherPeer } from './peercred.other';

export type { PeerCredentials, PeerIdentity } from './peercred-addon';

export function peerCredentialsAvailable(): boolean {
  return load() !== null;
}

/** The peer of a Unix-domain socket, taken at accept time; throws if the kernel cannot say. */
export function peerCredentials(socket: Socket): PeerIdentity {
  const a = load();
  if (!a) throw new Error('peer credentials addon not built (npm run build:native)');
  // libuv keeps the descriptor on the handle; Node has no public accessor for it.
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no file descriptor');
  return process.platform === 'linux' ? linuxPeer(a, fd) : otherPeer(a, fd, process.platform);
}
