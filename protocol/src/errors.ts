// The session server's refusal codes. `error` is OAuth's (RFC 6749 §5.2, RFC 6750 §3.1, RFC 8693, RFC 8707,
// RFC 9470); `sillage_error` says what precisely went wrong, so the agent can tell the user what to do
// next. The server's refusals are typed by these lists and the agent maps only the codes declared here.

export const OAUTH_ERRORS = [
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'invalid_token',
  'insufficient_user_authentication',
  'access_denied',
  'temporarily_unavailable',
  'server_error',
] as const;

export type OAuthError = (typeof OAUTH_ERRORS)[number];

export const SILLAGE_ERRORS = [
  /** The session database is down: nothing was issued or changed, try again. */
  'server_unavailable',
  /** The workstation's clock is outside the accepted skew: IT must set it right. */
  'clock_skew',
  /** No live roaming session: both factors again. */
  'mfa_required',
  'secret_wrong',
  'secret_locked',
  'no_secret',
  'badge_unknown',
  'badge_revoked',
  'badge_disabled',
  /** The card's answer to the relay's challenge does not prove the badge's key (clone, forged answer). */
  'badge_not_genuine',
  /** A relay challenge or login ticket used twice. */
  'badge_replayed',
  /** A relay challenge or login ticket past its few seconds: tap again. */
  'badge_expired',
  /** A relay challenge or login ticket handed to another workstation. */
  'badge_other_workstation',
  /** A badge proof this server's policy does not accept (a workstation's or reader's word, a UID). */
  'badge_weak',
  /** Badge enrolment: the badge is someone else's. */
  'badge_taken',
  /** Badge enrolment needs the token of a CPS login made minutes ago on this workstation. */
  'enrolment_needs_cps_login',
  /** Too many wrong codes from this workstation: wait. */
  'code_rate_limited',
  'invalid_assertion',
  'untrusted_certificate',
  'expired_certificate',
  'replayed_nonce',
  'unknown_account',
  /** Badge key relay (in its answers' `error`): no such key on this server, or its key store is down. */
  'unknown_key',
  'key_store_unavailable',
] as const;

export type SillageError = (typeof SILLAGE_ERRORS)[number];

const oauth: ReadonlySet<string> = new Set(OAUTH_ERRORS);
const sillage: ReadonlySet<string> = new Set(SILLAGE_ERRORS);

export const isOAuthError = (v: unknown): v is OAuthError => typeof v === 'string' && oauth.has(v);
export const isSillageError = (v: unknown): v is SillageError => typeof v === 'string' && sillage.has(v);

/** The most precise declared code of a refusal's body (`sillage_error`, else `error`), or null. */
export function refusalCode(body: unknown): SillageError | OAuthError | null {
  if (!body || typeof body !== 'object') return null;
  const { sillage_error, error } = body as Record<string, unknown>;
  if (isSillageError(sillage_error)) return sillage_error;
  if (isSillageError(error) || isOAuthError(error)) return error;
  return null;
}
