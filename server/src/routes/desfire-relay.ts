// The badge key relay's two steps (begin, finish), each call authenticated by a workstation assertion.
import type Koa from 'koa';
import { RelayError } from '../desfire-relay';
import type { RouteKit } from './kit';
import { readJson } from './kit';

export async function desfireRelay(ctx: Koa.Context, kit: RouteKit): Promise<void> {
  const { audit, relay } = kit;
  const body = await readJson(ctx);
  const finish = ctx.path.endsWith('/finish');
  let ws: string | null = null;
  try {
    ws = await relay.workstation(body.client_assertion);
    if (!finish) {
      const r = relay.begin(ws, body);
      ctx.body = { handle: r.handle, reply: r.reply };
      return;
    }
    const r = relay.finish(ws, body);
    await audit.append({
      action: 'badge.relay-auth',
      outcome: 'ok',
      workstation: ws,
      details: { key: r.keyName, diversification: r.diversification },
    });
    ctx.body = r.keys;
  } catch (e) {
    if (!(e instanceof RelayError)) throw e;
    if (finish || e.status === 401)
      await audit.append({
        action: 'badge.relay-auth',
        outcome: 'refused',
        workstation: ws,
        reason: `${e.error}: ${e.message}`,
      });
    ctx.status = e.status;
    ctx.body = {
      error: e.error,
      error_description: e.message,
      ...(e.sillageError && { sillage_error: e.sillageError }),
    };
  }
}
