// Badges for tests of the session server: the test hospital's DESFire badges emulated in process, bound
// by their chip UID, and each tap's proof made through the agent's own path (credential read, relay
// custody): the server checks the card's answer to its own challenge.
import type { BadgeProof } from '@sillage/protocol';
import { readBadgeCredential } from '../electron/core/badge/desfire/credential';
import { RelayKeyCustody } from '../electron/core/badge/desfire/relay-custody';
import type { SessionServerClient } from '../electron/core/oidc/server-client';
import type { BadgeRead } from '../electron/core/readers/types';
import { hospitalBadge, TEST_BADGE } from './cards/desfire-card';
import type { DesfireEmulator } from './cards/desfire-card';

/** The session server's key for the test hospital's badges (startServer's `desfireKeys`). */
export const TEST_DESFIRE_KEYS = { 'F51230/1': TEST_BADGE.master.toString('hex') };

export const uidOf = (emu: DesfireEmulator) => emu.uid.toString('hex').toUpperCase();

type Client = SessionServerClient | (() => Promise<SessionServerClient>);

/** One tap of `emu` on the workstation of `client`: the proof its badge grant carries. */
export async function tapProof(client: Client, emu: DesfireEmulator): Promise<BadgeProof> {
  return (await tapRead(client, emu)).proof;
}

/** One tap as the badge backend reports it to the session engine. */
export async function tapRead(client: Client, emu: DesfireEmulator, reader = 'Lecteur de test'): Promise<BadgeRead> {
  emu.powerOn();
  const custody = new RelayKeyCustody(typeof client === 'function' ? client : async () => client);
  const c = await readBadgeCredential({ transmit: async (a) => emu.process(a) }, [TEST_BADGE.profile], custody);
  return { reader, cardType: 'DESFire EV3', chipId: c.uid, strength: c.strength, proof: c.proof };
}

/** A new encoded badge bound to `accountId` by its chip UID (and its number as the label). */
export async function boundBadge(
  directory: { bindBadge(b: { uid: string; number: string }, accountId: string): Promise<{ ok: boolean }> },
  accountId: string,
  number: string,
): Promise<DesfireEmulator> {
  const emu = hospitalBadge(number);
  const r = await directory.bindBadge({ uid: uidOf(emu), number }, accountId);
  if (!r.ok) throw new Error(`badge ${number} not bound`);
  return emu;
}
