// `npm run demo -- <command>`: drive the demo readers of a running agent from a terminal.
// There is deliberately no PIN command: a PIN typed in argv would end up in shell history and `ps`.
import { sendControl } from '../demo/control-socket';
import type { CommandReq, CommandRes } from '../../../shared/contract';
import type { DemoControlCommand } from '../../../shared/demo-control';

const HELP = `Usage: npm run demo -- <command>
  status                 session state and demo inventory
  insert <cardId>        insert a demo CPS card (PIN 1234 — type it in the UI)
  remove                 remove the inserted card
  tap <badgeId>          tap a demo badge
  reset                  remove cards, unblock them`;

async function call<C extends DemoControlCommand>(cmd: C, req: CommandReq<C>): Promise<CommandRes<C>> {
  const r = await sendControl(cmd, req);
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.result;
}

function show(inv: CommandRes<'demo.inventory'>, state: CommandRes<'session.getState'>) {
  const who = state.kind === 'open' ? ` — ${state.session.user.firstName} ${state.session.user.lastName}` : '';
  console.log(`État / state: ${state.kind}${who}`);
  for (const c of inv.cards) {
    const inserted = c.inserted ? '[insérée]' : '         ';
    console.log(
      `  carte ${c.id.padEnd(14)} ${inserted} essais ${c.triesLeft}${c.blocked ? ' BLOQUÉE' : ''}  ${c.label}`,
    );
  }
  for (const b of inv.badges) console.log(`  badge ${b.id.padEnd(14)} ${b.proof.padEnd(24)} ${b.label}`);
}

async function main() {
  const [verb, arg] = process.argv.slice(2);
  switch (verb) {
    case 'insert':
      if (!arg) throw new Error('insert needs a card id (see "status")');
      await call('demo.insertCard', { cardId: arg });
      break;
    case 'remove':
      await call('demo.removeCard', {});
      break;
    case 'tap':
      if (!arg) throw new Error('tap needs a badge id (see "status")');
      await call('demo.tapBadge', { badgeId: arg });
      break;
    case 'reset':
      await call('demo.reset', {});
      break;
    case 'status':
      break;
    default:
      console.log(HELP);
      return;
  }
  show(await call('demo.inventory', {}), await settledState());
}

/**
 * The state once the engine is done with what the command started (an identity read, a re-open on the
 * server): the command's answer comes when the readers saw it, the engine's outcome a moment later.
 */
async function settledState(): Promise<CommandRes<'session.getState'>> {
  const end = performance.now() + 15_000;
  for (;;) {
    const state = await call('session.getState', {});
    if ((state.kind !== 'presented' && state.kind !== 'authenticating') || performance.now() > end) return state;
    await new Promise((r) => setTimeout(r, 20));
  }
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});
