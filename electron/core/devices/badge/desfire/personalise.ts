// Personalisation of a blank DESFire EV2/EV3 card with the hospital's application: diversified AES keys
// (AN10922, one per badge; the profile's `diversification`, the spec unless it names the legacy scheme),
// the credential file holding the badge number, readable only after mutual authentication with the read
// key. It refuses any card that is not blank with factory defaults (an
// application already there, PICC settings changed, application keys not the default): a badge in use
// elsewhere (building access...) is never touched. `dryRun` checks everything and writes nothing.
import { diversifyAes128 } from './crypto';
import { badgeNumberOf, isRandomUid } from './credential';
import { diversificationInput, FixedKeyCustody } from './custody';
import type { MasterKeyLookup } from './custody';
import type { DesfireCard } from './protocol';
import { aidBytes } from './protocol';
import { DesfireError } from './errors';
import type { BadgeProfile } from '../../../config/badge-profile';

export interface EncodeStep {
  what: string;
  done: boolean;
}

export interface EncodeResult {
  uid: string;
  generation: string;
  /** The badge number written in the credential file. */
  number: string;
  steps: EncodeStep[];
  dryRun: boolean;
}

export class EncodeRefused extends Error {}

/** Application key settings: master key changeable, free listing, config changeable; keys changed with key 0. */
export const APP_KEY_SETTINGS = 0x0b;
const PICC_FREE_CREATE = 0x04;

/** The badge number as the credential file holds it, and the master keys the profile needs. */
function encodeInputs(profile: BadgeProfile, keys: MasterKeyLookup, badgeNumber: string) {
  const aid = aidBytes(profile.aid);
  const data = Buffer.alloc(profile.length);
  if (Buffer.byteLength(badgeNumber, 'ascii') > profile.length || !/^[\x20-\x7e]+$/.test(badgeNumber))
    throw new EncodeRefused(`numéro de badge : ${profile.length} caractères ASCII au plus`);
  data.write(badgeNumber, 'ascii');

  const master0 = keys(aid, 0);
  const readMaster = keys(aid, profile.keyNo);
  const uidMaster = profile.uidKeyNo !== undefined ? keys(aid, profile.uidKeyNo) : null;
  if (!master0 || !readMaster || (profile.uidKeyNo !== undefined && !uidMaster))
    throw new EncodeRefused(
      `fichier des clés incomplet : clés ${profile.aid}/0 et ${profile.aid}/${profile.keyNo}` +
        `${profile.uidKeyNo !== undefined ? ` et /${profile.uidKeyNo}` : ''} nécessaires`,
    );
  if (profile.keyNo === 0)
    throw new EncodeRefused('la clé de lecture doit être distincte de la clé maîtresse de l’application (keyNo ≥ 1)');
  return { aid, data, master0, readMaster, uidMaster };
}

/** The card's real UID and generation, once it is known blank: EV2/EV3, fixed UID, no application, factory PICC. */
async function blankCard(card: DesfireCard, profile: BadgeProfile, aid: Buffer) {
  const seen = await card.anticollisionUid();
  if (isRandomUid(seen)) throw new EncodeRefused("carte à UID aléatoire : encodez-la avant d'activer l'UID aléatoire");
  const version = await card.getVersion();
  if (version.generation !== 'EV2' && version.generation !== 'EV3')
    throw new EncodeRefused(`carte ${version.generation} : DESFire EV2 ou EV3 requise`);
  const uid = version.uid.equals(Buffer.alloc(7)) ? seen : version.uid;

  await card.selectApplication(Buffer.alloc(3));
  let apps: Buffer[];
  try {
    apps = await card.getApplicationIds();
  } catch (e) {
    if (e instanceof DesfireError && e.code === 'status')
      throw new EncodeRefused(
        'liste des applications protégée : clé maîtresse de la carte non par défaut, carte non vierge',
      );
    throw e;
  }
  if (apps.some((a) => a.equals(aid)))
    throw new EncodeRefused(`application ${profile.aid} déjà présente : badge déjà encodé (utilisez « verify »)`);
  const picc = await card.getKeySettings();
  if (!(picc.settings & PICC_FREE_CREATE))
    throw new EncodeRefused('création d’application protégée : réglages de la carte non par défaut, carte non vierge');
  return { uid, generation: version.generation };
}

/** Authenticates with the new application's default key 0: a non-default one is refused. */
async function authenticateNewApplication(card: DesfireCard, aid: Buffer): Promise<void> {
  const custody = new FixedKeyCustody(Buffer.alloc(16));
  await card.selectApplication(aid);
  try {
    await card.authenticate('ev2', 0, custody, { aid, keyNo: 0, uid: null, systemId: Buffer.alloc(0) });
  } catch (e) {
    if (e instanceof DesfireError && e.code === 'auth-failed')
      throw new EncodeRefused('clé maîtresse de l’application non par défaut : refus');
    throw e;
  }
}

export async function encodeBadge(
  card: DesfireCard,
  profile: BadgeProfile,
  keys: MasterKeyLookup,
  badgeNumber: string,
  opts: { dryRun: boolean },
): Promise<EncodeResult> {
  const steps: EncodeStep[] = [];
  const step = async (what: string, fn: () => Promise<unknown>) => {
    if (!opts.dryRun) await fn();
    steps.push({ what, done: !opts.dryRun });
  };
  const { aid, data, master0, readMaster, uidMaster } = encodeInputs(profile, keys, badgeNumber);
  const { uid, generation } = await blankCard(card, profile, aid);

  const nKeys = Math.max(profile.keyNo, profile.uidKeyNo ?? 0) + 1;
  await step(`créer l'application ${profile.aid} (${nKeys} clés AES)`, () =>
    card.createApplication(aid, APP_KEY_SETTINGS, nKeys),
  );
  if (!opts.dryRun) await authenticateNewApplication(card, aid);
  await step(
    `créer le fichier ${profile.fileNo} (${profile.length} octets, ${profile.mode}, lecture par la clé ` +
      `${profile.keyNo})`,
    () =>
      card.createStdDataFile(
        profile.fileNo,
        profile.mode,
        { read: profile.keyNo, write: 0, readWrite: 0, change: 0 },
        profile.length,
      ),
  );
  await step(`écrire le numéro de badge ${badgeNumber}`, () => card.writeData(profile.fileNo, 0, data, profile.mode));
  const div = diversificationInput(uid, aid, profile.systemId);
  const zero = Buffer.alloc(16);
  const scheme = profile.diversification ?? 'an10922';
  const readKey = diversifyAes128(readMaster, div, scheme);
  await step(`clé ${profile.keyNo} : clé de lecture diversifiée pour ce badge`, () =>
    card.changeKey(profile.keyNo, readKey, zero, 1),
  );
  if (uidMaster && profile.uidKeyNo !== undefined)
    await step(`clé ${profile.uidKeyNo} : clé de lecture de l'UID (commune)`, () =>
      card.changeKey(profile.uidKeyNo!, uidMaster, zero, 1),
    );
  const appKey = diversifyAes128(master0, div, scheme);
  await step('clé 0 : clé maîtresse de l’application diversifiée (en dernier)', () =>
    card.changeKey(0, appKey, zero, 1),
  );
  readKey.fill(0);
  appKey.fill(0);
  return {
    uid: uid.toString('hex').toUpperCase(),
    generation,
    number: badgeNumberOf(data),
    steps,
    dryRun: opts.dryRun,
  };
}
