// The agent's view of credential hardware. Each backend (demo, PC/SC + PKCS#11, USB-HID) implements
// ReaderBackend and emits ReaderEvents; the session engine never talks to hardware directly.
import type { BadgeProof as WireProof } from '@sillage/protocol';
import type { BadgeProof, Identity, ReaderInfo } from '../../../shared/contract';

/** What a card is, from its ATR (pcsc.ts tells): CPS cards go to PKCS#11, DESFire badges to the badge reading. */
export type CardClass = 'cps3-contact' | 'cps3-contactless' | 'cps4' | 'desfire' | 'other-contactless' | 'unknown';

export type PinResult =
  | { ok: true }
  | { ok: false; reason: 'wrong'; triesLeft: number | null }
  | { ok: false; reason: 'blocked' }
  | { ok: false; reason: 'removed' };

export interface PinStatus {
  triesLeft: number | null;
  blocked: boolean;
}

export type SignatureAlgorithm = 'RSA-PKCS1-SHA256' | 'RSA-PSS-SHA256' | 'ECDSA-P256-SHA256';

export interface CardSignature {
  signature: Buffer;
  /** 'RSA-PKCS1-SHA256' | 'RSA-PSS-SHA256' | ... as the card supports. */
  algorithm: string;
  /** DER certificate of the signing key when the card holds one, else its SPKI public key (DER). */
  certificate?: Buffer;
  publicKey?: Buffer;
}

/** A smart card holding an identity (CPS): read without PIN, unlocked by PIN, proves by signing. */
export interface CardHandle {
  readonly reader: string;
  readonly cardType: string;
  /**
   * The scheme the card signs with, its own choice (demo cards: ECDSA; CPS4: RSA-PSS where offered): the JWS
   * header names it before the card signs.
   */
  readonly signatureAlgorithm: SignatureAlgorithm;
  /** Seen contactless: signs with its technical key, no PIN (1 factor, re-open only). */
  readonly contactless?: boolean;
  readIdentity(): Promise<Identity>;
  /** DER authentication certificate (readable without PIN), or null for cards without one (demo). */
  readCertificate(): Promise<Buffer | null>;
  pinStatus(): Promise<PinStatus>;
  /** The PIN lives only for this call; implementations must not keep it. */
  verifyPin(pin: string): Promise<PinResult>;
  /**
   * Sign with the authentication key. `algorithm` asks for one scheme (a JWS header names it before
   * signing); without it the card picks its preferred one. Throws when the card cannot do it.
   */
  sign(challenge: Buffer, algorithm?: SignatureAlgorithm): Promise<CardSignature>;
  /** Log out and release the card session (card left or session ended). */
  release(): Promise<void>;
}

/**
 * A badge tap. The agent knows the chip (its UID, or the identifier a HID reader emitted: enough to tell
 * a tap-out from another person's tap); whose badge it is, only the session server says, from `proof`.
 */
export interface BadgeRead {
  reader: string;
  cardType: string;
  /** The chip as this PC sees it: its real UID (hex), or the identifier a HID reader emitted. */
  chipId: string;
  /** How strongly it was proven (shown and audited). */
  strength: BadgeProof;
  /** For the session server, once and within seconds (a relay proof is the card's answer to its challenge). */
  proof: WireProof;
}

/** Why a tapped badge gave no credential (AgentErrorCode values: the UI says what to do next). */
export type BadgeRefusalCode = 'badge-not-genuine' | 'badge-unreadable' | 'badge-not-encoded' | 'server-unreachable';

export type ReaderEvent =
  | { type: 'readers'; readers: ReaderInfo[] }
  | { type: 'card-inserted'; card: CardHandle }
  /** A CPS tapped on a contactless reader: a re-open proof by its technical key. */
  | { type: 'cps-tapped'; card: CardHandle }
  | { type: 'card-removed'; reader: string }
  | { type: 'card-unknown'; reader: string; atr?: string }
  | { type: 'badge-tapped'; badge: BadgeRead }
  /** A badge that did not prove itself: `message` says why, for the audit (never key material). */
  | { type: 'badge-refused'; reader: string; code: BadgeRefusalCode; message: string; uid?: string }
  | { type: 'reader-error'; reader: string; message: string };

export interface ReaderBackend {
  readonly name: string;
  start(listener: (e: ReaderEvent) => void): Promise<void>;
  readers(): ReaderInfo[];
  stop(): Promise<void>;
}

/** One ISO 7816 APDU channel to a contactless card (PC/SC, USB-HID, the demo's emulated DESFire). */
export interface ApduTransport {
  /** Sends one APDU, resolves with the response data followed by SW1 SW2. */
  transmit(apdu: Buffer): Promise<Buffer>;
}
