// The authentication step of the session engine. The demo implementation decides locally; the server
// authenticator does it over OIDC (card JWT-bearer assertion, badge grants, re-open).
import type { AgentErrorCode, Identity, OpenSession, SecondFactor } from '../../../shared/contract';
import type { BadgeRead, CardHandle } from '../devices/types';

export type AuthOutcome =
  | { ok: true; session: OpenSession }
  | {
      ok: false;
      code: AgentErrorCode;
      params?: Record<string, string | number>;
      reason: string;
      /** A badge code step refused with tries left: the ticket of the next try. */
      ticket?: string;
    };

export type BadgeOutcome =
  /** A roaming MFA session of the badge's owner is still valid: re-open with the tap alone. */
  | { kind: 'reopened'; session: OpenSession }
  /**
   * First login of the shift (or window over): ask for the second factor. `ticket` (single use, short
   * lived) stands for the proven tap in the code step.
   */
  | {
      kind: 'second-factor';
      identity: Identity | null;
      secondFactor: SecondFactor;
      pinLength: number | null;
      ticket: string;
    }
  | { kind: 'refused'; code: AgentErrorCode; reason: string };

export interface Authenticator {
  /** The card's PIN was verified by the card itself; prove possession by signing a fresh challenge. */
  loginWithCard(card: CardHandle, identity: Identity): Promise<AuthOutcome>;
  /** A badge was tapped: re-open within the roaming window, or say which second factor to ask. */
  badgeTapped(badge: BadgeRead): Promise<BadgeOutcome>;
  /** A CPS tapped contactless: its technical key (no PIN) re-opens the roaming session, 1 factor. */
  reopenWithCard?(card: CardHandle, identity: Identity): Promise<AuthOutcome>;
  /** Badge + PIN / session code (checked by the server, never by the workstation), for the tap's ticket. */
  loginWithBadge(badge: BadgeRead, ticket: string, secret: string): Promise<AuthOutcome>;
  /**
   * Binds the tapped badge to the person of `session` (a CPS card + PIN login on this workstation minutes
   * ago), with the badge's own proof.
   */
  enrolBadge?(
    session: OpenSession,
    badge: BadgeRead,
  ): Promise<{ ok: true } | { ok: false; code: AgentErrorCode; reason: string }>;
  /** The workstation session ended (lock, switch); the roaming session stays valid elsewhere. */
  endWorkstationSession(session: OpenSession): Promise<void>;
  /**
   * While `session` is open: call `ended` if its roaming session ends elsewhere (global logout,
   * administrator). Returns the function that stops watching.
   */
  watchSession?(session: OpenSession, ended: (reason: string) => void): () => void;
}
