// What both steps of the badge grant share: the login ticket sealed for the code step, the refusal of a
// request after its audit record, and the badge a tap's proof identifies with its owner.
import { randomBytes } from 'node:crypto';
import { BADGE_AMR, BADGE_ERROR } from '@sillage/protocol';
import type { BadgeProof, BadgeProofKind, SillageError } from '@sillage/protocol';
import { assertionRecorded, claimedAlongside, ownerAlongside } from '../assertions';
import { RelayError } from '../desfire-relay';
import { badgeOwnerOf } from '../directory';
import type { Account, BadgeKey, BadgeOwner } from '../directory';
import { Sealer } from '../seal';
import type { Ctx, GrantKit } from './kit';
import { refuse } from './kit';

export interface LoginTicket {
  id: string;
  ws: string;
  account: string;
  key: BadgeKey;
  kind: BadgeProofKind;
  exp: number;
}

/** What the audit records of the badge (never a secret): how it was proven and what named it. */
export const badgeDetails = (kind: BadgeProofKind, key: BadgeKey, extra: Record<string, unknown> = {}) => ({
  proof: kind,
  ...key,
  ...extra,
});

type RefusalAudit = { accountId?: string; factor?: string; details?: Record<string, unknown>; reason?: string };

export class BadgeSteps {
  readonly tickets: Sealer<LoginTicket>;

  constructor(readonly kit: GrantKit) {
    this.tickets = new Sealer<LoginTicket>(kit.deps.serverSecret, 'badge login ticket');
  }

  newTicket(ws: string, account: Account, key: BadgeKey, kind: BadgeProofKind): string {
    return this.tickets.seal({
      id: randomBytes(16).toString('base64url'),
      ws,
      account: account.id,
      key,
      kind,
      exp: this.kit.deps.now().getTime() + this.kit.deps.loginTicketSeconds * 1000,
    });
  }

  /**
   * A refusal of the badge grant, after its audit record: an OAuth error, with its `sillage_error` unless
   * the request itself is malformed (`invalid_request` says it all).
   */
  async refused(
    ctx: Ctx,
    action: string,
    code: SillageError | 'invalid_request',
    description: string,
    audit: RefusalAudit = {},
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    await this.kit.auditFor(ctx, { action, outcome: 'refused', reason: audit.reason ?? code, ...audit });
    if (code === 'invalid_request') return refuse(ctx, 400, 'invalid_request', description, extra);
    refuse(ctx, 400, 'invalid_grant', description, { sillage_error: code, ...extra });
  }

  /**
   * The badge a tap's proof identifies and its binding, or null after refusing the request. A relay
   * proof's single-use record and the badge lookup go to the database in one statement.
   */
  async provenBadge(ctx: Ctx, proof: BadgeProof) {
    const ws = ctx.oidc.client!.clientId;
    if (proof.kind === 'desfire') {
      try {
        // The challenge is spent only by the first use of this request's client assertion (in the same
        // statement, see registerBadgeGrant): a copy of the request, however fast, is refused as a replay
        // and leaves the genuine request its challenge.
        const v = this.kit.deps.relay.verify(ws, proof, assertionRecorded(ctx), claimedAlongside(ctx));
        const key = { uid: v.uid };
        // The badge's binding was read with the request's assertion record, for the UID the challenge was
        // issued for, which the answer just proved.
        const beside = ownerAlongside(ctx)?.then((r) => (r.uid === v.uid ? badgeOwnerOf(r.row) : undefined));
        const [o] = await Promise.all([this.owner(ctx, 'badge.tap', proof.kind, key, v.redeemed, beside), v.redeemed]);
        return o && { key, owner: o, extra: { key: v.keyName, diversification: v.diversification } };
      } catch (e) {
        if (!(e instanceof RelayError)) throw e;
        const code = e.code ?? 'invalid_request';
        await this.refused(ctx, 'badge.tap', code, e.message, {
          factor: BADGE_AMR.desfire,
          reason: `${code}: ${e.message}`,
        });
        return null;
      }
    }
    const key = proof.kind === 'reader-verified' ? { number: proof.number } : { uid: proof.uid };
    if (!this.kit.deps.weakBadgeProofs.includes(proof.kind)) {
      await this.refused(
        ctx,
        'badge.tap',
        BADGE_ERROR.weakProof,
        `badge proof "${proof.kind}" is not accepted by this server: ` +
          "the badge must answer the server's challenge (relay)",
        { factor: BADGE_AMR[proof.kind], details: badgeDetails(proof.kind, key) },
      );
      return null;
    }
    const o = await this.owner(ctx, 'badge.tap', proof.kind, key);
    return o && { key, owner: o, extra: {} };
  }

  /**
   * The account of a badge, or null after refusing the request. `before`: what must hold before a
   * refusal may name the badge's state (a replayed proof is refused as a replay, not as unknown); `read`:
   * its binding as already read (undefined: looked up here).
   */
  async owner(
    ctx: Ctx,
    action: string,
    kind: BadgeProofKind,
    key: BadgeKey,
    before?: Promise<void>,
    read?: Promise<BadgeOwner | undefined>,
  ) {
    const o = (await read) ?? (await this.kit.deps.directory.badgeOwner(key));
    if (!('refused' in o)) return o;
    await before;
    const msg = {
      unknown: 'badge not enrolled: enrol it after a CPS login or ask the helpdesk',
      revoked: 'badge revoked (declared lost): ask the helpdesk for a new one',
      disabled: 'account disabled',
    }[o.refused];
    await this.refused(ctx, action, `badge_${o.refused}`, msg, {
      factor: BADGE_AMR[kind],
      details: badgeDetails(kind, key),
    });
    return null;
  }
}
