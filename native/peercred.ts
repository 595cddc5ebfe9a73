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

/**
 * The peer as the kernel saw it at accept, with a way to confirm that what it writes next comes from
 * that very process, still running the same file (a pid names a process, and a process can exec
 * another program after connecting).
 */
export interface PeerIdentity extends PeerCredentials {
  /**
   * Reads the peer's next line (and whatever came with it), each piece stamped by the kernel with the
   * process that wrote it. Resolves with those bytes only if the connecting process wrote all of them,
   * is still alive, and still runs the file it ran at accept; rejects otherwise.
   */
  confirm(opts: { timeoutMs: number; maxBytes: number }): Promise<Buffer>;
  release(): void;
}

interface Addon {
  peerCredentials(fd: number): { pid: number; uid: number; gid: number };
  passCredentials?(fd: number): void;
  pidfdOpen?(pid: number): number;
  pidfdAlive?(pidfd: number): boolean;
  closeFd?(fd: number): void;
  readLine?(
    fd: number,
    timeoutMs: number,
    maxBytes: number,
  ): Promise<{ pid: number; uid: number; gid: number; mixed: boolean; data: Buffer }>;
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

/** The file a process runs, as its path and its identity on disk (a path can be replaced, an inode not). */
function executableOf(pid: number): { path: string; file: string } | null {
  try {
    const st = fs.statSync(`/proc/${pid}/exe`);
    return { path: fs.readlinkSync(`/proc/${pid}/exe`), file: `${st.dev}:${st.ino}` };
  } catch {
    return null;
  }
}

/** The peer of a Unix-domain socket, taken at accept time; throws if the kernel cannot say. */
export function peerCredentials(socket: Socket): PeerIdentity {
  const a = load();
  if (!a) throw new Error('peer credentials addon not built (npm run build:native)');
  // libuv keeps the descriptor on the handle; Node has no public accessor for it.
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no file descriptor');
  const c = a.peerCredentials(fd);
  if (process.platform !== 'linux' || !a.readLine || !a.pidfdOpen || !a.passCredentials)
    return {
      ...c,
      executable: null,
      confirm: () => Promise.reject(new Error('peer confirmation is not implemented on this platform')),
      release: () => {},
    };
  // Order matters: credentials passing on before anything is sent, then a handle on the process, then
  // what it runs. Whatever it writes from now on is stamped with its writer.
  a.passCredentials(fd);
  const pidfd = a.pidfdOpen(c.pid);
  const atAccept = executableOf(c.pid);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    a.closeFd!(pidfd);
  };
  return {
    ...c,
    executable: atAccept?.path ?? null,
    release,
    async confirm({ timeoutMs, maxBytes }) {
      if (released) throw new Error('peer identity released');
      const got = await a.readLine!(fd, timeoutMs, maxBytes);
      if (got.mixed || got.pid !== c.pid || got.uid !== c.uid)
        throw new Error(`written by another process (pid ${got.pid || 'unknown'}, connected as pid ${c.pid})`);
      // Read the executable again, then make sure it still belongs to the process that connected.
      const now = executableOf(c.pid);
      if (!a.pidfdAlive!(pidfd)) throw new Error(`process ${c.pid} ended`);
      if (!atAccept || !now || now.file !== atAccept.file || now.path !== atAccept.path)
        throw new Error(`process ${c.pid} changed executable (${atAccept?.path ?? '?'} → ${now?.path ?? '?'})`);
      return got.data;
    },
  };
}
