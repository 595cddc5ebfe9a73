// Shared by the badge benchmarks: the raw-APDU floor on a PC/SC reader (connect SHARED, N trivial APDUs,
// disconnect) — what any software pays for the same card I/O, without the agent's work.
import { GET_UID_APDU } from '../electron/core/devices/badge/desfire/protocol';
import { withSharedTransport } from '../electron/core/devices/pcsc';
import type { CardReader } from '../native/pcsclite';

export async function rawIo(reader: CardReader, apdus: number): Promise<void> {
  await withSharedTransport(reader, async (t) => {
    for (let i = 0; i < apdus; i++) await t.transmit(GET_UID_APDU);
  });
}
