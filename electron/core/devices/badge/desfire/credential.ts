// Badge credential: what a tap yields. A configured profile names the application and key; the badge is
// authenticated with its own diversified key and the tap's proof is the card's answer (relay: to the
// session server's challenge, checked there; local key: checked here). A copied UID, or a card with the
// right UID and the wrong key, yields nothing the server accepts. Tap path, fixed-UID badges: UID, select,
// authenticate (2 frames) = 4 APDUs. Random-UID badges first authenticate with the application's shared
// UID key and read their real UID (GetCardUID), because the diversification needs it. The encoding tool's
// check (readBadgeNumber) also reads the badge number from the credential file. Every DESFire transport
// (a PC/SC reader, a demo reader's emulated card) reads a tap through readBadge: one path, demo included.
import type { BadgeProof as WireProof } from '@sillage/protocol';
import type { BadgeProof } from '../../../../../shared/contract';
import type { BadgeProfile } from '../../../config/badge-profile';
import type { KeyCustody, KeyRef } from './custody';
import { aidBytes, DesfireCard } from './protocol';
import { DesfireError } from './errors';
import type { DesfireErrorCode } from './errors';
import type { ApduTransport, BadgeRead, BadgeRefusalCode } from '../../types';

export interface BadgeCredential {
  /** The chip's UID (hex): the real one for random-UID badges, what the agent knows the badge by. */
  uid: string;
  /** The tap's proof for the session server: used once, within seconds. */
  proof: WireProof;
  /** How strongly it was proven (shown and audited). */
  strength: BadgeProof;
  profile: string | null;
  apdus: number;
}

/** Random UIDs (privacy mode) are 4 bytes starting with 0x08 (ISO 14443-3). */
export const isRandomUid = (uid: Buffer) => uid.length === 4 && uid[0] === 0x08;

/** The file holds a printable badge number (padded with zeros) or raw bytes shown in hex. */
export function badgeNumberOf(data: Buffer): string {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  const body = data.subarray(0, end);
  if (body.length && body.every((b) => b >= 0x20 && b < 0x7f)) return body.toString('ascii');
  return body.toString('hex').toUpperCase();
}

/** Why a tap gave no proof: the badge failed its authentication, a read that failed, no known application. */
export const TAP_REFUSALS = [
  'badge-not-genuine',
  'badge-read-failed',
  'badge-no-profile',
  'custody-unavailable',
] as const;

export class BadgeRefused extends Error {
  constructor(
    readonly code: (typeof TAP_REFUSALS)[number],
    message: string,
    override readonly cause?: DesfireError,
  ) {
    super(message);
  }
}

/** The profile's application selected and the chip's real UID: the key reference of the badge's own key. */
async function badgeKeyRef(
  card: DesfireCard,
  p: BadgeProfile,
  seenUid: Buffer,
  custody: KeyCustody,
): Promise<KeyRef | null> {
  const aid = aidBytes(p.aid);
  try {
    await card.selectApplication(aid);
  } catch (e) {
    if (e instanceof DesfireError && e.code === 'status') return null; // not this profile's badge
    throw e;
  }
  let uid = seenUid;
  if (isRandomUid(seenUid)) {
    if (p.uidKeyNo === undefined)
      throw new BadgeRefused(
        'badge-read-failed',
        `badge à UID aléatoire : le profil ${p.name} n'a pas de clé de lecture d'UID (uidKeyNo)`,
      );
    await card.authenticate('ev2', p.uidKeyNo, custody, {
      aid,
      keyNo: p.uidKeyNo,
      uid: null,
      systemId: Buffer.alloc(0),
    });
    uid = await card.getCardUid();
  }
  return {
    aid,
    keyNo: p.keyNo,
    uid,
    systemId: Buffer.from(p.systemId ?? '', 'hex'),
    diversification: p.diversification ?? 'an10922',
  };
}

const notGenuine = (ref: KeyRef, e: DesfireError) =>
  new BadgeRefused(
    'badge-not-genuine',
    `badge non authentique (UID ${ref.uid!.toString('hex').toUpperCase()}) : ${e.message}`,
    e,
  );

/**
 * The card → tap boundary: every way a DESFire exchange fails, as the reason the tap gave no proof. Only a
 * failed mutual authentication says the badge is not genuine; a server that keeps the keys out of reach
 * is the server's fault; the rest is a tap to try again.
 */
const DESFIRE_REFUSAL: Record<DesfireErrorCode, BadgeRefused['code']> = {
  'auth-failed': 'badge-not-genuine',
  'custody-unavailable': 'custody-unavailable',
  removed: 'badge-read-failed',
  malformed: 'badge-read-failed',
  integrity: 'badge-read-failed',
  status: 'badge-read-failed',
  unsupported: 'badge-read-failed',
};

function refusal(e: unknown): unknown {
  if (e instanceof BadgeRefused || !(e instanceof DesfireError)) return e;
  return new BadgeRefused(DESFIRE_REFUSAL[e.code], e.message, e);
}

/**
 * One tap: the badge authenticated with each profile's key until one application answers, and the proof
 * of it for the session server. No profile matches (the application is absent) → a UID-only proof,
 * which the agent sends only when policy allows it (and the server accepts only when its own does).
 */
export async function readBadgeCredential(
  transport: ApduTransport,
  profiles: BadgeProfile[],
  custody: KeyCustody,
  opts: { allowUidOnly?: boolean } = {},
): Promise<BadgeCredential> {
  const card = new DesfireCard(transport);
  try {
    const seenUid = await card.anticollisionUid();
    for (const p of profiles) {
      const ref = await badgeKeyRef(card, p, seenUid, custody);
      if (!ref) continue;
      let proof: WireProof;
      try {
        const answer = await card.challenge(p.auth ?? 'ev2', p.keyNo, custody, ref);
        proof = await custody.proof(answer.handle, answer.cardReply, ref);
      } catch (e) {
        if (e instanceof DesfireError && e.code === 'auth-failed') throw notGenuine(ref, e);
        throw e;
      }
      return {
        uid: ref.uid!.toString('hex').toUpperCase(),
        proof,
        strength: 'desfire-aes-diversified',
        profile: p.name,
        apdus: card.apdus,
      };
    }
    if (isRandomUid(seenUid))
      throw new BadgeRefused('badge-no-profile', 'badge à UID aléatoire sans application connue : illisible');
    if (!opts.allowUidOnly && profiles.length)
      throw new BadgeRefused(
        'badge-no-profile',
        "badge sans l'application de l'établissement : faites-le encoder par le support",
      );
    const uid = seenUid.toString('hex').toUpperCase();
    return { uid, proof: { kind: 'uid-only', uid }, strength: 'uid-only', profile: null, apdus: card.apdus };
  } catch (e) {
    card.reset();
    throw refusal(e);
  }
}

export interface BadgeReading {
  profiles: () => BadgeProfile[];
  custody: KeyCustody;
  allowUidOnly: () => boolean;
  /** Per APDU on a PC/SC reader (default: TRANSMIT_TIMEOUT_MS in devices/pcsc.ts). */
  transmitTimeoutMs?: number;
}

export type BadgeOutcome =
  { ok: true; badge: BadgeRead; credential: BadgeCredential } | { ok: false; code: BadgeRefusalCode; message: string };

const CODES: Record<BadgeRefused['code'], BadgeRefusalCode> = {
  'badge-not-genuine': 'badge-not-genuine',
  'badge-no-profile': 'badge-not-encoded',
  'custody-unavailable': 'server-unreachable',
  'badge-read-failed': 'badge-unreadable',
};

/**
 * The tap → engine boundary: why a tap gave no proof (a refusal, a DESFire failure), as the contract's
 * code the user reads; any other exception is a tap to try again.
 */
export function tapRefusal(e: unknown): { code: BadgeRefusalCode; message: string } {
  const r = refusal(e);
  if (r instanceof BadgeRefused) return { code: CODES[r.code], message: r.message };
  return { code: 'badge-unreadable', message: (e as Error)?.message ?? String(e) };
}

/** One tap on any DESFire transport → the badge's proof, or why not as a typed refusal. */
export async function readBadge(
  t: ApduTransport,
  reader: string,
  cardType: string,
  how: BadgeReading,
): Promise<BadgeOutcome> {
  try {
    const credential = await readBadgeCredential(t, how.profiles(), how.custody, {
      allowUidOnly: how.allowUidOnly(),
    });
    return {
      ok: true,
      credential,
      badge: { reader, cardType, chipId: credential.uid, strength: credential.strength, proof: credential.proof },
    };
  } catch (e) {
    return { ok: false, ...tapRefusal(e) };
  }
}

/**
 * The encoding tool's check: the badge authenticated with its diversified key (keys held here), then the
 * badge number read from the credential file under that session's secure messaging.
 */
export async function readBadgeNumber(
  transport: ApduTransport,
  profile: BadgeProfile,
  custody: KeyCustody,
): Promise<{ number: string; uid: string; apdus: number }> {
  const card = new DesfireCard(transport);
  try {
    const ref = await badgeKeyRef(card, profile, await card.anticollisionUid(), custody);
    if (!ref) throw new BadgeRefused('badge-no-profile', `application ${profile.aid} absente du badge`);
    try {
      await card.authenticate(profile.auth ?? 'ev2', profile.keyNo, custody, ref);
    } catch (e) {
      if (e instanceof DesfireError && e.code === 'auth-failed') throw notGenuine(ref, e);
      throw e;
    }
    const data = await card.readData(profile.fileNo, profile.offset ?? 0, profile.length, profile.mode);
    return { number: badgeNumberOf(data), uid: ref.uid!.toString('hex').toUpperCase(), apdus: card.apdus };
  } catch (e) {
    throw refusal(e);
  } finally {
    // The session keys served this one read.
    card.reset();
  }
}
