// Sandboxed preload: exposes only the contract bridge on window.sillage, never ipcRenderer itself.
import { contextBridge, ipcRenderer } from 'electron';
import type { IpcRendererEvent } from 'electron';
import { IPC_COMMAND_CHANNEL, IPC_EVENT_CHANNEL } from '../../shared/contract';
import type { PreloadBridge } from '../../shared/contract';

const bridge: PreloadBridge = {
  async invoke(cmd, req) {
    const r = (await ipcRenderer.invoke(IPC_COMMAND_CHANNEL, cmd, req)) as {
      ok: boolean;
      result?: unknown;
      error?: { code: string; message: string };
    };
    if (!r.ok) throw Object.assign(new Error(r.error?.message ?? 'error'), { code: r.error?.code ?? 'internal' });
    return r.result;
  },
  onEvent(listener) {
    // The raw IPC event (with its sender) never reaches the page.
    const wrapped = (_e: IpcRendererEvent, event: string, payload: unknown) => listener(event, payload);
    ipcRenderer.on(IPC_EVENT_CHANNEL, wrapped);
    return () => void ipcRenderer.removeListener(IPC_EVENT_CHANNEL, wrapped);
  },
};

contextBridge.exposeInMainWorld('sillage', bridge);
