// The smallest useful card: answers SELECT with 90 00, echoes the data of an ENVELOPE-like command
// (INS CA: GET DATA returns a fixed serial), and refuses the rest. Used by the PC/SC plumbing tests.
import type { ApduHandler } from '../vpcd-client';

export const ECHO_SERIAL = Buffer.from('53494c4c414745', 'hex'); // "SILLAGE"

export const echoCard: ApduHandler = (apdu) => {
  if (apdu.length < 4) return Buffer.from([0x67, 0x00]); // wrong length
  const ins = apdu[1];
  if (ins === 0xa4) return Buffer.from([0x90, 0x00]);
  if (ins === 0xca) return Buffer.concat([ECHO_SERIAL, Buffer.from([0x90, 0x00])]);
  if (ins === 0xee) {
    const lc = apdu[4] ?? 0;
    return Buffer.concat([apdu.subarray(5, 5 + lc), Buffer.from([0x90, 0x00])]);
  }
  return Buffer.from([0x6d, 0x00]); // INS not supported
};
