// Electron IPC adapter for the contract. Every message's sender is checked (our window's main frame,
// loaded from our own renderer URL) before the command reaches the agent; refusals are audited.
// Imports only types from electron so the logic is testable without an Electron binary.
import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import { IPC_COMMAND_CHANNEL, IPC_EVENT_CHANNEL } from '../../shared/contract';
import type { AgentApi } from '../core/api/types';
import type { AuditSink } from '../core/audit/audit';

export interface IpcBridgeDeps {
  ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>;
  api: AgentApi;
  audit: AuditSink;
  /** The one window allowed to talk to the agent. */
  target: () => Pick<WebContents, 'id' | 'send' | 'isDestroyed' | 'mainFrame'> | null;
  /** The one URL our renderer is loaded from (app://sillage/index.html, app-scheme.ts). */
  rendererUrl: string;
}

/** Trusted = our window's webContents, its main frame, at our renderer's URL. */
export function isTrustedSender(
  e: Pick<IpcMainInvokeEvent, 'sender' | 'senderFrame'>,
  deps: Pick<IpcBridgeDeps, 'target' | 'rendererUrl'>,
): boolean {
  const win = deps.target();
  const frame = e.senderFrame;
  if (!win || win.isDestroyed() || !frame || e.sender.id !== win.id) return false;
  if (frame !== win.mainFrame) return false;
  const url = frame.url.split('#')[0]!;
  return url === deps.rendererUrl;
}

export function createIpcBridge(deps: IpcBridgeDeps): () => void {
  deps.ipcMain.handle(IPC_COMMAND_CHANNEL, async (e, cmd: unknown, req: unknown) => {
    if (!isTrustedSender(e, deps)) {
      deps.audit.record({
        action: 'ipc.refused',
        outcome: 'failure',
        reason: `untrusted sender ${e.senderFrame?.url.split('#')[0] ?? 'unknown'}`,
      });
      return { ok: false, error: { code: 'not-allowed', message: 'untrusted sender' } };
    }
    return deps.api.handle(cmd, req, { transport: 'ipc' });
  });
  const off = deps.api.subscribe((e) => {
    const win = deps.target();
    if (win && !win.isDestroyed()) win.send(IPC_EVENT_CHANNEL, e.event, e.payload);
  });
  return () => {
    off();
    deps.ipcMain.removeHandler(IPC_COMMAND_CHANNEL);
  };
}
