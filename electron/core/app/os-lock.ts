// Locking the operating system (LockMode = os). Windows: user32's LockWorkStation through rundll32 (no
// arguments from us, nothing user-controlled); Linux: the logind session's lock; macOS: the screen saver
// lock of the login session. Each is the platform's documented way for a user-level process.
import { execFile } from 'node:child_process';

const COMMANDS: Partial<Record<NodeJS.Platform, [string, string[]]>> = {
  win32: ['rundll32.exe', ['user32.dll,LockWorkStation']],
  linux: ['loginctl', ['lock-session']],
  darwin: ['/System/Library/CoreServices/Menu Extras/User.menu/Contents/Resources/CGSession', ['-suspend']],
};

export function lockOperatingSystem(platform: NodeJS.Platform = process.platform): Promise<void> {
  const cmd = COMMANDS[platform];
  if (!cmd) return Promise.reject(new Error(`no OS lock on ${platform}`));
  return new Promise((resolve, reject) =>
    execFile(cmd[0], cmd[1], { timeout: 5000 }, (err) => (err ? reject(err) : resolve())),
  );
}
