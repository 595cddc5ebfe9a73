// The roaming session behind a workstation's token: polled status, and the user's logout everywhere.
import type Koa from 'koa';
import type { LogoutAnswer, SessionStatusAnswer } from '@sillage/protocol';
import type { RouteKit } from './kit';

export async function sessionStatus(ctx: Koa.Context, kit: RouteKit): Promise<void> {
  const { sessions, bearer } = kit;
  // Polled by agents: a revoked or ended session answers 401 and the workstation locks.
  const b = await bearer(ctx);
  let answer: SessionStatusAnswer;
  if (!b || !sessions.isLive(b.session)) {
    ctx.status = 401;
    answer = { error: 'invalid_token', active: false, reason: b?.session.endReason ?? (b ? 'expired' : 'unknown') };
  } else {
    answer = {
      active: true,
      session_id: b.session.id,
      auth_time: Math.floor(b.session.authTime.getTime() / 1000),
      expires_at: Math.floor(b.session.expiresAt.getTime() / 1000),
    };
  }
  ctx.body = answer;
}

export async function endSession(ctx: Koa.Context, kit: RouteKit): Promise<void> {
  const { sessions, audit, bearer } = kit;
  const b = await bearer(ctx);
  if (!b) {
    ctx.status = 401;
    ctx.body = { error: 'invalid_token' };
    return;
  }
  const r = await sessions.end(b.session.id, 'user-logout');
  await audit.append({
    action: 'session.logout',
    outcome: 'ok',
    accountId: b.session.accountId,
    workstation: b.at.clientId,
    details: { session: b.session.id, workstations: r.workstations },
  });
  const answer: LogoutAnswer = { ended: r.ended, workstations: r.workstations.length };
  ctx.body = answer;
}
