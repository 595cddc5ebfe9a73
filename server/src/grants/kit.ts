// What every grant of the session server works with: the provider, its dependencies, the audit of the
// request's decision and the issuing of a workstation's tokens.
import type { OAuthError, SillageError } from '@sillage/protocol';
import type { KoaContextWithOIDC, ResourceServerInstance } from 'oidc-provider';
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
  /** The audience of a workstation's own access tokens (sillageApi). */
  api: string;
  /** The resource server an access token is issued for (the Sillage API or a relying party). */
  resourceServer(audience: string): ResourceServerInstance;
  accountClaims(a: Account): Record<string, unknown>;
  /** Records the request's decision (the token route's own refusal audit then stays silent). */
  auditFor(ctx: Ctx, e: Omit<AuditEntry, 'workstation'>): Promise<void>;
  /** Issues the workstation's tokens for one login or re-open, once `audited` is committed too. */
  issue(ctx: Ctx, account: Account, session: RoamingSession, opts: IssueOptions, audited: Promise<void>): Promise<void>;
}

/** A refusal's body beyond OAuth's fields: the precise code, and what the agent shows (tries left...). */
export type RefusalExtra = { sillage_error?: SillageError } & Record<string, unknown>;

export function refuse(
  ctx: Ctx,
  status: number,
  error: OAuthError,
  description: string,
  extra: RefusalExtra = {},
): void {
  ctx.status = status;
  ctx.body = { error, error_description: description, ...extra };
}
