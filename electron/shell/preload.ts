// Sandboxed preload: exposes only the contract bridge on window.sillage, never ipcRenderer itself.
import { contextBridge, ipcRenderer } from 'electron';
import type { IpcRendererEvent } from 'electron';
import { IPC_COMMAND_CHANNEL, IPC_EVENT_CHANNEL } from '../../shared/contract';
import type { PreloadBridge } from '../../shared/contract';

const bridge: PreloadBridge = {
  // The command's result as it came: an Error crossing the context bridge keeps only its message, so a
  // refusal travels as data and the page's transport turns it into its ContractError.
  invoke: (cmd, req) => ipcRenderer.invoke(IPC_COMMAND_CHANNEL, cmd, req),
  onEvent(listener) {
    // The raw IPC event (with its sender) never reaches the page.
    const wrapped = (_e: IpcRendererEvent, event: string, payload: unknown) => listener(event, payload);
    ipcRenderer.on(IPC_EVENT_CHANNEL, wrapped);
    return () => void ipcRenderer.removeListener(IPC_EVENT_CHANNEL, wrapped);
  },
};

contextBridge.exposeInMainWorld('sillage', bridge);
