// Demo people, cards and badges (fictional). Test cards of the ANS use PIN 1234; so do ours, and the
// demo badge second factor is the same so a newcomer needs to remember one code.
import type { BadgeProof, Identity } from '../../../shared/contract';
import type { BadgeProfile } from '../config/badge-profile';

export const DEMO_PIN = '1234';

export interface DemoPerson {
  identity: Identity;
}

export const DEMO_PEOPLE: DemoPerson[] = [
  { identity: { idNat: '899999000011', lastName: 'MARTIN', firstName: 'Camille', profession: 'Infirmière' } },
  { identity: { idNat: '899999000029', lastName: 'BERNARD', firstName: 'Louis', profession: 'Médecin' } },
];

export interface DemoCardSpec {
  id: string;
  label: string;
  cardType: 'CPS3' | 'CPS4';
  idNat: string;
}

export const DEMO_CARDS: DemoCardSpec[] = [
  { id: 'cps-camille', label: 'CPS4 — Camille MARTIN (infirmière)', cardType: 'CPS4', idNat: '899999000011' },
  { id: 'cps-louis', label: 'CPS3 — Louis BERNARD (médecin)', cardType: 'CPS3', idNat: '899999000029' },
];

export interface DemoBadgeSpec {
  id: string;
  label: string;
  proof: BadgeProof;
  /** Owner's idNat; null = a badge nobody enrolled. */
  owner: string | null;
  /** The chip's UID (hex): what the server binds and what a relayed authentication proves. */
  uid: string;
  /** Encoded with the demo application (key diversified for its UID); null = a bare chip. */
  number: string | null;
}

/**
 * The demo badges are emulated DESFire EV3 cards encoded as the encoding tool would, their read key
 * diversified from DEMO_BADGE_MASTER; a session server holding that master (the embedded demo server, the
 * tests') checks a demo tap as a real one.
 */
export const DEMO_BADGE_PROFILE: BadgeProfile = {
  name: 'démo',
  aid: 'F51230',
  keyNo: 1,
  fileNo: 1,
  length: 16,
  mode: 'full',
  systemId: '44454D4F',
};

/**
 * Published on purpose, as the demo PIN is: demo badges are simulations. Only a session server given this
 * key accepts them (the embedded demo server; a hospital's server never holds it).
 */
export const DEMO_BADGE_MASTER = Buffer.from('D3E70B4D5A1C2F809E6B11C4A7F35E28', 'hex');

/** The session server's `desfireKeys` for the demo badges. */
export const DEMO_BADGE_KEYS = {
  [`${DEMO_BADGE_PROFILE.aid}/${DEMO_BADGE_PROFILE.keyNo}`]: DEMO_BADGE_MASTER.toString('hex'),
};

export const DEMO_BADGES: DemoBadgeSpec[] = [
  {
    id: 'badge-camille',
    label: 'Badge DESFire — Camille MARTIN',
    proof: 'desfire-aes-diversified',
    owner: '899999000011',
    uid: '04D3A1B2000011',
    number: 'DEMO-0011',
  },
  {
    id: 'badge-louis',
    label: 'Badge DESFire — Louis BERNARD',
    proof: 'desfire-aes-diversified',
    owner: '899999000029',
    uid: '04D3A1B2000029',
    number: 'DEMO-0029',
  },
  {
    id: 'badge-inconnu',
    label: 'Badge DESFire non enrôlé',
    proof: 'desfire-aes-diversified',
    owner: null,
    uid: '04D3A1B2000099',
    number: 'DEMO-0099',
  },
  // Camille's UID copied onto a bare chip: no application, no key.
  {
    id: 'badge-clone',
    label: 'Copie de badge (UID seul)',
    proof: 'uid-only',
    owner: '899999000011',
    uid: '04D3A1B2000011',
    number: null,
  },
];

export const DEMO_READERS = {
  contact: 'Lecteur démo CPS (contact)',
  contactless: 'Lecteur démo sans contact',
} as const;

export function demoPerson(idNat: string): DemoPerson | undefined {
  return DEMO_PEOPLE.find((p) => p.identity.idNat === idNat);
}
