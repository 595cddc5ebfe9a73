// What goes wrong in a DESFire exchange, as the card protocol, the key custody and the tap's reading report it.
export const DESFIRE_ERRORS = [
  /** The card left the field or the reader failed mid-exchange. */
  'removed',
  /** A frame that cannot be a DESFire answer (too short, wrong SW1, wrong length). */
  'malformed',
  /** The card or our side rejected the mutual authentication: wrong key (a clone) or a tampered answer. */
  'auth-failed',
  /** A MAC did not verify: tampered or corrupted secure messaging. */
  'integrity',
  /** The card answered an error status (SW2 in `status`). */
  'status',
  /** The key custody (session server in relay mode) cannot be reached. */
  'custody-unavailable',
  'unsupported',
] as const;

export type DesfireErrorCode = (typeof DESFIRE_ERRORS)[number];

export class DesfireError extends Error {
  constructor(
    readonly code: DesfireErrorCode,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}
