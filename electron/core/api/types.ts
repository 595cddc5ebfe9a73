// What transports (Electron IPC in the shell, loopback WebSocket in headless mode) need from the agent.
import type { AnyEvent, CommandName, CommandResult } from '../../../shared/contract';

export interface CallerInfo {
  transport: 'ipc' | 'ws' | 'inproc' | 'cli';
}

export interface AgentApi {
  /** Validate and run one untrusted command. Never throws: errors come back as codes. */
  handle(cmd: unknown, req: unknown, caller: CallerInfo): Promise<CommandResult<CommandName>>;
  /** Every event for the UI; returns the unsubscribe function. */
  subscribe(listener: (e: AnyEvent) => void): () => void;
}
