// The session server → agent boundary: every refusal code the protocol package declares (`sillage_error`,
// OAuth's `error`), and the two this client adds on its way to the server, as the contract's code the
// user reads. The table is over the declared lists: a code added to @sillage/protocol does not compile
// here until it has its agent code. An answer without a declared code reaches the table as `unexpected`
// (see `refused` in server-client.ts), never as a guess from its text.
import type { OAuthError, SillageError } from '@sillage/protocol';
import type { AgentErrorCode } from '../../../shared/errors';

/** A refusal of the session server (its declared codes), or what happened on the way to it. */
export type ServerErrorCode = SillageError | OAuthError | 'server-unreachable' | 'unexpected';

/** What the user reads of a refusal no precise code names: refused, try again or call the helpdesk. */
export const UNKNOWN_SERVER_REFUSAL = 'auth-refused' satisfies AgentErrorCode;

const AGENT_CODE: Record<ServerErrorCode, AgentErrorCode> = {
  'server-unreachable': 'server-unreachable',
  unexpected: UNKNOWN_SERVER_REFUSAL,
  // The server (its database, its key store) cannot answer now: nothing was issued, try again.
  server_unavailable: 'server-unreachable',
  temporarily_unavailable: 'server-unreachable',
  server_error: 'server-unreachable',
  key_store_unavailable: 'server-unreachable',
  clock_skew: 'clock-skew',
  mfa_required: 'mfa-required',
  secret_wrong: 'pin-wrong',
  secret_locked: 'code-locked',
  code_rate_limited: 'code-locked',
  no_secret: UNKNOWN_SERVER_REFUSAL,
  badge_unknown: 'badge-unknown',
  badge_revoked: 'badge-revoked',
  badge_disabled: UNKNOWN_SERVER_REFUSAL,
  badge_not_genuine: 'badge-not-genuine',
  // A login ticket or relay challenge past its seconds, or used twice: a fresh tap gets a new one.
  badge_replayed: 'badge-tap-again',
  badge_expired: 'badge-tap-again',
  badge_other_workstation: UNKNOWN_SERVER_REFUSAL,
  badge_weak: 'badge-weak',
  badge_taken: 'badge-taken',
  enrolment_needs_cps_login: 'enrolment-too-late',
  expired_certificate: 'card-expired',
  invalid_assertion: UNKNOWN_SERVER_REFUSAL,
  untrusted_certificate: UNKNOWN_SERVER_REFUSAL,
  replayed_nonce: UNKNOWN_SERVER_REFUSAL,
  unknown_account: UNKNOWN_SERVER_REFUSAL,
  unknown_key: UNKNOWN_SERVER_REFUSAL,
  invalid_request: UNKNOWN_SERVER_REFUSAL,
  invalid_client: UNKNOWN_SERVER_REFUSAL,
  invalid_grant: UNKNOWN_SERVER_REFUSAL,
  unauthorized_client: UNKNOWN_SERVER_REFUSAL,
  unsupported_grant_type: UNKNOWN_SERVER_REFUSAL,
  invalid_scope: UNKNOWN_SERVER_REFUSAL,
  invalid_target: UNKNOWN_SERVER_REFUSAL,
  invalid_token: UNKNOWN_SERVER_REFUSAL,
  insufficient_user_authentication: UNKNOWN_SERVER_REFUSAL,
  access_denied: UNKNOWN_SERVER_REFUSAL,
};

export const agentCodeOf = (code: ServerErrorCode): AgentErrorCode => AGENT_CODE[code];
