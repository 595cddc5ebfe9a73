// Runs validated contract commands against the agent. Shared by every transport (Electron IPC,
// headless WebSocket, demo CLI socket), so they behave the same and are tested the same.
import type {
  AgentErrorCode,
  AnyEvent,
  CommandName,
  CommandReq,
  CommandRes,
  CommandResult,
  Commands,
} from '../../../shared/contract';
import { ContractError } from '../../../shared/errors';
import { isDemoCommand, validateCommand } from '../../../shared/validate';
import type { AuditSink } from '../audit/audit';
import { Listeners } from '../util/emitter';
import type { AgentApi, CallerInfo } from './types';

export type Handlers = { [K in CommandName]: (req: CommandReq<K>) => Promise<CommandRes<K>> | CommandRes<K> };

export interface DispatcherOptions {
  handlers: Handlers;
  audit: AuditSink;
  /** Demo commands exist only in demo mode. */
  demo: boolean;
}

export class Dispatcher implements AgentApi {
  readonly events = new Listeners<AnyEvent>();

  constructor(private readonly opts: DispatcherOptions) {}

  subscribe(listener: (e: AnyEvent) => void): () => void {
    return this.events.add(listener);
  }

  emit<K extends AnyEvent['event']>(event: K, payload: Extract<AnyEvent, { event: K }>['payload']): void {
    this.events.emit({ event, payload } as AnyEvent);
  }

  async handle(cmd: unknown, req: unknown, caller: CallerInfo): Promise<CommandResult<CommandName>> {
    const v = validateCommand(cmd, req);
    if (!v.ok) {
      this.opts.audit.record({
        action: 'command.rejected',
        outcome: 'failure',
        reason: `${caller.transport}: ${v.message}`,
      });
      return fail('invalid-command', v.message);
    }
    if (isDemoCommand(v.cmd) && !this.opts.demo) {
      this.opts.audit.record({
        action: 'command.rejected',
        outcome: 'failure',
        reason: `${caller.transport}: ${v.cmd} outside demo mode`,
      });
      return fail('not-allowed', 'demo commands are only available in demo mode');
    }
    try {
      const handler = this.opts.handlers[v.cmd] as (r: unknown) => Promise<unknown> | unknown;
      return { ok: true, result: (await handler(v.req)) as Commands[CommandName]['res'] };
    } catch (err) {
      if (err instanceof ContractError) return fail(err.code, err.message);
      // Internal errors are audited by kind only: their messages may carry data we must not leak.
      this.opts.audit.record({
        action: 'command.failed',
        outcome: 'failure',
        reason: `${v.cmd}: ${(err as Error)?.name ?? 'error'}`,
      });
      return fail('internal', 'internal error');
    }
  }
}

function fail(code: AgentErrorCode, message: string): CommandResult<CommandName> {
  return { ok: false, error: { code, message } };
}
