// The badge key relay: `begin` (the challenge of every tap) and `finish` (session keys of the application's
// shared key, for random-UID badges), each call authenticated by a workstation assertion.
import type Koa from 'koa';
import { RelayError } from '../desfire-relay';
import { claimedClient } from '../edge';
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
    const r = await relay.finish(ws, body);
    await audit.append({
      action: 'badge.relay-auth',
      outcome: 'ok',
      workstation: ws,
      details: { key: r.keyName, diversification: r.diversification },
    });
    ctx.body = r.keys;
  } catch (e) {
    if (!(e instanceof RelayError)) throw e;
    const entry = {
      action: 'badge.relay-auth',
      outcome: 'refused',
      workstation: ws,
      reason: `${e.error}: ${e.message}`,
      details: { step: finish ? 'finish' : 'begin', ...(e.code && { sillage_error: e.code }) },
    } as const;
    // A workstation's refusal in full; an unauthenticated caller's as the share of the client it names.
    await (ws ? audit.append(entry) : kit.auditRefusal(ctx, claimedClient(body), entry));
    ctx.status = e.status;
    ctx.body = { error: e.error, error_description: e.message, ...(e.code && { sillage_error: e.code }) };
  }
}
