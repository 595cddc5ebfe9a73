// Workstation registration by a one-time enrolment token and the workstation's public keys.
import type Koa from 'koa';
import type { RouteKit } from './kit';
import { readJson } from './kit';

export async function registerWorkstation(ctx: Koa.Context, kit: RouteKit): Promise<void> {
  const { directory, audit, issuer } = kit;
  const b = await readJson(ctx);
  const jwks = b.jwks as { keys?: unknown[] } | undefined;
  if (
    typeof b.enrolment_token !== 'string' ||
    typeof b.name !== 'string' ||
    !Array.isArray(jwks?.keys) ||
    jwks.keys.length === 0
  ) {
    ctx.status = 400;
    ctx.body = { error: 'invalid_request', error_description: 'enrolment_token, name and jwks are required' };
    return;
  }
  // Only public keys: a private JWK sent by mistake is refused rather than stored.
  if (jwks.keys.some((k) => typeof k !== 'object' || k === null || 'd' in k)) {
    ctx.status = 400;
    ctx.body = { error: 'invalid_request', error_description: 'jwks must hold public keys only' };
    return;
  }
  const r = await directory.registerWorkstation(b.enrolment_token, b.name.slice(0, 200), { keys: jwks.keys });
  if ('refused' in r) {
    await audit.append({
      action: 'workstation.register',
      outcome: 'refused',
      reason: r.refused,
      details: { name: b.name.slice(0, 200) },
    });
    ctx.status = 403;
    ctx.body = { error: 'access_denied', error_description: r.refused };
    return;
  }
  await audit.append({
    action: 'workstation.register',
    outcome: 'ok',
    workstation: r.clientId,
    details: { name: b.name.slice(0, 200) },
  });
  ctx.status = 201;
  ctx.body = { client_id: r.clientId, issuer };
}
