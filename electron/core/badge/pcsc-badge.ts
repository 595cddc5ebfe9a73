// DESFire badges on PC/SC contactless readers: a SHARED connection (other software may use the reader),
// the credential read through the configured profiles, then the connection is left (the badge stays
// in the field; a later tap is a new presence). Errors become typed refusals, never a half-read badge.
import type { CardReader } from '../../../native/pcsclite';
import type { BadgeRead } from '../readers/types';
import { BadgeRefused, readBadgeCredential } from './desfire/credential';
import type { BadgeCredential, BadgeProfile } from './desfire/credential';
import type { KeyCustody } from './desfire/custody';
import { DesfireError } from './desfire/protocol';
import type { ApduTransport } from './desfire/protocol';

export interface BadgeReading {
  profiles: () => BadgeProfile[];
  custody: KeyCustody;
  allowUidOnly: () => boolean;
}

export type BadgeOutcome =
  | { ok: true; badge: BadgeRead; credential: BadgeCredential }
  | { ok: false; code: 'badge-not-genuine' | 'badge-unreadable' | 'badge-not-encoded' | 'server-unreachable'; message: string };

function connect(reader: CardReader): Promise<number> {
  return new Promise((resolve, reject) => reader.connect({ share_mode: reader.SCARD_SHARE_SHARED, protocol: reader.SCARD_PROTOCOL_T1 | reader.SCARD_PROTOCOL_T0 }, (err, p) => (err ? reject(err) : resolve(p))));
}

function disconnect(reader: CardReader): Promise<void> {
  return new Promise((resolve) => {
    if (!reader.connected) return resolve();
    reader.disconnect(reader.SCARD_LEAVE_CARD, () => resolve());
  });
}

export function pcscTransport(reader: CardReader, protocol: number): ApduTransport {
  return {
    transmit: (apdu) =>
      new Promise((resolve, reject) =>
        reader.transmit(apdu, 258, protocol, (err, data) => (err ? reject(new DesfireError('removed', `badge retiré ou lecteur perdu (${err.message})`)) : resolve(data))),
      ),
  };
}

/** One tap on a PC/SC reader → a proven badge, or why not. */
export async function readPcscBadge(reader: CardReader, cardType: string, how: BadgeReading): Promise<BadgeOutcome> {
  let protocol: number;
  try {
    protocol = await connect(reader);
  } catch (e) {
    return { ok: false, code: 'badge-unreadable', message: `connexion au badge impossible : ${(e as Error).message}` };
  }
  try {
    const credential = await readBadgeCredential(pcscTransport(reader, protocol), how.profiles(), how.custody, { allowUidOnly: how.allowUidOnly() });
    return { ok: true, credential, badge: { reader: reader.name, badgeId: credential.badgeId, proof: credential.proof, cardType } };
  } catch (e) {
    if (e instanceof BadgeRefused) {
      const code = ({ 'badge-not-genuine': 'badge-not-genuine', 'badge-no-profile': 'badge-not-encoded', 'custody-unavailable': 'server-unreachable', 'badge-read-failed': 'badge-unreadable' } as const)[e.code];
      return { ok: false, code, message: e.message };
    }
    return { ok: false, code: 'badge-unreadable', message: (e as Error).message };
  } finally {
    await disconnect(reader);
  }
}
