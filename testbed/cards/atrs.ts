// ATRs of the CPS family (ANS Cryptolib card list, see shared/domain.md §2) and a DESFire contactless one.
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

export const ATR = {
  CPS3_CONTACT: hex('3B AC 00 40 2A 00 12 25 00 64 80 00 03 10 00 90 00'),
  CPS3_CONTACTLESS: hex('3B 8F 80 01 00 31 B8 64 04 B0 EC C1 73 94 01 80 82 90 00 0E'),
  CPS4_CONTACT: hex('3B 9B 18 80 01 00 12 25 00 64 80 04 01 00 00 90 44'),
  CPS4_VARIANT_1: hex('3B 9B 18 80 01 00 12 25 00 64 80 00 04 01 00 90 44'),
  CPS4_VARIANT_2: hex('3B DC 18 FF 00 00 12 25 00 64 80 00 04 01 00 90 00'),
  /** PC/SC part 3 ATR of an ISO 14443-4 DESFire as contactless readers build it. */
  DESFIRE: hex('3B 81 80 01 80 80'),
} as const;
