// Badge self-enrolment: within minutes of a 2-factor CPS login, the workstation of that login binds a
// badge to that person with the badge's own relay proof (its answer to this server's challenge) — never
// from a 1-factor re-open (a found badge must not enrol its twin), never on a workstation's word.
import type Koa from 'koa';
import { ACR, BADGE_ERROR, BADGE_PARAM, normaliseBadgeNumber, parseBadgeProof } from '@sillage/protocol';
import type { EnrolmentAnswer, OAuthError, SillageError } from '@sillage/protocol';
import { RelayError } from '../desfire-relay';
import type { RouteKit } from './kit';
import { readJson } from './kit';

/**
 * The refusal of an enrolment, after its audit record. Without a token of this server, the caller is
 * nobody: its address's share of refusals.
 */
function refuser(ctx: Koa.Context, kit: RouteKit) {
  return async (
    status: number,
    error: OAuthError | 'conflict',
    code: SillageError | null,
    description: string,
    who: { accountId?: string | null; workstation?: string | null } = {},
    details?: Record<string, unknown>,
  ) => {
    const entry = {
      action: 'badge.enrol',
      outcome: 'refused',
      accountId: who.accountId ?? null,
      workstation: who.workstation ?? null,
      reason: `${code ?? error}: ${description}`,
      ...(details ? { details } : {}),
    } as const;
    await (who.workstation ? kit.audit.append(entry) : kit.auditRefusal(ctx, null, entry));
    ctx.status = status;
    ctx.body = { error, error_description: description, ...(code && { sillage_error: code }) };
  };
}

export async function enrolBadge(ctx: Koa.Context, kit: RouteKit): Promise<void> {
  const { directory, sessions, audit, bearer, relay, now } = kit;
  const b = await bearer(ctx);
  const body = await readJson(ctx);
  const refuse = refuser(ctx, kit);
  if (!b || !sessions.isLive(b.session))
    return refuse(401, 'invalid_token', null, 'a live session token of this workstation is required');
  const ws = b.at.clientId;
  const who = { accountId: b.session.accountId, workstation: ws };
  // What this token itself proved (not its roaming session: a re-open inherits the session's acr).
  const proved = (b.at as unknown as { extra?: { acr?: string; amr?: string[] } }).extra ?? {};
  const login = b.session;
  if (
    proved.acr !== ACR.mfa ||
    !proved.amr?.includes('sc') ||
    login.firstWorkstation !== ws ||
    now().getTime() - login.authTime.getTime() > kit.badgeEnrolmentWindowMs
  )
    return refuse(
      403,
      'insufficient_user_authentication',
      BADGE_ERROR.needsCpsLogin,
      `a badge is enrolled on the workstation of a CPS card + PIN login, within ` +
        `${Math.round(kit.badgeEnrolmentWindowMs / 60_000)} minutes of it`,
      who,
    );
  const proof = parseBadgeProof(body);
  if (!proof.ok) return refuse(400, 'invalid_request', null, proof.error, who);
  if (proof.value.kind !== 'desfire')
    return refuse(
      400,
      'invalid_request',
      BADGE_ERROR.weakProof,
      "the badge's relay proof is required (its answer to this server's challenge)",
      who,
    );
  const number = body[BADGE_PARAM.number] === undefined ? null : normaliseBadgeNumber(body[BADGE_PARAM.number]);
  if (body[BADGE_PARAM.number] !== undefined && !number)
    return refuse(400, 'invalid_request', null, `${BADGE_PARAM.number}: printable, 64 characters at most`, who);
  let uid: string;
  try {
    const v = relay.verify(ws, proof.value);
    await v.redeemed;
    uid = v.uid;
  } catch (e) {
    if (!(e instanceof RelayError)) throw e;
    return e.code
      ? refuse(e.status === 403 ? 403 : 400, 'invalid_grant', e.code, e.message, who)
      : refuse(400, 'invalid_request', null, e.message, who);
  }
  const r = await directory.bindBadge({ uid, number }, login.accountId);
  if (!r.ok)
    return refuse(
      409,
      'conflict',
      r.reason === 'taken' ? BADGE_ERROR.taken : null,
      'ce badge appartient déjà à une autre personne / this badge belongs to someone else',
      who,
      { uid },
    );
  await audit.append({
    action: 'badge.enrol',
    outcome: 'ok',
    ...who,
    details: { uid, ...(number ? { number } : {}) },
  });
  ctx.status = 201;
  const enrolled: EnrolmentAnswer = { enrolled: true, uid };
  ctx.body = enrolled;
}
