// DESFire badges on PC/SC contactless readers: a SHARED connection (other software may use the reader),
// the credential read through the configured profiles, then the connection is left (the badge stays
// in the field; a later tap is a new presence). Errors become typed refusals, never a half-read badge.
// A card that stops answering (a badge half out of the field, a faulty chip) holds the exchange in
// pcscd and in pcsclite (its worker thread and the reader's lock) until it leaves: each APDU gets a
// bounded time, the read then fails as any lost badge, and nothing more is queued on that reader (no
// disconnect, no new connection) until the held exchange ends.
import type { CardReader } from '../../../../native/pcsclite';
import { readBadge } from './badge-reading';
import type { BadgeOutcome, BadgeReading } from './badge-reading';
import { DesfireError } from './desfire/errors';
import type { ApduTransport } from '../types';

function connect(reader: CardReader): Promise<number> {
  return new Promise((resolve, reject) =>
    reader.connect(
      { share_mode: reader.SCARD_SHARE_SHARED, protocol: reader.SCARD_PROTOCOL_T1 | reader.SCARD_PROTOCOL_T0 },
      (err, p) => (err ? reject(err) : resolve(p)),
    ),
  );
}

/** How long one APDU may take before the card counts as gone (DESFire answers in milliseconds). */
export const TRANSMIT_TIMEOUT_MS = 2000;

/** Per reader: an exchange still held by a card that stopped answering; settles when it ends. */
const held = new WeakMap<CardReader, Promise<void>>();

function disconnect(reader: CardReader): Promise<void> {
  const h = held.get(reader);
  // Queued behind a held exchange it would only take another worker thread: leave it for then.
  if (h) {
    void h.then(() => disconnect(reader));
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    if (!reader.connected) return resolve();
    reader.disconnect(reader.SCARD_LEAVE_CARD, () => resolve());
  });
}

function pcscTransport(reader: CardReader, protocol: number, timeoutMs: number): ApduTransport {
  return {
    transmit: (apdu) =>
      new Promise((resolve, reject) => {
        let timer: NodeJS.Timeout | null = null;
        const ended = new Promise<void>((settle) =>
          reader.transmit(apdu, 258, protocol, (err, data) => {
            settle();
            if (timer) clearTimeout(timer);
            if (err) reject(new DesfireError('removed', `badge retiré ou lecteur perdu (${err.message})`));
            else resolve(data);
          }),
        );
        timer = setTimeout(() => {
          const h = ended.then(() => void (held.get(reader) === h && held.delete(reader)));
          held.set(reader, h);
          reject(new DesfireError('removed', `le badge ne répond plus (pas de réponse en ${timeoutMs} ms)`));
        }, timeoutMs);
      }),
  };
}

/**
 * A SHARED connection to the card on `reader` for the length of `fn`, then left (LEAVE_CARD). Rejects only
 * when the connection cannot be made; what `fn` throws passes through after the disconnection.
 */
export async function withSharedTransport<T>(
  reader: CardReader,
  fn: (t: ApduTransport) => Promise<T>,
  timeoutMs = TRANSMIT_TIMEOUT_MS,
): Promise<T> {
  if (held.has(reader)) throw new Error('lecteur encore occupé par un badge qui ne répond plus : retirez-le');
  const protocol = await connect(reader);
  try {
    return await fn(pcscTransport(reader, protocol, timeoutMs));
  } finally {
    await disconnect(reader);
  }
}

/** One tap on a PC/SC reader → a proven badge, or why not. */
export async function readPcscBadge(reader: CardReader, cardType: string, how: BadgeReading): Promise<BadgeOutcome> {
  try {
    return await withSharedTransport(reader, (t) => readBadge(t, reader.name, cardType, how), how.transmitTimeoutMs);
  } catch (e) {
    return { ok: false, code: 'badge-unreadable', message: `connexion au badge impossible : ${(e as Error).message}` };
  }
}
