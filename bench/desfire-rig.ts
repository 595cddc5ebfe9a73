// Shared by the badge benchmarks: the raw-APDU floor on a PC/SC reader (connect SHARED, N trivial APDUs,
// disconnect) — what any software pays for the same card I/O, without the agent's work.
import { GET_UID_APDU } from '../electron/core/badge/desfire/protocol';
import { pcscTransport } from '../electron/core/badge/pcsc-badge';
import type { CardReader } from '../native/pcsclite';

export async function rawIo(reader: CardReader, apdus: number): Promise<void> {
  const protocol = await new Promise<number>((resolve, reject) => reader.connect({ share_mode: reader.SCARD_SHARE_SHARED, protocol: reader.SCARD_PROTOCOL_T1 | reader.SCARD_PROTOCOL_T0 }, (e, p) => (e ? reject(e) : resolve(p))));
  const t = pcscTransport(reader, protocol);
  for (let i = 0; i < apdus; i++) await t.transmit(GET_UID_APDU);
  await new Promise<void>((resolve) => reader.disconnect(reader.SCARD_LEAVE_CARD, () => resolve()));
}
