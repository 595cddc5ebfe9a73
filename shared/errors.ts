// The agent's error catalog: the codes that cross the UI contract, and the one error class that carries
// them. Every boundary maps into this list once — a card or badge failure (devices), a session server
// refusal (oidc), an unexpected exception (the engine and dispatcher: `internal`, logged) — and the UI
// turns a code into the sentence that says what to do next (renderer/src/error-messages.ts, which fails
// to compile while a code lacks its French or English message). Codes are stable; the agent never sends
// free text that could carry a secret.

export const AGENT_ERROR_CODES = [
  'pin-wrong',
  /** A PIN of the wrong length or with other characters than digits: `params.length`. */
  'pin-format',
  'card-blocked',
  'card-removed',
  'card-unknown',
  'card-expired',
  'badge-unknown',
  'badge-weak',
  'badge-revoked',
  /** The badge failed the DESFire mutual authentication (a clone, a wrong key, tampered answers). */
  'badge-not-genuine',
  /** The tap was cut short or garbled (badge moved away, bad frame): tap again. */
  'badge-unreadable',
  /** No configured application on the badge (and UID-only badges are not allowed). */
  'badge-not-encoded',
  /** The tap's proof is no longer usable (the code came too late, or it was already used): tap again. */
  'badge-tap-again',
  /** The badge presented for enrolment is already someone else's. */
  'badge-taken',
  /** A badge is enrolled only minutes after a CPS card + PIN login on this workstation: log in again. */
  'enrolment-too-late',
  /** The session server refused, for a reason the user cannot act on more precisely. */
  'auth-refused',
  'server-unreachable',
  /** The UI lost its connection to the agent (the UI's transports say so; the agent restarts or reconnects). */
  'agent-unreachable',
  /** This PC's clock is further from the session server's than it accepts: IT must set it right. */
  'clock-skew',
  /** Too many wrong session codes: locked until `params.until` (HH:MM). */
  'code-locked',
  /** The roaming MFA window is over: the next login needs both factors again (`params.credential`). */
  'mfa-required',
  /** The DMP could not be opened: `params.reason` says why (no patient, not configured, INS...). */
  'dmp-refused',
  'reader-error',
  /** A command the contract's validation refused, or a demo item that does not exist. */
  'invalid-command',
  /** A command that the agent's state (or the machine policy) does not allow now. */
  'not-allowed',
  /** An exception no boundary knew: logged by the agent, never shown as its text. */
  'internal',
] as const;

export type AgentErrorCode = (typeof AGENT_ERROR_CODES)[number];

const codes: ReadonlySet<string> = new Set(AGENT_ERROR_CODES);

export const isAgentErrorCode = (v: unknown): v is AgentErrorCode => typeof v === 'string' && codes.has(v);

/**
 * A failure the agent reports by its contract code: thrown by the core (the engine, the card, the
 * dispatcher's handlers) and rebuilt by the UI's transports from a command's result. `message` is for
 * developers and logs (English, no secret); the user reads the code's message.
 */
export class ContractError extends Error {
  override readonly name = 'ContractError';

  constructor(
    readonly code: AgentErrorCode,
    message: string = code,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
