// The demo control socket (electron/core/demo/control-socket.ts) as the demo CLI (electron/core/headless/demo-cli.ts)
// speaks it: one JSON line `{"cmd","req"}` per request, answered by one line, the command's CommandResult.
// Only these commands cross it; both ends take their names and shapes from here and from the contract.
import type { CommandName, CommandReq, CommandResult } from './contract';

export const DEMO_CONTROL_COMMANDS = [
  'demo.inventory',
  'demo.insertCard',
  'demo.removeCard',
  'demo.tapBadge',
  'demo.reset',
  'session.getState',
  'readers.list',
] as const satisfies readonly CommandName[];

export type DemoControlCommand = (typeof DEMO_CONTROL_COMMANDS)[number];

export interface DemoControlRequest<C extends DemoControlCommand = DemoControlCommand> {
  cmd: C;
  req: CommandReq<C>;
}

export type DemoControlAnswer<C extends DemoControlCommand = DemoControlCommand> = CommandResult<C>;

export function isDemoControlCommand(cmd: unknown): cmd is DemoControlCommand {
  return (DEMO_CONTROL_COMMANDS as readonly unknown[]).includes(cmd);
}
