// The answers of the session server's own API (/sillage/*): the server builds them with these types, the
// agent checks each one at run time before using it (an answer that does not match is a protocol
// error, never a half-read object).
import type { SillageError } from './errors';

/** `GET /sillage/session` (200): the roaming session behind the workstation's token is live. */
export interface SessionActive {
  active: true;
  session_id: string;
  auth_time: number;
  expires_at: number;
}

/** `GET /sillage/session` (401): the token or its session is over; `reason` says why (e.g. user-logout). */
export interface SessionInactive {
  active: false;
  error: 'invalid_token';
  reason: string;
}

export type SessionStatusAnswer = SessionActive | SessionInactive;

/** `POST /sillage/session/end` (200): the roaming session ended on every workstation. */
export interface LogoutAnswer {
  ended: boolean;
  workstations: number;
}

/** `POST /sillage/workstations` (201): the registered workstation's client_id. */
export interface RegistrationAnswer {
  client_id: string;
  issuer: string;
}

/** `POST /sillage/badges` (201): the chip UID the badge's proof proved, now bound to the person. */
export interface EnrolmentAnswer {
  enrolled: true;
  uid: string;
}

/** `POST /sillage/nonce` (200): a single-use nonce for a CPS card assertion. */
export interface NonceAnswer {
  nonce: string;
  expires_at: number;
}

/** Any refusal (4xx/5xx). */
export interface RefusalAnswer {
  error: string;
  error_description?: string;
  sillage_error?: SillageError;
}

/**
 * Discovery metadata the server adds to its OpenID configuration: the clock skew (seconds) it accepts
 * in workstation assertions, which is also how far off the agent lets its own clock be.
 */
export const CLOCK_SKEW_METADATA = 'sillage_clock_skew_seconds';
export const DEFAULT_CLOCK_SKEW_S = 120;

type Field = 'string' | 'number' | 'boolean' | true | false;

function matches(v: unknown, shape: Record<string, Field>): v is Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return Object.entries(shape).every(([k, want]) =>
    typeof want === 'boolean'
      ? o[k] === want
      : want === 'number'
        ? typeof o[k] === 'number' && Number.isFinite(o[k])
        : typeof o[k] === want,
  );
}

/** Run-time checks of the answers above: the answer typed, or null when it does not have that shape. */
export const answers = {
  sessionStatus(v: unknown): SessionStatusAnswer | null {
    if (matches(v, { active: true, session_id: 'string', auth_time: 'number', expires_at: 'number' }))
      return v as unknown as SessionActive;
    if (matches(v, { active: false, reason: 'string' }))
      return { active: false, error: 'invalid_token', reason: v.reason as string };
    return null;
  },
  logout: (v: unknown): LogoutAnswer | null =>
    matches(v, { ended: 'boolean', workstations: 'number' }) ? (v as unknown as LogoutAnswer) : null,
  registration: (v: unknown): RegistrationAnswer | null =>
    matches(v, { client_id: 'string', issuer: 'string' }) ? (v as unknown as RegistrationAnswer) : null,
  enrolment: (v: unknown): EnrolmentAnswer | null =>
    matches(v, { enrolled: true, uid: 'string' }) ? { enrolled: true, uid: v.uid as string } : null,
  nonce: (v: unknown): NonceAnswer | null =>
    matches(v, { nonce: 'string', expires_at: 'number' }) ? (v as unknown as NonceAnswer) : null,
};
