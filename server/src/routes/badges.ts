// Badge self-enrolment, right after a 2-factor CPS login on the same workstation.
import type Koa from 'koa';
import { ACR } from '@sillage/protocol';
import type { EnrolmentAnswer } from '@sillage/protocol';
import type { RouteKit } from './kit';
import { readJson } from './kit';

export async function enrolBadge(ctx: Koa.Context, kit: RouteKit): Promise<void> {
  const { directory, sessions, audit, bearer } = kit;
  // Self-enrolment of a new badge right after a 2-factor login (CPS + PIN) on this workstation.
  const b = await bearer(ctx);
  const body = await readJson(ctx);
  if (!b || !sessions.isLive(b.session)) {
    ctx.status = 401;
    ctx.body = { error: 'invalid_token' };
    return;
  }
  if (
    b.session.acr !== ACR.mfa ||
    !b.session.amr.includes('sc') ||
    (b.at as unknown as { gty?: string }).gty?.includes('badge')
  ) {
    await audit.append({
      action: 'badge.enrol',
      outcome: 'refused',
      accountId: b.session.accountId,
      workstation: b.at.clientId,
      reason: 'needs a CPS login',
    });
    ctx.status = 403;
    ctx.body = {
      error: 'insufficient_user_authentication',
      error_description: 'a badge is enrolled right after a CPS card + PIN login',
    };
    return;
  }
  if (typeof body.badge_id !== 'string' || body.badge_proof === 'uid-only' || typeof body.badge_proof !== 'string') {
    ctx.status = 400;
    ctx.body = {
      error: 'invalid_request',
      error_description: 'a cryptographically proven badge_id is required',
    };
    return;
  }
  const r = await directory.bindBadge(body.badge_id, b.session.accountId);
  await audit.append({
    action: 'badge.enrol',
    outcome: r.ok ? 'ok' : 'refused',
    accountId: b.session.accountId,
    workstation: b.at.clientId,
    reason: r.ok ? null : 'badge already bound to another account',
    details: { badgeId: body.badge_id },
  });
  ctx.status = r.ok ? 201 : 409;
  const enrolled: EnrolmentAnswer = { enrolled: true };
  ctx.body = r.ok
    ? enrolled
    : { error: 'conflict', error_description: 'ce badge appartient déjà à une autre personne' };
}
