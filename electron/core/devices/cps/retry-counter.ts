// The PIN retry counter as the card itself keeps it. PKCS#11 only has flags (COUNT_LOW, FINAL_TRY, LOCKED),
// and a module sets COUNT_LOW only when it knows the maximum: with one that does not, a card reinserted
// after a wrong PIN would show a fresh card's tries. ISO 7816-4 VERIFY without data asks the card for the
// status of a PIN without presenting one and without touching the counter: 63Cx = x tries left, 6983 =
// blocked, 9000 = already verified in this card session (the counter is then at its maximum).
import type { ApduTransport, CardClass } from '../types';

/**
 * The holder PIN's reference per card: the CPS3's IAS-ECC CHV 1, global to the card (OpenSC's iasecc driver
 * reads the CPx PIN policy as SDO `BF 81 01` in the MF). CPS4 (ChipDoc): not known, its tries come from
 * the module.
 */
export const HOLDER_PIN_REFERENCE: Partial<Record<CardClass, number>> = { 'cps3-contact': 0x01 };

export type CardPinStatus = { triesLeft: number } | 'verified';

export function pinStatusFromStatusWord(sw: number): CardPinStatus | null {
  if ((sw & 0xfff0) === 0x63c0) return { triesLeft: sw & 0x0f };
  if (sw === 0x6983) return { triesLeft: 0 };
  if (sw === 0x9000) return 'verified';
  return null; // reference unknown to this card, command refused...: no answer from the card
}

/** VERIFY (case 1) on `reference`; null when the card gives no counter. */
export async function readPinStatus(t: ApduTransport, reference: number): Promise<CardPinStatus | null> {
  const res = await t.transmit(Buffer.from([0x00, 0x20, 0x00, reference]));
  return res.length === 2 ? pinStatusFromStatusWord(res.readUInt16BE(0)) : null;
}
