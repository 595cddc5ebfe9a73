// CPS card login (RFC 7523 JWT bearer): an assertion signed by the card's key, its x5c chain checked
// against the trust anchors, a server nonce used once. The authentication key (after the PIN) is 2
// factors; the contactless technical key (no PIN) re-opens a live roaming session only.
import { ACR, AUDIT_HEAD_PARAM, GRANT } from '@sillage/protocol';
import { ProofError, verifyCardAssertion } from '../cps';
import type { Account } from '../directory';
import type { Ctx, GrantKit } from './kit';
import { refuse } from './kit';

type CardProof = Awaited<ReturnType<typeof verifyCardAssertion>>;

/** The card's proof, checked (chain, signature, nonce, clock), or null after refusing the request. */
async function cardProof(kit: GrantKit, ctx: Ctx, assertion: string): Promise<CardProof | null> {
  const { deps, nonces, auditFor } = kit;
  try {
    return await verifyCardAssertion(assertion, {
      trust: deps.trust,
      nonces,
      audience: deps.issuer,
      now: deps.now(),
      skewS: deps.assertions.skewS,
    });
  } catch (e) {
    const pe = e instanceof ProofError ? e : new ProofError('invalid_assertion', 'assertion rejected');
    await auditFor(ctx, {
      action: 'login.cps',
      outcome: 'refused',
      factor: 'cps',
      reason: `${pe.code}: ${pe.message}`,
    });
    refuse(ctx, 400, 'invalid_grant', pe.message, { sillage_error: pe.code });
    return null;
  }
}

/** The account of the card holder, its nonce used once (any instance), or null after refusing the request. */
async function cardHolder(kit: GrantKit, ctx: Ctx, v: CardProof): Promise<Account | null> {
  const { deps, auditFor } = kit;
  // Single use: the nonce is recorded; a second presentation (any instance) fails the insert.
  const { rows } = await deps.db.query(
    'INSERT INTO used_nonces (nonce, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING nonce',
    [v.nonce, v.nonceExpiresAt],
  );
  // A refusal of this card holder: audited with the card's identity, answered with its code.
  const refused = async (code: 'replayed_nonce' | 'unknown_account', description: string) => {
    await auditFor(ctx, {
      action: 'login.cps',
      outcome: 'refused',
      factor: 'cps',
      reason: code,
      details: { idNat: v.subject.idNat },
    });
    refuse(ctx, 400, 'invalid_grant', description, { sillage_error: code });
    return null;
  };
  if (!rows[0]) return refused('replayed_nonce', 'assertion already used (replay)');
  const account = await deps.directory.accountByIdNat(v.subject.idNat);
  if (!account || account.disabled)
    return refused(
      'unknown_account',
      `no account for idNat ${v.subject.idNat}: ask the identity team to enrol this card holder`,
    );
  return account;
}

/** Contactless technical key (no PIN): 1 factor, a re-open within the roaming window only. */
async function reopen(kit: GrantKit, ctx: Ctx, account: Account): Promise<void> {
  const { deps, auditFor, issue } = kit;
  const session = await deps.sessions.active(account.id);
  if (!session) {
    await auditFor(ctx, {
      action: 'reopen.cps',
      outcome: 'refused',
      accountId: account.id,
      factor: 'cps-tech',
      reason: 'mfa_required',
    });
    return refuse(ctx, 400, 'invalid_grant', 'no roaming session: insert the card and type the PIN', {
      sillage_error: 'mfa_required',
    });
  }
  const audited = auditFor(ctx, {
    action: 'reopen.cps',
    outcome: 'ok',
    accountId: account.id,
    factor: 'cps-tech',
    details: { session: session.id },
  });
  return issue(ctx, account, session, { amr: ['hwk'], acr: ACR.reopen, gty: GRANT.jwtBearer }, audited);
}

export function registerCpsCardGrant(kit: GrantKit): void {
  const { provider, auditFor, issue } = kit;
  const { sessions } = kit.deps;
  provider.registerGrantType(
    GRANT.jwtBearer,
    async (ctx) => {
      const ws = ctx.oidc.client!.clientId;
      const assertion = ctx.oidc.params!.assertion;
      if (typeof assertion !== 'string') return refuse(ctx, 400, 'invalid_request', 'assertion missing');
      const v = await cardProof(kit, ctx, assertion);
      if (!v) return;
      const account = await cardHolder(kit, ctx, v);
      if (!account) return;
      if (v.subject.keyKind !== 'auth') return reopen(kit, ctx, account);
      // The authentication key signs only after the card checked the PIN: card + PIN = 2 factors.
      const amr = ['sc', 'pin', 'hwk', 'mfa'];
      const session = await sessions.create(account.id, amr, ACR.mfa, ws);
      const audited = auditFor(ctx, {
        action: 'login.cps',
        outcome: 'ok',
        accountId: account.id,
        factor: 'cps+pin',
        details: { session: session.id, serial: v.subject.serialNumber, alg: v.alg },
      });
      return issue(ctx, account, session, { amr, acr: ACR.mfa, gty: GRANT.jwtBearer }, audited);
    },
    ['assertion', 'scope', AUDIT_HEAD_PARAM],
  );
}
