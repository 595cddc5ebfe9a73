// Linux: the peer's credentials at accept (SO_PEERCRED), a pidfd on its process, and each later write
// stamped by the kernel with its writer (SO_PASSCRED), so a pid reused or a process that exec'd is seen.
import fs from 'node:fs';
import type { Addon, PeerIdentity } from './peercred-addon';

/** The file a process runs, as its path and its identity on disk (a path can be replaced, an inode not). */
function executableOf(pid: number): { path: string; file: string } | null {
  try {
    const st = fs.statSync(`/proc/${pid}/exe`);
    return { path: fs.readlinkSync(`/proc/${pid}/exe`), file: `${st.dev}:${st.ino}` };
  } catch {
    return null;
  }
}

/** The peer of the Unix-domain socket `fd`, taken at accept time. */
export function linuxPeer(a: Addon, fd: number): PeerIdentity {
  const c = a.peerCredentials(fd);
  if (!a.readLine || !a.pidfdOpen || !a.passCredentials || !a.pidfdAlive || !a.closeFd)
    throw new Error('peer credentials addon built without pidfd and SO_PASSCRED support');
  const { readLine, pidfdAlive, closeFd } = a;
  // Order matters: credentials passing on before anything is sent, then a handle on the process, then
  // what it runs. Whatever it writes from now on is stamped with its writer.
  a.passCredentials(fd);
  const pidfd = a.pidfdOpen(c.pid);
  const atAccept = executableOf(c.pid);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    closeFd(pidfd);
  };
  return {
    ...c,
    executable: atAccept?.path ?? null,
    release,
    async confirm({ timeoutMs, maxBytes }) {
      if (released) throw new Error('peer identity released');
      const got = await readLine(fd, timeoutMs, maxBytes);
      if (got.mixed || got.pid !== c.pid || got.uid !== c.uid)
        throw new Error(`written by another process (pid ${got.pid || 'unknown'}, connected as pid ${c.pid})`);
      // Read the executable again, then make sure it still belongs to the process that connected.
      const now = executableOf(c.pid);
      if (!pidfdAlive(pidfd)) throw new Error(`process ${c.pid} ended`);
      if (!atAccept || !now || now.file !== atAccept.file || now.path !== atAccept.path)
        throw new Error(`process ${c.pid} changed executable (${atAccept?.path ?? '?'} → ${now?.path ?? '?'})`);
      return got.data;
    },
  };
}
