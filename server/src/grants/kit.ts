// What every grant of the session server works with: the provider, its dependencies, the audit of the
// request's decision and the issuing of a workstation's tokens.
import type { KoaContextWithOIDC } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { AuditEntry } from '../audit';
import type { NonceIssuer } from '../cps';
import type { Account } from '../directory';
import type { ProviderDeps, RelyingParty } from '../provider';
import type { RoamingSession } from '../sessions';

export type Ctx = KoaContextWithOIDC;

export interface IssueOptions {
  amr: string[];
  acr: string;
  gty: string;
}

export interface GrantKit {
  provider: Provider;
  deps: ProviderDeps;
  nonces: NonceIssuer;
  /** Relying parties by the audiences they accept. */
  audiences: Map<string, RelyingParty>;
  accountClaims(a: Account): Record<string, unknown>;
  /** Records the request's decision (the token route's own refusal audit then stays silent). */
  auditFor(ctx: Ctx, e: Omit<AuditEntry, 'workstation'>): Promise<void>;
  /** Issues the workstation's tokens for one login or re-open, once `audited` is committed too. */
  issue(ctx: Ctx, account: Account, session: RoamingSession, opts: IssueOptions, audited: Promise<void>): Promise<void>;
}

export function refuse(
  ctx: Ctx,
  status: number,
  error: string,
  description: string,
  extra: Record<string, unknown> = {},
): void {
  ctx.status = status;
  ctx.body = { error, error_description: description, ...extra };
}
