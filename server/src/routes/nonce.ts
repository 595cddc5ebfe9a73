// Server nonces for the CPS card's assertion: stateless (sealed), single use enforced by the grant.
import type Koa from 'koa';
import type { NonceAnswer } from '@sillage/protocol';
import type { RouteKit } from './kit';

export async function nonce(ctx: Koa.Context, kit: RouteKit): Promise<void> {
  const { nonces } = kit;
  const n = nonces.issue();
  const answer: NonceAnswer = { nonce: n.nonce, expires_at: Math.floor(n.expiresAt.getTime() / 1000) };
  ctx.body = answer;
}
