// Badge grant. A tap carries the badge's proof: in relay mode its answer to this server's challenge, which
// the server checks itself and which identifies the badge (the UID its diversified key was derived for);
// weaker proofs (a workstation's or a reader's word, a UID) only where policy names them, labelled so in
// acr/amr. Inside a roaming window the tap re-opens it (1 factor; auth_time stays the 2-factor login).
// Outside, the answer is a single-use login ticket bound to this workstation, badge and account, with the
// name the PIN pad shows; the code step sends ticket + code (2 factors). Codes are only ever checked
// against a proven badge, so the account lockout counts attempts on a badge someone holds; a
// per-workstation limit bounds what one PC can try, whoever's badges.
import { randomBytes } from 'node:crypto';
import {
  ACR,
  BADGE_AMR,
  BADGE_ERROR,
  AUDIT_HEAD_PARAM,
  BADGE_GRANT_PARAMS,
  GRANT,
  parseBadgeCode,
  parseBadgeProof,
  parseMaxAge,
} from '@sillage/protocol';
import type { BadgeMfaRequired, BadgeProof, BadgeProofKind, SillageError } from '@sillage/protocol';
import { RelayError } from '../desfire-relay';
import type { Account, BadgeKey } from '../directory';
import { Sealer } from '../seal';
import { toSession } from '../sessions';
import type { Ctx, GrantKit } from './kit';
import { refuse } from './kit';

/** How long the PIN pad may wait for the code after a tap (`--login-ticket-seconds`): 2 minutes by default. */
export const DEFAULT_LOGIN_TICKET_SECONDS = 120;

/** A login ticket lifetime, checked: long enough to type a code in gloves, short enough to be a tap's. */
export function loginTicketSeconds(n: number): number {
  if (!(Number.isInteger(n) && n >= 30 && n <= 600))
    throw new Error(`--login-ticket-seconds must be a whole number of seconds from 30 to 600 (got ${n})`);
  return n;
}

interface LoginTicket {
  id: string;
  ws: string;
  account: string;
  key: BadgeKey;
  kind: BadgeProofKind;
  exp: number;
}

/** What the audit records of the badge (never a secret): how it was proven and what named it. */
const badgeDetails = (kind: BadgeProofKind, key: BadgeKey, extra: Record<string, unknown> = {}) => ({
  proof: kind,
  ...key,
  ...extra,
});

export function registerBadgeGrant(kit: GrantKit): void {
  const { provider, deps, auditFor, issue } = kit;
  const { directory, sessions, relay, once, now } = deps;
  const tickets = new Sealer<LoginTicket>(deps.serverSecret, 'badge login ticket');

  const newTicket = (ws: string, account: Account, key: BadgeKey, kind: BadgeProofKind) =>
    tickets.seal({
      id: randomBytes(16).toString('base64url'),
      ws,
      account: account.id,
      key,
      kind,
      exp: now().getTime() + deps.loginTicketSeconds * 1000,
    });

  /**
   * A refusal of the badge grant, after its audit record: an OAuth error, with its `sillage_error` unless
   * the request itself is malformed (`invalid_request` says it all).
   */
  const refused = async (
    ctx: Ctx,
    action: string,
    code: SillageError | 'invalid_request',
    description: string,
    audit: { accountId?: string; factor?: string; details?: Record<string, unknown>; reason?: string } = {},
    extra: Record<string, unknown> = {},
  ) => {
    await auditFor(ctx, { action, outcome: 'refused', reason: audit.reason ?? code, ...audit });
    if (code === 'invalid_request') return refuse(ctx, 400, 'invalid_request', description, extra);
    refuse(ctx, 400, 'invalid_grant', description, { sillage_error: code, ...extra });
  };

  /**
   * The badge a tap's proof identifies and its binding, or null after refusing the request. A relay
   * proof's single-use record and the badge lookup go to the database together.
   */
  async function provenBadge(ctx: Ctx, proof: BadgeProof) {
    const ws = ctx.oidc.client!.clientId;
    if (proof.kind === 'desfire') {
      try {
        const v = relay.verify(ws, proof);
        const key = { uid: v.uid };
        const [o] = await Promise.all([owner(ctx, 'badge.tap', proof.kind, key, v.redeemed), v.redeemed]);
        return o && { key, owner: o, extra: { key: v.keyName, diversification: v.diversification } };
      } catch (e) {
        if (!(e instanceof RelayError)) throw e;
        const code = e.code ?? 'invalid_request';
        await refused(ctx, 'badge.tap', code, e.message, {
          factor: BADGE_AMR.desfire,
          reason: `${code}: ${e.message}`,
        });
        return null;
      }
    }
    const key = proof.kind === 'reader-verified' ? { number: proof.number } : { uid: proof.uid };
    if (!deps.weakBadgeProofs.includes(proof.kind)) {
      await refused(
        ctx,
        'badge.tap',
        BADGE_ERROR.weakProof,
        `badge proof "${proof.kind}" is not accepted by this server: the badge must answer the server's challenge (relay)`,
        { factor: BADGE_AMR[proof.kind], details: badgeDetails(proof.kind, key) },
      );
      return null;
    }
    const o = await owner(ctx, 'badge.tap', proof.kind, key);
    return o && { key, owner: o, extra: {} };
  }

  /**
   * The account of a badge, or null after refusing the request. `before`: what must hold before a
   * refusal may name the badge's state (a replayed proof is refused as a replay, not as unknown).
   */
  async function owner(ctx: Ctx, action: string, kind: BadgeProofKind, key: BadgeKey, before?: Promise<void>) {
    const o = await directory.badgeOwner(key);
    if (!('refused' in o)) return o;
    await before;
    const msg = {
      unknown: 'badge not enrolled: enrol it after a CPS login or ask the helpdesk',
      revoked: 'badge revoked (declared lost): ask the helpdesk for a new one',
      disabled: 'account disabled',
    }[o.refused];
    await refused(ctx, action, `badge_${o.refused}`, msg, {
      factor: BADGE_AMR[kind],
      details: badgeDetails(kind, key),
    });
    return null;
  }

  async function tap(ctx: Ctx, proof: BadgeProof, maxAgeS: number | null): Promise<void> {
    const ws = ctx.oidc.client!.clientId;
    const badge = await provenBadge(ctx, proof);
    if (!badge) return;
    const { account } = badge.owner;
    const factor = BADGE_AMR[proof.kind];
    const details = badgeDetails(proof.kind, badge.key, badge.extra);
    const live = badge.owner.activeSession ? toSession(badge.owner.activeSession) : null;
    // A workstation with a shorter window of its own (max_age) does not re-open an older login.
    const session =
      live && (maxAgeS === null || now().getTime() - live.authTime.getTime() < maxAgeS * 1000) ? live : null;
    if (!session) {
      const expired = live ?? (await sessions.lastExpired(account.id));
      await auditFor(ctx, {
        action: 'reopen.badge',
        outcome: 'refused',
        accountId: account.id,
        factor,
        reason: expired ? 'mfa_window_over' : 'mfa_required',
        details,
      });
      const body: BadgeMfaRequired = {
        sillage_error: 'mfa_required',
        second_factor: 'pin',
        login_ticket: newTicket(ws, account, badge.key, proof.kind),
        // The PIN pad shows whose badge it is: told only to a workstation that proved the badge.
        display_name: `${account.firstName} ${account.lastName}`,
        given_name: account.firstName,
        family_name: account.lastName,
        idnat: account.idNat,
        profession: account.profession,
      };
      return refuse(
        ctx,
        400,
        'invalid_grant',
        expired
          ? 'roaming session over: type your code to start a new one'
          : 'first login of the shift: type your code',
        { ...body },
      );
    }
    const audited = auditFor(ctx, {
      action: 'reopen.badge',
      outcome: 'ok',
      accountId: account.id,
      factor,
      details: { ...details, session: session.id },
    });
    // Honest: a re-open by a proof the server checked, in a window a 2-factor login opened; else asserted.
    const acr = proof.kind === 'desfire' && session.acr === ACR.mfa ? ACR.reopen : ACR.asserted;
    return issue(ctx, account, session, { amr: [factor], acr, gty: GRANT.badge }, audited);
  }

  async function code(ctx: Ctx, ticketText: string, secret: string): Promise<void> {
    const ws = ctx.oidc.client!.clientId;
    const t = tickets.open(ticketText);
    if (!t || typeof t.id !== 'string' || typeof t.exp !== 'number' || !t.key)
      return refused(ctx, 'login.badge', BADGE_ERROR.notGenuine, 'login ticket not issued by this server');
    const factor = `${BADGE_AMR[t.kind]}+pin`;
    const about = { accountId: t.account, factor, details: badgeDetails(t.kind, t.key) };
    if (t.ws !== ws)
      return refused(
        ctx,
        'login.badge',
        BADGE_ERROR.otherWorkstation,
        'login ticket issued to another workstation',
        about,
      );
    if (t.exp < now().getTime())
      return refused(ctx, 'login.badge', BADGE_ERROR.expired, 'too slow: tap the badge again', about);
    // Another instance may have issued it under another policy (a configuration being rolled out).
    if (t.kind !== 'desfire' && !deps.weakBadgeProofs.includes(t.kind))
      return refused(ctx, 'login.badge', BADGE_ERROR.weakProof, `badge proof "${t.kind}" not accepted here`, about);
    if (!(await once.claim('LoginTicket', t.id, new Date(t.exp + 60_000))))
      return refused(ctx, 'login.badge', BADGE_ERROR.replayed, 'login ticket already used: tap the badge again', about);
    const limited = await directory.codeRateLimited(ws);
    if (limited)
      return refused(
        ctx,
        'login.badge',
        BADGE_ERROR.rateLimited,
        `too many wrong codes on this workstation: try again after ${limited.toISOString()}`,
        about,
        { locked_until: limited.toISOString() },
      );
    // The binding may have changed since the tap (badge revoked, given to someone else).
    const o = await owner(ctx, 'login.badge', t.kind, t.key);
    if (!o) return;
    if (o.account.id !== t.account)
      return refused(ctx, 'login.badge', 'badge_unknown', 'badge bound to another account since the tap', about);
    const account = o.account;
    const check = await directory.checkSecret(account.id, secret);
    if (!check.ok) {
      if (check.reason === 'wrong') await directory.countCodeFailure(ws);
      await auditFor(ctx, { action: 'login.badge', outcome: 'refused', ...about, reason: check.reason });
      if (check.reason === 'locked')
        return refuse(ctx, 400, 'invalid_grant', `too many wrong codes: locked until ${check.until.toISOString()}`, {
          sillage_error: BADGE_ERROR.secretLocked,
          locked_until: check.until.toISOString(),
        });
      if (check.reason === 'no-secret')
        return refuse(ctx, 400, 'invalid_grant', 'no session code set for this account: ask the helpdesk', {
          sillage_error: BADGE_ERROR.noSecret,
        });
      return refuse(ctx, 400, 'invalid_grant', 'wrong code', {
        sillage_error: BADGE_ERROR.secretWrong,
        tries_left: check.remaining,
        // Another try on the same tap, once.
        login_ticket: newTicket(ws, account, t.key, t.kind),
      });
    }
    const strong = t.kind === 'desfire';
    const amr = strong ? [BADGE_AMR.desfire, 'pin', 'mfa'] : [BADGE_AMR[t.kind], 'pin'];
    const acr = strong ? ACR.mfa : ACR.asserted;
    const session = await sessions.create(account.id, amr, acr, ws);
    const audited = auditFor(ctx, {
      action: 'login.badge',
      outcome: 'ok',
      ...about,
      details: { ...about.details, session: session.id },
    });
    return issue(ctx, account, session, { amr, acr, gty: GRANT.badge }, audited);
  }

  provider.registerGrantType(
    GRANT.badge,
    async (ctx) => {
      const p = ctx.oidc.params as Record<string, unknown>;
      const step = parseBadgeCode(p);
      if (step)
        return step.ok
          ? code(ctx, step.value.ticket, step.value.secret)
          : refused(ctx, 'login.badge', 'invalid_request', step.error);
      const proof = parseBadgeProof(p);
      if (!proof.ok) return refused(ctx, 'badge.tap', 'invalid_request', proof.error);
      const maxAge = parseMaxAge(p);
      if (!maxAge.ok) return refused(ctx, 'badge.tap', 'invalid_request', maxAge.error);
      return tap(ctx, proof.value, maxAge.value);
    },
    [...BADGE_GRANT_PARAMS, AUDIT_HEAD_PARAM],
  );
}
