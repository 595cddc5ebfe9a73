// The peer-credentials addon (native/peercred) and what a platform variant of peercred.ts returns.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

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

export interface Addon {
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

export function load(): Addon | null {
  if (addon !== undefined) return addon;
  const file = path.resolve(path.dirname(new URL(import.meta.url).pathname), 'peercred', 'build', 'peercred.node');
  try {
    addon = fs.existsSync(file) ? (createRequire(import.meta.url)(file) as Addon) : null;
  } catch {
    addon = null;
  }
  return addon;
}
