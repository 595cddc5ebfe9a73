// Badges for tests of the session server: the test hospital's DESFire badges emulated in process, bound
// by their chip UID, and each tap's proof made through the agent's own path (credential read, relay
// custody): the server checks the card's answer to its own challenge.
import type { BadgeProof } from '@sillage/protocol';
import { readBadge } from '../electron/core/devices/badge/desfire/credential';
import { RelayKeyCustody } from '../electron/core/oidc/relay-custody';
import { ServerError } from '../electron/core/oidc/server-client';
import type { ServerTokens, SessionServerClient } from '../electron/core/oidc/server-client';
import type { BadgeRead, ReaderEvent } from '../electron/core/devices/types';
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

/** One tap as a badge backend reports it to the session engine: the badge, or why it gave none. */
export async function tapEvent(client: Client, emu: DesfireEmulator, reader = 'Lecteur de test'): Promise<ReaderEvent> {
  emu.powerOn();
  const out = await readBadge({ transmit: async (a) => emu.process(a) }, reader, 'DESFire EV3', {
    profiles: () => [TEST_BADGE.profile],
    custody: new RelayKeyCustody(typeof client === 'function' ? client : async () => client),
    allowUidOnly: () => false,
  });
  return out.ok
    ? { type: 'badge-tapped', badge: out.badge }
    : { type: 'badge-refused', reader, code: out.code, message: out.message };
}

export async function tapRead(client: Client, emu: DesfireEmulator, reader?: string): Promise<BadgeRead> {
  const e = await tapEvent(client, emu, reader);
  if (e.type !== 'badge-tapped') throw new Error(`tap refused: ${e.type === 'badge-refused' ? e.message : e.type}`);
  return e.badge;
}

/** The same badge again (same UID, same keys), for taps in flight together: each card has its own state. */
export const twinOf = (emu: DesfireEmulator) => hospitalBadge('CHU-TWIN', { uid: emu.uid });

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

/** A tap of `emu` on `client`'s workstation: the re-open, or the login with `code` when the server asks it. */
export async function tapIn(client: SessionServerClient, emu: DesfireEmulator, code: string): Promise<ServerTokens> {
  try {
    return await client.badge(await tapProof(client, emu));
  } catch (e) {
    if (!(e instanceof ServerError) || e.code !== 'mfa_required') throw e;
    return client.badgeCode(String(e.body.login_ticket), code);
  }
}
