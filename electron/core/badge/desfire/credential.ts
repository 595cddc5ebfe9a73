// Badge credential: what a tap yields. A configured profile names the application, key and file; the file
// is read only after a mutual authentication with the badge's own diversified key, so a copied UID (or
// a card with the right UID and the wrong key) yields nothing. Tap path, fixed-UID badges: UID, select,
// authenticate (2 frames), read = 5 APDUs. Random-UID badges add an authentication with a shared UID key
// and GetCardUID (7 APDUs) because the diversification needs the real UID.
import type { BadgeProof } from '../../../../shared/contract';
import { isDiversification } from '@sillage/protocol';
import type { Diversification } from './crypto';
import type { AuthScheme, KeyCustody } from './custody';
import { aidBytes, DesfireCard, DesfireError } from './protocol';
import type { ApduTransport } from './protocol';

/**
 * How the badge number is read after the authentication: with a MAC (`mac`) or encrypted and MACed
 * (`full`). `plain` is not offered: a plain answer carries no MAC, so nothing binds it to the card that
 * just authenticated (a relay could swap the number).
 */
export type ProfileReadMode = 'mac' | 'full';

export interface BadgeProfile {
  name: string;
  /** Application AID as written ("F51230"). */
  aid: string;
  keyNo: number;
  fileNo: number;
  offset?: number;
  /** Bytes to read; the file holds the hospital's badge number. */
  length: number;
  mode: ProfileReadMode;
  /** EV2First (EV2/EV3 cards, default) or legacy AuthenticateAES (EV1). */
  auth?: AuthScheme;
  /** AN10922 system identifier (hex), appended to UID || AID. */
  systemId?: string;
  /** For random-UID badges: a non-diversified key number of the application allowed GetCardUID. */
  uidKeyNo?: number;
  /**
   * How badge keys derive from the master: `an10922` (the spec, default) or `legacy-unpadded` for badges
   * encoded by Sillage versions without this field (see @sillage/protocol).
   */
  diversification?: Diversification;
}

/** What is wrong with a profile as written (policy or profile file), in French; null when it is usable. */
export function badgeProfileProblem(o: Record<string, unknown>): string | null {
  if (typeof o.name !== 'string' || !o.name) return 'name requis';
  const who = `profil « ${o.name} »`;
  if (typeof o.aid !== 'string' || !/^[0-9A-Fa-f]{6}$/.test(o.aid))
    return `${who} : aid : 3 octets hexadécimaux (ex. F51230)`;
  if (!Number.isInteger(o.keyNo) || (o.keyNo as number) < 0 || (o.keyNo as number) > 13)
    return `${who} : keyNo : 0 à 13`;
  if (!Number.isInteger(o.fileNo) || (o.fileNo as number) < 0 || (o.fileNo as number) > 31)
    return `${who} : fileNo : 0 à 31`;
  if (o.mode === 'plain')
    return `${who} : mode plain refusé (le numéro lu en clair n'est pas lié au badge authentifié) : mac ou full`;
  if (o.mode !== undefined && o.mode !== 'mac' && o.mode !== 'full') return `${who} : mode : mac ou full`;
  if (o.length !== undefined && (!Number.isInteger(o.length) || (o.length as number) < 1 || (o.length as number) > 240))
    return `${who} : length : 1 à 240 octets`;
  if (o.offset !== undefined && (!Number.isInteger(o.offset) || (o.offset as number) < 0))
    return `${who} : offset : entier positif`;
  if (o.auth !== undefined && o.auth !== 'ev2' && o.auth !== 'aes') return `${who} : auth : ev2 ou aes`;
  if (o.systemId !== undefined && (typeof o.systemId !== 'string' || !/^([0-9A-Fa-f]{2}){0,21}$/.test(o.systemId)))
    return `${who} : systemId : hexadécimal, 21 octets au plus`;
  if (
    o.uidKeyNo !== undefined &&
    (!Number.isInteger(o.uidKeyNo) || (o.uidKeyNo as number) < 0 || (o.uidKeyNo as number) > 13)
  )
    return `${who} : uidKeyNo : 0 à 13`;
  if (o.diversification !== undefined && !isDiversification(o.diversification))
    return `${who} : diversification : an10922 ou legacy-unpadded`;
  return null;
}

/** A profile as written in the BadgeProfiles policy or a profile file: read length and mode may be left out. */
export function withProfileDefaults(p: Partial<BadgeProfile>): BadgeProfile {
  return { length: 16, mode: 'mac', ...p } as BadgeProfile;
}

export interface BadgeCredential {
  badgeId: string;
  proof: BadgeProof;
  profile: string | null;
  uid: string;
  apdus: number;
}

/** Random UIDs (privacy mode) are 4 bytes starting with 0x08 (ISO 14443-3). */
export const isRandomUid = (uid: Buffer) => uid.length === 4 && uid[0] === 0x08;

export function diversificationInput(uid: Buffer, aid: Buffer, systemId: string | undefined): Buffer {
  return Buffer.concat([uid, aid, Buffer.from(systemId ?? '', 'hex')]);
}

/** The file holds a printable badge number (padded with zeros) or raw bytes shown in hex. */
export function badgeIdOf(data: Buffer): string {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  const body = data.subarray(0, end);
  if (body.length && body.every((b) => b >= 0x20 && b < 0x7f)) return body.toString('ascii');
  return body.toString('hex').toUpperCase();
}

export class BadgeRefused extends Error {
  constructor(
    readonly code: 'badge-not-genuine' | 'badge-read-failed' | 'badge-no-profile' | 'custody-unavailable',
    message: string,
    override readonly cause?: DesfireError,
  ) {
    super(message);
  }
}

/**
 * Authenticates the badge with each profile's key and reads its credential. No profile matches (the
 * application is absent) → UID-only credential, which login and re-open refuse unless policy allows it.
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
      const aid = aidBytes(p.aid);
      const scheme = p.auth ?? 'ev2';
      try {
        await card.selectApplication(aid);
      } catch (e) {
        if (e instanceof DesfireError && e.code === 'status') continue; // not this profile's badge
        throw e;
      }
      let uid = seenUid;
      if (isRandomUid(seenUid)) {
        if (p.uidKeyNo === undefined)
          throw new BadgeRefused(
            'badge-read-failed',
            `badge à UID aléatoire : le profil ${p.name} n'a pas de clé de lecture d'UID (uidKeyNo)`,
          );
        await card.authenticate('ev2', p.uidKeyNo, custody, { aid, keyNo: p.uidKeyNo, divInput: Buffer.alloc(0) });
        uid = await card.getCardUid();
      }
      try {
        await card.authenticate(scheme, p.keyNo, custody, {
          aid,
          keyNo: p.keyNo,
          divInput: diversificationInput(uid, aid, p.systemId),
          diversification: p.diversification ?? 'an10922',
        });
      } catch (e) {
        if (e instanceof DesfireError && e.code === 'auth-failed')
          throw new BadgeRefused(
            'badge-not-genuine',
            `badge non authentique (UID ${uid.toString('hex').toUpperCase()}) : ${e.message}`,
            e,
          );
        throw e;
      }
      const data = await card.readData(p.fileNo, p.offset ?? 0, p.length, p.mode);
      return {
        badgeId: badgeIdOf(data),
        proof: 'desfire-aes-diversified',
        profile: p.name,
        uid: uid.toString('hex').toUpperCase(),
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
    return {
      badgeId: `uid:${seenUid.toString('hex').toUpperCase()}`,
      proof: 'uid-only',
      profile: null,
      uid: seenUid.toString('hex').toUpperCase(),
      apdus: card.apdus,
    };
  } catch (e) {
    card.reset();
    if (e instanceof BadgeRefused) throw e;
    if (e instanceof DesfireError)
      throw new BadgeRefused(
        e.code === 'auth-failed'
          ? 'badge-not-genuine'
          : e.code === 'custody-unavailable'
            ? 'custody-unavailable'
            : 'badge-read-failed',
        e.message,
        e,
      );
    throw e;
  }
}
