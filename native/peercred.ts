// Typed loader for Sillage's peer-credentials addon (native/peercred): the kernel's view of who is
// connected to a local socket. Null where the addon is not built or not supported (Windows for now).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Socket } from 'node:net';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
  /** Executable of the peer process (resolved by the OS), null where it cannot be read. */
  executable: string | null;
}

interface Addon {
  peerCredentials(fd: number): { pid: number; uid: number; gid: number };
}

let addon: Addon | null | undefined;

function load(): Addon | null {
  if (addon !== undefined) return addon;
  const file = path.resolve(path.dirname(new URL(import.meta.url).pathname), 'peercred', 'build', 'peercred.node');
  try {
    addon = fs.existsSync(file) ? (createRequire(import.meta.url)(file) as Addon) : null;
  } catch {
    addon = null;
  }
  return addon;
}

export function peerCredentialsAvailable(): boolean {
  return load() !== null;
}

/** Credentials of the process at the other end of a Unix-domain socket; throws if unknown. */
export function peerCredentials(socket: Socket): PeerCredentials {
  const a = load();
  if (!a) throw new Error('peer credentials addon not built (npm run build:native)');
  // libuv keeps the descriptor on the handle; Node has no public accessor for it.
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no file descriptor');
  const c = a.peerCredentials(fd);
  let executable: string | null = null;
  try {
    if (process.platform === 'linux') executable = fs.readlinkSync(`/proc/${c.pid}/exe`);
  } catch {
    executable = null;
  }
  return { ...c, executable };
}
