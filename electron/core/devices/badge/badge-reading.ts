// One tap on any DESFire transport (a PC/SC reader, a demo reader's emulated card) → the badge's proof,
// or why not as a typed refusal: the same path for every reader, demo ones included.
import type { BadgeRead, BadgeRefusalCode } from '../types';
import { BadgeRefused, readBadgeCredential } from './desfire/credential';
import type { BadgeCredential } from './desfire/credential';
import type { KeyCustody } from './desfire/custody';
import type { ApduTransport } from '../types';
import type { BadgeProfile } from '../../config/badge-profile';

export interface BadgeReading {
  profiles: () => BadgeProfile[];
  custody: KeyCustody;
  allowUidOnly: () => boolean;
  /** Per APDU on a PC/SC reader (default TRANSMIT_TIMEOUT_MS). */
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
    if (e instanceof BadgeRefused) return { ok: false, code: CODES[e.code], message: e.message };
    return { ok: false, code: 'badge-unreadable', message: (e as Error).message };
  }
}
