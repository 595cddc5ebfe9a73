// Card classification from the ATR (ANS Cryptolib card list, shared/domain.md §2; PC/SC part 3 for
// contactless cards). CPS cards go to the PKCS#11 path, DESFire badges to the badge path.
export type CardClass = 'cps3-contact' | 'cps3-contactless' | 'cps4' | 'desfire' | 'other-contactless' | 'unknown';

const hex = (s: string) => s.replace(/\s+/g, '').toUpperCase();

const KNOWN: Record<string, CardClass> = {
  [hex('3B AC 00 40 2A 00 12 25 00 64 80 00 03 10 00 90 00')]: 'cps3-contact',
  [hex('3B 8F 80 01 00 31 B8 64 04 B0 EC C1 73 94 01 80 82 90 00 0E')]: 'cps3-contactless',
  [hex('3B 9B 18 80 01 00 12 25 00 64 80 04 01 00 00 90 44')]: 'cps4',
  [hex('3B 9B 18 80 01 00 12 25 00 64 80 00 04 01 00 90 44')]: 'cps4',
  [hex('3B DC 18 FF 00 00 12 25 00 64 80 00 04 01 00 90 00')]: 'cps4',
};

/** Bytes common to the CPS family's historical bytes. */
const CPS_FAMILY = hex('00 12 25 00 64 80');

export function classifyAtr(atr: Buffer): CardClass {
  const h = atr.toString('hex').toUpperCase();
  const known = KNOWN[h];
  if (known) return known;
  // PC/SC part 3 ATR of an ISO 14443-4 card: 3B 8n 80 01 + historical bytes + TCK.
  if (atr.length >= 5 && atr[0] === 0x3b && (atr[1]! & 0xf0) === 0x80 && atr[2] === 0x80 && atr[3] === 0x01) {
    const hist = atr.subarray(4, 4 + (atr[1]! & 0x0f));
    // DESFire EV1/EV2/EV3 answer with historical byte 0x80 (ATS without historical bytes) on most readers.
    if (hist.length === 1 && hist[0] === 0x80) return 'desfire';
    return 'other-contactless';
  }
  // A CPS we do not list yet (new variant): still a CPS, routed to the Cryptolib which knows it.
  if (h.includes(CPS_FAMILY)) return h.startsWith('3B9B') || h.startsWith('3BDC') ? 'cps4' : 'cps3-contact';
  return 'unknown';
}

export function cardTypeLabel(c: CardClass): string {
  return {
    'cps3-contact': 'CPS3',
    'cps3-contactless': 'CPS3 (sans contact)',
    cps4: 'CPS4',
    desfire: 'DESFire',
    'other-contactless': 'Carte sans contact',
    unknown: 'Carte non reconnue',
  }[c];
}

export const isCps = (c: CardClass) => c === 'cps3-contact' || c === 'cps4' || c === 'cps3-contactless';
