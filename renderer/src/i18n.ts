// French first, English second. `en` must have every key of `fr` (checked by the type below); the agent's
// error codes have their messages in error-messages.ts, reached here by `errorKey`.
import type {
  AgentErrorCode,
  Assurance,
  AuditRecord,
  DiagnosticsReport,
  Lang,
  LockReason,
  ReaderInfo,
  ReaderStatus,
  SecondFactor,
  SessionStateKind,
  UnverifiedBadgeProof,
} from '../../shared/contract';

import { errorMessage } from './error-messages';
import type { Msg, Params } from './error-messages';

const fr = {
  appName: 'Sillage',
  lockTitle: 'Badgez ou insérez votre carte CPS',
  lockSubtitle: 'Poste partagé — votre session vous suit de poste en poste pendant 4 heures',
  reading: 'Lecture de la carte…',
  verifying: 'Vérification…',
  secondFactor_card_pin: 'Code PIN de la carte CPS',
  secondFactor_badge_pin: 'Code PIN',
  secondFactor_session_code: 'Code de session',
  pinPadLabel: 'Clavier du code PIN',
  pinDigits: (p: Params) => `${p.typed} chiffre(s) saisi(s) sur ${p.total}`,
  pinErase: 'Effacer',
  pinCancel: 'Annuler',
  pinSubmit: 'Valider',
  triesLeft: (p: Params) => (Number(p.n) === 1 ? '1 essai restant' : `${p.n} essais restants`),
  lastTryWarning: 'Attention : au prochain échec la carte sera bloquée',
  blockedTitle: 'Carte bloquée : contactez le support, code PUK requis',
  blockedHint: 'Retirez votre carte. Le support informatique débloque la carte avec son code de déblocage.',
  bannerMfa: (p: Params) => `Authentification forte valable encore ${p.left}`,
  bannerExpired: 'Authentification forte terminée : le prochain badgeage demandera votre code',
  bannerEndingSoon: (p: Params) =>
    `Votre authentification forte se termine dans ${p.left} : au badgeage suivant, votre code sera demandé`,
  bannerWindow: (p: Params) => `Réouverture par badge possible encore ${p.left}`,
  bannerWindowExpired: 'Réouverture par badge terminée : le prochain badgeage demandera votre code',
  bannerWindowEndingSoon: (p: Params) =>
    `La réouverture par badge se termine dans ${p.left} : au badgeage suivant, votre code sera demandé`,
  openDmp: (p: Params) => `Ouvrir le DMP — ${p.name}`,
  assurance_mfa: 'Authentification forte (2 facteurs)',
  assurance_reopen: 'Réouverture par badge',
  // A badge proof the session server could not check (its policy allowed it): whose word it took.
  assurance_asserted: 'Session ouverte par un badge non vérifié par le serveur',
  assurance_asserted_uid_only: 'Badge non vérifié par le serveur : numéro de puce seul',
  assurance_asserted_local_key: 'Badge vérifié par ce poste, non par le serveur',
  assurance_asserted_reader_verified: 'Badge vérifié par le lecteur, non par le serveur',
  diagSession: 'Session ouverte',
  enrolBadge: 'Associer un badge',
  enrolAnother: 'Associer un autre badge',
  enrolPresent: 'Présentez votre nouveau badge sur le lecteur',
  enrolChecking: 'Vérification du badge…',
  enrolBound: 'Badge associé : badgez-le pour rouvrir votre session',
  lock: 'Verrouiller le poste',
  lockHint:
    'Votre session reste ouverte : badgez ici ou sur un autre poste pour la retrouver. Un collègue prend le ' +
    'poste en badgeant.',
  diagnostic: 'Diagnostic',
  back: 'Retour',
  export: 'Exporter',
  readerOk: 'Lecteur prêt',
  readerNone: 'Aucun lecteur détecté — branchez un lecteur',
  readerUnavailable: 'Lecteur indisponible — vérifiez son câble',
  connLost: 'Agent injoignable — reconnexion…',
  connecting: 'Connexion à l’agent Sillage…',
  refusedTitle: 'Accès refusé',
  refusedHint:
    'Ce lien n’ouvre pas cet agent : ouvrez le lien complet affiché au démarrage de Sillage (il se termine par #k=…).',
  reason_startup: '',
  reason_user_lock: 'Session verrouillée',
  reason_card_removed: 'Session verrouillée : carte retirée',
  reason_card_removed_before_login: 'Carte retirée avant la connexion : aucune session n’a été ouverte',
  reason_tap_out: 'Session verrouillée par badgeage',
  reason_switch_user: "Changement d'utilisateur",
  reason_inactivity: 'Session verrouillée après inactivité',
  reason_os_lock: 'Session verrouillée par le système',
  reason_mfa_expired: 'Authentification forte terminée : badgez, votre code vous sera demandé',
  reason_auth_failed: 'Authentification refusée',
  reason_cancelled: 'Saisie annulée — retirez votre carte ou badgez à nouveau',
  reason_session_revoked: 'Session fermée sur tous les postes (déconnexion globale ou support)',
  sessionCodeWrong: (p: Params) =>
    p.triesLeft !== undefined
      ? `Code de session incorrect — ` +
        `${Number(p.triesLeft) === 1 ? '1 essai restant' : `${p.triesLeft} essais restants`}`
      : 'Code de session incorrect : réessayez',
  demoTitle: 'Mode démo',
  demoCards: 'Cartes CPS simulées (PIN 1234)',
  demoBadges: 'Badges simulés',
  demoInsert: 'Insérer',
  demoRemove: 'Retirer la carte',
  demoTap: 'Badger',
  demoReset: 'Réinitialiser',
  demoBlocked: 'bloquée',
  demoTries: (p: Params) => `${p.n} essai(s)`,
  demoShow: 'Afficher le panneau démo',
  demoHide: 'Masquer le panneau démo',
  diagTitle: 'Diagnostic',
  diagVersion: 'Version',
  diagMode: 'Mode',
  diagReaders: 'Lecteurs',
  diagState: 'État',
  diagErrors: 'Dernières erreurs',
  diagAudit: 'Journal d’audit (derniers événements)',
  none: 'Aucun',
  language: 'English',
  lockedByPolicy: 'Langue fixée par votre établissement',
  diagPolicy: 'Réglages fixés par stratégie',
  diagPolicyProblems: 'Valeurs de stratégie refusées',
  diagCryptolib: 'Cryptolib CPS',
  diagWorkstationKey: 'Clé du poste',
  keyTpm: 'dans le TPM (ne peut pas en sortir)',
  keySoftware: 'logicielle, scellée par le système',
  keyNone: 'aucune : poste non enregistré',
  noTpm: 'pas de TPM',
  sealedBy: 'scellé par',
  mode_electron: 'Application',
  mode_headless: 'Sans fenêtre (développement et démonstration)',
  modeDemo: 'démo',
  state_locked: 'Poste verrouillé',
  state_presented: 'Carte ou badge présenté',
  state_pin_required: 'Code attendu',
  state_authenticating: 'Vérification en cours',
  state_open: 'Session ouverte',
  state_card_blocked: 'Carte bloquée',
  readerState_ok: 'prêt',
  readerState_unavailable: 'indisponible',
  readerState_error: 'en erreur',
  transport_demo: 'simulé',
  transport_pcsc: 'PC/SC',
  transport_hid: 'USB-HID',
  cardPresent: 'carte présente',
  outcome_success: 'réussi',
  outcome_failure: 'échec',
  outcome_info: '',
} satisfies Record<string, Msg>;

type TextKey = keyof typeof fr;
/** An agent error's message (error-messages.ts). */
type ErrorKey = `err:${AgentErrorCode}`;
export type MsgKey = TextKey | ErrorKey;

const en: { [K in TextKey]: Msg } = {
  appName: 'Sillage',
  lockTitle: 'Tap your badge or insert your CPS card',
  lockSubtitle: 'Shared workstation — your session follows you from PC to PC for 4 hours',
  reading: 'Reading the card…',
  verifying: 'Checking…',
  secondFactor_card_pin: 'CPS card PIN',
  secondFactor_badge_pin: 'PIN',
  secondFactor_session_code: 'Session code',
  pinPadLabel: 'PIN pad',
  pinDigits: (p) => `${p.typed} of ${p.total} digits typed`,
  pinErase: 'Erase',
  pinCancel: 'Cancel',
  pinSubmit: 'OK',
  triesLeft: (p) => (Number(p.n) === 1 ? '1 try left' : `${p.n} tries left`),
  lastTryWarning: 'Careful: one more failure blocks the card',
  blockedTitle: 'Card blocked: call the helpdesk, PUK code required',
  blockedHint: 'Remove your card. The IT helpdesk unblocks it with its unblock code.',
  bannerMfa: (p) => `Strong authentication valid for ${p.left} more`,
  bannerExpired: 'Strong authentication over: your next tap will ask for your code',
  bannerEndingSoon: (p) =>
    `Your strong authentication ends in ${p.left}: after that, your next tap will ask for your code`,
  bannerWindow: (p) => `Re-opening by badge possible for ${p.left} more`,
  bannerWindowExpired: 'Re-opening by badge over: your next tap will ask for your code',
  bannerWindowEndingSoon: (p) =>
    `Re-opening by badge ends in ${p.left}: after that, your next tap will ask for your code`,
  openDmp: (p) => `Open the DMP — ${p.name}`,
  assurance_mfa: 'Strong authentication (2 factors)',
  assurance_reopen: 'Re-opened by badge',
  assurance_asserted: 'Session opened by a badge the server did not check',
  assurance_asserted_uid_only: 'Badge not checked by the server: chip number only',
  assurance_asserted_local_key: 'Badge checked by this PC, not by the server',
  assurance_asserted_reader_verified: 'Badge checked by the reader, not by the server',
  diagSession: 'Open session',
  enrolBadge: 'Add a badge',
  enrolAnother: 'Add another badge',
  enrolPresent: 'Present your new badge on the reader',
  enrolChecking: 'Checking the badge…',
  enrolBound: 'Badge added: tap it to re-open your session',
  lock: 'Lock this PC',
  lockHint:
    'Your session stays open: tap here or on another PC to get back to it. A colleague takes the PC by tapping in.',
  diagnostic: 'Diagnostics',
  back: 'Back',
  export: 'Export',
  readerOk: 'Reader ready',
  readerNone: 'No reader found — plug a reader in',
  readerUnavailable: 'Reader unavailable — check its cable',
  connLost: 'Agent unreachable — reconnecting…',
  connecting: 'Connecting to the Sillage agent…',
  refusedTitle: 'Access refused',
  refusedHint:
    'This link does not open this agent: open the full link Sillage prints when it starts (it ends with #k=…).',
  reason_startup: '',
  reason_user_lock: 'Session locked',
  reason_card_removed: 'Session locked: card removed',
  reason_card_removed_before_login: 'Card removed before the login: no session was opened',
  reason_tap_out: 'Session locked by a badge tap',
  reason_switch_user: 'User switch',
  reason_inactivity: 'Session locked after inactivity',
  reason_os_lock: 'Session locked by the system',
  reason_mfa_expired: 'Strong authentication over: tap your badge, your code will be asked',
  reason_auth_failed: 'Authentication refused',
  reason_cancelled: 'Cancelled — remove your card or tap again',
  reason_session_revoked: 'Session ended on every workstation (global logout or helpdesk)',
  sessionCodeWrong: (p) =>
    p.triesLeft !== undefined
      ? `Wrong session code — ${Number(p.triesLeft) === 1 ? '1 try left' : `${p.triesLeft} tries left`}`
      : 'Wrong session code: try again',
  demoTitle: 'Demo mode',
  demoCards: 'Simulated CPS cards (PIN 1234)',
  demoBadges: 'Simulated badges',
  demoInsert: 'Insert',
  demoRemove: 'Remove card',
  demoTap: 'Tap',
  demoReset: 'Reset',
  demoBlocked: 'blocked',
  demoTries: (p) => `${p.n} try(ies)`,
  demoShow: 'Show the demo panel',
  demoHide: 'Hide the demo panel',
  diagTitle: 'Diagnostics',
  diagVersion: 'Version',
  diagMode: 'Mode',
  diagReaders: 'Readers',
  diagState: 'State',
  diagErrors: 'Last errors',
  diagAudit: 'Audit trail (latest events)',
  none: 'None',
  language: 'Français',
  lockedByPolicy: 'Language set by your hospital',
  diagPolicy: 'Settings set by policy',
  diagPolicyProblems: 'Refused policy values',
  diagCryptolib: 'CPS Cryptolib',
  diagWorkstationKey: 'Workstation key',
  keyTpm: 'in the TPM (cannot leave it)',
  keySoftware: 'software, sealed by the OS',
  keyNone: 'none: workstation not registered',
  noTpm: 'no TPM',
  sealedBy: 'sealed by',
  mode_electron: 'Application',
  mode_headless: 'Windowless (development and demos)',
  modeDemo: 'demo',
  state_locked: 'PC locked',
  state_presented: 'Card or badge presented',
  state_pin_required: 'Code expected',
  state_authenticating: 'Checking',
  state_open: 'Session open',
  state_card_blocked: 'Card blocked',
  readerState_ok: 'ready',
  readerState_unavailable: 'unavailable',
  readerState_error: 'in error',
  transport_demo: 'simulated',
  transport_pcsc: 'PC/SC',
  transport_hid: 'USB-HID',
  cardPresent: 'card present',
  outcome_success: 'succeeded',
  outcome_failure: 'failed',
  outcome_info: '',
};

export const catalogs: Record<Lang, { [K in TextKey]: Msg }> = { fr, en };

const isErrorKey = (key: MsgKey): key is ErrorKey => key.startsWith('err:');

export function t(lang: Lang, key: MsgKey, params: Params = {}): string {
  if (isErrorKey(key)) return errorMessage(key.slice('err:'.length) as AgentErrorCode, lang, params);
  const m = catalogs[lang][key] ?? catalogs.fr[key];
  return typeof m === 'function' ? m(params) : m;
}

const keyOf = (prefix: string, v: string) => `${prefix}_${v.replace(/-/g, '_')}` as MsgKey;
export const reasonKey = (r: LockReason) => keyOf('reason', r);
export const errorKey = (c: AgentErrorCode): ErrorKey => `err:${c}`;
export const secondFactorKey = (f: SecondFactor) => keyOf('secondFactor', f);
export const stateKey = (s: SessionStateKind) => keyOf('state', s);
export const modeKey = (m: DiagnosticsReport['mode']) => keyOf('mode', m);
export const readerStateKey = (s: ReaderStatus) => keyOf('readerState', s);
export const transportKey = (t: ReaderInfo['transport']) => keyOf('transport', t);
export const outcomeKey = (o: AuditRecord['outcome']) => keyOf('outcome', o);
/** What the session server proved of the open session (an unchecked badge proof says whose word it took). */
export const assuranceKey = (s: { assurance: Assurance; unverifiedBadge?: UnverifiedBadgeProof }) =>
  (s.assurance === 'mfa'
    ? 'assurance_mfa'
    : s.assurance === 're-open'
      ? 'assurance_reopen'
      : s.unverifiedBadge
        ? keyOf('assurance_asserted', s.unverifiedBadge)
        : 'assurance_asserted') as MsgKey;

/** The message of an error on the pad: a wrong session code is not a wrong PIN (the nurse has both). */
export function padErrorKey(code: AgentErrorCode, factor: SecondFactor): MsgKey {
  return code === 'pin-wrong' && factor === 'session-code' ? 'sessionCodeWrong' : errorKey(code);
}

/** Clock times in the configured language (24 h), not the browser's locale. */
export function formatTime(at: number, lang: Lang): string {
  return new Intl.DateTimeFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).format(at);
}

/** What an audit action means, in words; the action itself stays beside it as the code. */
const AUDIT: Record<string, [fr: string, en: string]> = {
  'agent.not-configured': ['Poste non configuré', 'Workstation not configured'],
  'agent.restart': ['Agent relancé avec ses nouveaux réglages', 'Agent restarted with its new settings'],
  'agent.restarted': ['Agent redémarré après son arrêt', 'Agent restarted after it stopped'],
  'agent.started': ['Agent démarré', 'Agent started'],
  'agent.stopped': ['Agent arrêté', 'Agent stopped'],
  'audit.chain-restarted': ['Journal d’audit recommencé', 'Audit trail restarted'],
  'audit.checkpoint': ['Point de contrôle du journal', 'Audit trail checkpoint'],
  'audit.damaged': ['Journal d’audit altéré', 'Audit trail damaged'],
  'audit.recovered': ['Journal d’audit réparé à son démarrage', 'Audit trail repaired at start'],
  'auth.refused': ['Authentification refusée', 'Authentication refused'],
  'badge.enrol': ['Association de badge', 'Badge enrolment'],
  'badge.enrolled': ['Badge associé', 'Badge enrolled'],
  'badge.refused': ['Badge refusé', 'Badge refused'],
  'badge.tapped': ['Badge présenté', 'Badge tapped'],
  'broker.connect': ['Application connectée au courtier', 'Application connected to the broker'],
  'broker.subscribe': ['Application abonnée au contexte', 'Application subscribed to the context'],
  'broker.token': ['Jeton remis à une application', 'Token handed to an application'],
  'card.blocked': ['Carte bloquée', 'Card blocked'],
  'card.identity-read': ['Identité de la carte lue', 'Card identity read'],
  'card.inserted': ['Carte insérée', 'Card inserted'],
  'card.removed': ['Carte retirée', 'Card removed'],
  'card.unknown': ['Carte non reconnue', 'Card not recognised'],
  'command.failed': ['Action en échec', 'Action failed'],
  'command.rejected': ['Action refusée', 'Action rejected'],
  'config.changed': ['Réglage modifié', 'Setting changed'],
  'config.migrated': ['Préférences reprises', 'Preferences carried over'],
  'config.rejected': ['Réglage refusé', 'Setting refused'],
  'cps.contactless': ['Carte CPS sans contact', 'Contactless CPS card'],
  'diagnostics.exported': ['Diagnostic exporté', 'Diagnostics exported'],
  'dmp.open': ['DMP ouvert', 'DMP opened'],
  'dmp.patient': ['Patient du DPI', 'EHR patient'],
  'headless.refused': ['Connexion à l’interface refusée', 'Connection to the UI refused'],
  'os.locked': ['Session du système verrouillée', 'System session locked'],
  'pin.verified': ['Code PIN vérifié', 'PIN verified'],
  'pin.wrong': ['Code erroné', 'Wrong code'],
  'reader.error': ['Erreur de lecteur', 'Reader error'],
  'readers.config': ['Configuration des lecteurs', 'Reader configuration'],
  'session.cancelled': ['Saisie annulée', 'Entry cancelled'],
  'session.locked': ['Session verrouillée', 'Session locked'],
  'session.opened': ['Session ouverte', 'Session opened'],
  'session.reopened': ['Session rouverte', 'Session re-opened'],
  'session.revoked': ['Session fermée par le serveur', 'Session ended by the server'],
  'workstation.key-lost': [
    'Clé du poste perdue (TPM effacé ou remplacé)',
    'Workstation key lost (TPM cleared or replaced)',
  ],
  'workstation.key-refused': [
    'Clé logicielle du poste refusée par la stratégie',
    'Software workstation key refused by policy',
  ],
  'workstation.registered': ['Poste enregistré auprès du serveur', 'Workstation registered with the server'],
};

export function auditLabel(action: string, lang: Lang): string | null {
  const l = AUDIT[action];
  return l ? l[lang === 'fr' ? 0 : 1] : null;
}

/** "3 h 59" / "12 min" — time left in the MFA window, rounded down to the minute. */
export function formatLeft(ms: number, lang: Lang): string {
  const min = Math.max(0, Math.floor(ms / 60_000));
  const h = Math.floor(min / 60);
  const m = min % 60;
  if (h === 0) return `${m} min`;
  return lang === 'fr' ? `${h} h ${String(m).padStart(2, '0')}` : `${h} h ${String(m).padStart(2, '0')} min`;
}
