// DESFire badges on PC/SC contactless readers: a SHARED connection (other software may use the reader),
// the credential read through the configured profiles, then the connection is left (the badge stays
// in the field; a later tap is a new presence). Errors become typed refusals, never a half-read badge.
import type { CardReader } from '../../../native/pcsclite';
import type { BadgeRead, BadgeRefusalCode } from '../readers/types';
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
  { ok: true; badge: BadgeRead; credential: BadgeCredential } | { ok: false; code: BadgeRefusalCode; message: string };

function connect(reader: CardReader): Promise<number> {
  return new Promise((resolve, reject) =>
    reader.connect(
      { share_mode: reader.SCARD_SHARE_SHARED, protocol: reader.SCARD_PROTOCOL_T1 | reader.SCARD_PROTOCOL_T0 },
      (err, p) => (err ? reject(err) : resolve(p)),
    ),
  );
}

function disconnect(reader: CardReader): Promise<void> {
  return new Promise((resolve) => {
    if (!reader.connected) return resolve();
    reader.disconnect(reader.SCARD_LEAVE_CARD, () => resolve());
  });
}

function pcscTransport(reader: CardReader, protocol: number): ApduTransport {
  return {
    transmit: (apdu) =>
      new Promise((resolve, reject) =>
        reader.transmit(apdu, 258, protocol, (err, data) =>
          err ? reject(new DesfireError('removed', `badge retiré ou lecteur perdu (${err.message})`)) : resolve(data),
        ),
      ),
  };
}

/**
 * A SHARED connection to the card on `reader` for the length of `fn`, then left (LEAVE_CARD). Rejects only
 * when the connection cannot be made; what `fn` throws passes through after the disconnection.
 */
export async function withSharedTransport<T>(reader: CardReader, fn: (t: ApduTransport) => Promise<T>): Promise<T> {
  const protocol = await connect(reader);
  try {
    return await fn(pcscTransport(reader, protocol));
  } finally {
    await disconnect(reader);
  }
}

/** One tap on a PC/SC reader → a proven badge, or why not. */
export async function readPcscBadge(reader: CardReader, cardType: string, how: BadgeReading): Promise<BadgeOutcome> {
  const read = async (t: ApduTransport): Promise<BadgeOutcome> => {
    try {
      const credential = await readBadgeCredential(t, how.profiles(), how.custody, {
        allowUidOnly: how.allowUidOnly(),
      });
      return {
        ok: true,
        credential,
        badge: { reader: reader.name, badgeId: credential.badgeId, proof: credential.proof, cardType },
      };
    } catch (e) {
      if (e instanceof BadgeRefused) {
        const code = (
          {
            'badge-not-genuine': 'badge-not-genuine',
            'badge-no-profile': 'badge-not-encoded',
            'custody-unavailable': 'server-unreachable',
            'badge-read-failed': 'badge-unreadable',
          } as const
        )[e.code];
        return { ok: false, code, message: e.message };
      }
      return { ok: false, code: 'badge-unreadable', message: (e as Error).message };
    }
  };
  try {
    return await withSharedTransport(reader, read);
  } catch (e) {
    return { ok: false, code: 'badge-unreadable', message: `connexion au badge impossible : ${(e as Error).message}` };
  }
}
