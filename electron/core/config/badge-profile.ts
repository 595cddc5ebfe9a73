// A badge profile as the BadgeProfiles policy or a profile file writes it: which DESFire application, key and
// file hold the hospital's badge number. Configuration checks it when a setting is read; the badge reader uses it.
import { isDiversification } from '@sillage/protocol';
import type { AuthScheme, Diversification } from '@sillage/protocol';

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
