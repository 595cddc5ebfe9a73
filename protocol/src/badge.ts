// The badge factor on the wire: the badge grant's parameters, the DESFire relay's requests and answers,
// the first-login ticket, and their run-time checks. The agent builds what the server parses with the
// same names and shapes: a renamed field fails to compile on both sides.
import { isDiversification } from './desfire';
import type { Diversification } from './desfire';
import type { SillageError } from './errors';

/** Names of the badge grant's form parameters (urn:sillage:params:oauth:grant-type:badge). */
export const BADGE_PARAM = {
  /** How the badge was proven (BadgeProofKind). */
  proof: 'badge_proof',
  /** `desfire`: the sealed challenge the relay's `begin` returned. */
  challenge: 'badge_challenge',
  /** `desfire`: the card's answer to that challenge (the last frame of its mutual authentication). */
  response: 'badge_response',
  /** `local-key` / `uid-only`: the chip UID as the workstation read it. */
  uid: 'badge_uid',
  /** `reader-verified`: the identifier a reader emitted after checking the badge with its own keys. */
  number: 'badge_number',
  /** Code step of a first login: the ticket a refused re-open (mfa_required) handed out. */
  ticket: 'login_ticket',
  secret: 'secret',
  /**
   * The workstation's own roaming window, in seconds (OIDC max_age): a session whose 2-factor login is
   * older is not re-opened there; the code is asked (ticket) as when no session is open.
   */
  maxAge: 'max_age',
} as const;

/** Every parameter the badge grant reads (for the provider's parameter allow-list). */
export const BADGE_GRANT_PARAMS: readonly string[] = [...Object.values(BADGE_PARAM), 'scope'];

/**
 * - `desfire`: the card answered the session server's own challenge; the server checks it (relay).
 * - `local-key`: the workstation authenticated the card with a key copy it holds; the server has its word.
 * - `reader-verified`: a reader authenticated the card with its own keys; the server has its word.
 * - `uid-only`: a UID (copyable, proves nothing).
 */
export type BadgeProofKind = 'desfire' | 'local-key' | 'reader-verified' | 'uid-only';

/** Proofs the server cannot check itself: accepted only where its policy names them. */
export type WeakBadgeProofKind = Exclude<BadgeProofKind, 'desfire'>;
export const WEAK_BADGE_PROOFS: readonly WeakBadgeProofKind[] = ['local-key', 'reader-verified', 'uid-only'];

/** One tap's proof, as the agent sends it: usable once, within seconds (`desfire`). */
export type BadgeProof =
  | { kind: 'desfire'; challenge: string; response: string }
  | { kind: 'local-key' | 'uid-only'; uid: string }
  | { kind: 'reader-verified'; number: string };

/** The grant's form for one tap (re-open, or the first step of a login). */
export type BadgeTapParams =
  | { [BADGE_PARAM.proof]: 'desfire'; [BADGE_PARAM.challenge]: string; [BADGE_PARAM.response]: string }
  | { [BADGE_PARAM.proof]: 'local-key' | 'uid-only'; [BADGE_PARAM.uid]: string }
  | { [BADGE_PARAM.proof]: 'reader-verified'; [BADGE_PARAM.number]: string };

/** The grant's form for the code step of a first login. */
export type BadgeCodeParams = {
  [BADGE_PARAM.ticket]: string;
  [BADGE_PARAM.secret]: string;
};

export function badgeTapParams(p: BadgeProof): BadgeTapParams {
  switch (p.kind) {
    case 'desfire':
      return { badge_proof: 'desfire', badge_challenge: p.challenge, badge_response: p.response };
    case 'reader-verified':
      return { badge_proof: 'reader-verified', badge_number: p.number };
    default:
      return { badge_proof: p.kind, badge_uid: p.uid };
  }
}

export function badgeCodeParams(ticket: string, secret: string): BadgeCodeParams {
  return { login_ticket: ticket, secret };
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const B64URL = /^[A-Za-z0-9_-]*$/;
/** Length of the unpadded base64url text of `n` bytes. */
const b64Len = (n: number) => Math.ceil((n * 4) / 3);
/** Bytes in an unpadded base64url text (a valid one). */
const b64Bytes = (s: string | undefined) => Math.floor(((s ?? '').length * 3) / 4);

/** A base64url string of `bytes` bytes (one of them when several are allowed). */
export function isB64url(v: unknown, bytes?: number | readonly number[], max = 4096): v is string {
  if (typeof v !== 'string' || v.length > max || !B64URL.test(v) || v.length % 4 === 1) return false;
  if (bytes === undefined) return true;
  return (typeof bytes === 'number' ? [bytes] : bytes).some((n) => v.length === b64Len(n));
}

/** Printable ASCII identifiers only (no NUL, no control characters, bounded). */
const IDENT = /^[\x21-\x7e]{1,64}$/;

/**
 * A chip UID: 4, 7 or 10 bytes in hex (normalised upper case), or a reader's card number for UID-only
 * readers (printable, at most 64 characters). Null when it is neither.
 */
export function normaliseUid(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const s = v.trim();
  if (/^[0-9a-fA-F]+$/.test(s)) return [8, 14, 20].includes(s.length) ? s.toUpperCase() : null;
  return IDENT.test(s) ? s : null;
}

/** The badge number a reader emits or IT writes in the directory (printable, at most 64 characters). */
export function normaliseBadgeNumber(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const s = v.trim();
  return /^[\x20-\x7e]{1,64}$/.test(s) ? s : null;
}

/** Sealed handles and tickets are base64url and small. */
const isHandle = (v: unknown): v is string => isB64url(v, undefined, 1024) && (v as string).length >= 40;

/** The proof of a tap from the grant's (or the enrolment's) parameters. */
export function parseBadgeProof(p: Record<string, unknown>): Parsed<BadgeProof> {
  const kind = p[BADGE_PARAM.proof];
  switch (kind) {
    case 'desfire': {
      const challenge = p[BADGE_PARAM.challenge];
      const response = p[BADGE_PARAM.response];
      if (!isHandle(challenge)) return { ok: false, error: `${BADGE_PARAM.challenge}: a relay challenge is required` };
      if (!isB64url(response, [16, 32]))
        return { ok: false, error: `${BADGE_PARAM.response}: the card's answer, 16 or 32 bytes base64url` };
      return { ok: true, value: { kind, challenge, response } };
    }
    case 'local-key':
    case 'uid-only': {
      const uid = normaliseUid(p[BADGE_PARAM.uid]);
      if (!uid) return { ok: false, error: `${BADGE_PARAM.uid}: a chip UID is required` };
      return { ok: true, value: { kind, uid } };
    }
    case 'reader-verified': {
      const number = normaliseBadgeNumber(p[BADGE_PARAM.number]);
      if (!number) return { ok: false, error: `${BADGE_PARAM.number}: the reader's badge identifier is required` };
      return { ok: true, value: { kind, number } };
    }
    default:
      return { ok: false, error: `${BADGE_PARAM.proof}: one of desfire, local-key, reader-verified, uid-only` };
  }
}

/** A tap's max_age in seconds, null when absent; a malformed one is refused. */
export function parseMaxAge(p: Record<string, unknown>): Parsed<number | null> {
  const v = p[BADGE_PARAM.maxAge];
  if (v === undefined) return { ok: true, value: null };
  if (typeof v !== 'string' || !/^\d{1,9}$/.test(v)) return { ok: false, error: `${BADGE_PARAM.maxAge}: seconds` };
  return { ok: true, value: Number(v) };
}

/** The code step's parameters, or null when the request is not one. */
export function parseBadgeCode(p: Record<string, unknown>): Parsed<{ ticket: string; secret: string }> | null {
  const ticket = p[BADGE_PARAM.ticket];
  const secret = p[BADGE_PARAM.secret];
  if (ticket === undefined && secret === undefined) return null;
  if (!isHandle(ticket)) return { ok: false, error: `${BADGE_PARAM.ticket}: the ticket of the badge tap is required` };
  if (typeof secret !== 'string' || !/^[\x20-\x7e]{1,64}$/.test(secret))
    return { ok: false, error: `${BADGE_PARAM.secret}: the code is required` };
  return { ok: true, value: { ticket, secret } };
}

// ── The first login ─────────────────────────────────────────────────────────────────────────────

/**
 * A re-open refused because no roaming session is open (`sillage_error: mfa_required`): after a proven
 * badge only, the ticket of the code step and the name the PIN pad shows. A wrong code answers
 * `secret_wrong` with a new ticket while tries remain.
 */
export interface BadgeMfaRequired {
  sillage_error: 'mfa_required';
  second_factor: 'pin';
  login_ticket: string;
  display_name: string;
  given_name: string;
  family_name: string;
  idnat: string | null;
  profession: string | null;
}

/** The `sillage_error` codes of the badge grant and the enrolment (declared in errors.ts). */
export const BADGE_ERROR = {
  mfaRequired: 'mfa_required',
  /** The card's answer does not prove the key (clone, forged answer). */
  notGenuine: 'badge_not_genuine',
  /** A challenge or ticket used twice. */
  replayed: 'badge_replayed',
  /** A challenge or ticket past its few seconds (tap again). */
  expired: 'badge_expired',
  /** A challenge or ticket handed to another workstation. */
  otherWorkstation: 'badge_other_workstation',
  /** A proof the server's policy does not accept (workstation's or reader's word, UID). */
  weakProof: 'badge_weak',
  unknown: 'badge_unknown',
  revoked: 'badge_revoked',
  disabled: 'badge_disabled',
  secretWrong: 'secret_wrong',
  secretLocked: 'secret_locked',
  noSecret: 'no_secret',
  /** Too many wrong codes from this workstation: wait. */
  rateLimited: 'code_rate_limited',
  taken: 'badge_taken',
  needsCpsLogin: 'enrolment_needs_cps_login',
} as const satisfies Record<string, SillageError>;

export type BadgeErrorCode = (typeof BADGE_ERROR)[keyof typeof BADGE_ERROR];

// ── DESFire key relay (POST /sillage/desfire/auth/begin|finish, signed by the workstation) ──────────

export const RELAY_PATH = { begin: 'sillage/desfire/auth/begin', finish: 'sillage/desfire/auth/finish' } as const;

export type AuthScheme = 'ev2' | 'aes';

/**
 * Step 1 of a badge's mutual authentication. With `uid`, the key is the one diversified for that chip
 * (AN10922: M = UID || AID || systemId), and the answer is redeemed by a grant or an enrolment. Without
 * it, the application's shared key (random-UID badges read their UID with it), redeemed by `finish`.
 * Every field base64url.
 */
export interface RelayBeginRequest {
  scheme: AuthScheme;
  /** AID as sent on the wire (least significant byte first), 3 bytes. */
  aid: string;
  keyNo: number;
  uid?: string;
  systemId?: string;
  /** How the badge key derives from the master (the badge profile's); absent: AN10922. */
  diversification?: Diversification;
  /** The card's first answer E(K, RndB), 16 bytes. */
  encRndB: string;
}

export interface RelayBeginResponse {
  /** Sealed, single-use, bound to the workstation and key reference, valid a few seconds. */
  handle: string;
  /** E(K, RndA || rot(RndB)) for the card, 32 bytes. */
  reply: string;
}

export interface RelayFinishRequest {
  handle: string;
  cardReply: string;
}

export type RelayFinishResponse =
  { scheme: 'ev2'; ti: string; enc: string; mac: string } | { scheme: 'aes'; key: string };

export function parseRelayBegin(b: Record<string, unknown>): Parsed<RelayBeginRequest> {
  if (b.scheme !== 'ev2' && b.scheme !== 'aes') return { ok: false, error: 'scheme: ev2 or aes' };
  if (!isB64url(b.aid, 3)) return { ok: false, error: 'aid: 3 bytes base64url' };
  if (!Number.isInteger(b.keyNo) || (b.keyNo as number) < 0 || (b.keyNo as number) > 13)
    return { ok: false, error: 'keyNo: 0-13' };
  if (b.uid !== undefined && !isB64url(b.uid, [4, 7, 10])) return { ok: false, error: 'uid: 4, 7 or 10 bytes' };
  // AN10922 M = UID || AID || system identifier is 31 bytes at most.
  if (
    b.systemId !== undefined &&
    (!isB64url(b.systemId, undefined, 64) || b64Bytes(b.uid as string) + 3 + b64Bytes(b.systemId) > 31)
  )
    return { ok: false, error: 'systemId: UID, AID and system identifier 31 bytes at most' };
  if (b.systemId !== undefined && b.uid === undefined)
    return { ok: false, error: 'systemId: only with a uid (diversified key)' };
  if (b.diversification !== undefined && !isDiversification(b.diversification))
    return { ok: false, error: 'diversification: an10922 or legacy-unpadded' };
  if (!isB64url(b.encRndB, 16)) return { ok: false, error: 'encRndB: 16 bytes' };
  return {
    ok: true,
    value: {
      scheme: b.scheme,
      aid: b.aid,
      keyNo: b.keyNo as number,
      encRndB: b.encRndB,
      ...(b.uid !== undefined ? { uid: b.uid as string } : {}),
      ...(b.systemId !== undefined ? { systemId: b.systemId as string } : {}),
      ...(b.diversification !== undefined ? { diversification: b.diversification } : {}),
    },
  };
}

export function parseRelayBeginResponse(b: Record<string, unknown>): Parsed<RelayBeginResponse> {
  if (!isHandle(b.handle) || !isB64url(b.reply, 32)) return { ok: false, error: 'malformed relay answer' };
  return { ok: true, value: { handle: b.handle, reply: b.reply } };
}

export function parseRelayFinish(b: Record<string, unknown>): Parsed<RelayFinishRequest> {
  if (!isHandle(b.handle)) return { ok: false, error: 'handle: malformed' };
  if (!isB64url(b.cardReply, [16, 32])) return { ok: false, error: 'cardReply: 16 or 32 bytes' };
  return { ok: true, value: { handle: b.handle, cardReply: b.cardReply } };
}

export function parseRelayFinishResponse(b: Record<string, unknown>): Parsed<RelayFinishResponse> {
  if (b.scheme === 'ev2' && isB64url(b.ti, 4) && isB64url(b.enc, 16) && isB64url(b.mac, 16))
    return { ok: true, value: { scheme: 'ev2', ti: b.ti, enc: b.enc, mac: b.mac } };
  if (b.scheme === 'aes' && isB64url(b.key, 16)) return { ok: true, value: { scheme: 'aes', key: b.key } };
  return { ok: false, error: 'malformed relay session keys' };
}

// ── Badge self-enrolment (POST /sillage/badges, bearer token of a CPS login) ─────────────────────────

export const BADGE_ENROL_PATH = 'sillage/badges';

/** The badge's relay proof (same names as the grant's) and, optionally, the number printed on it. */
export type BadgeEnrolRequest = Extract<BadgeTapParams, { badge_proof: 'desfire' }> & {
  [BADGE_PARAM.number]?: string;
};

export function badgeEnrolRequest(proof: Extract<BadgeProof, { kind: 'desfire' }>, number?: string): BadgeEnrolRequest {
  return {
    ...(badgeTapParams(proof) as Extract<BadgeTapParams, { badge_proof: 'desfire' }>),
    ...(number ? { badge_number: number } : {}),
  };
}

/**
 * `amr` of the badge factor by proof: `hwk` (RFC 8176: proof of possession of a hardware-secured key)
 * only when the server checked the card's answer itself; the other kinds say whose word it was.
 */
export const BADGE_AMR: Readonly<Record<BadgeProofKind, string>> = {
  desfire: 'hwk',
  'local-key': 'badge-ws',
  'reader-verified': 'badge-reader',
  'uid-only': 'badge-uid',
};
