// French first, English second. `en` must have every key of `fr` (checked by the type below), and every
// agent error code has a message that says what to do next.
import type {
  AgentErrorCode,
  Assurance,
  Lang,
  LockReason,
  SecondFactor,
  UnverifiedBadgeProof,
} from '../../shared/contract';

type Params = Record<string, string | number>;
type Msg = string | ((p: Params) => string);

const fr = {
  appName: 'Sillage',
  lockTitle: 'Badgez ou insérez votre carte CPS',
  lockSubtitle: 'Poste partagé — votre session vous suit de poste en poste pendant 4 heures',
  reading: 'Lecture de la carte…',
  verifying: 'Vérification…',
  pinFor: (p: Params) => `${p.name}`,
  secondFactor_card_pin: 'Code PIN de la carte CPS',
  secondFactor_badge_pin: 'Code PIN',
  secondFactor_session_code: 'Code de session',
  pinPadLabel: 'Clavier du code PIN',
  pinDigits: (p: Params) => `${p.typed} chiffre(s) saisi(s) sur ${p.total}`,
  pinErase: 'Effacer',
  pinCancel: 'Annuler',
  pinSubmit: 'Valider',
  triesLeft: (p: Params) => (Number(p.n) === 1 ? '1 essai restant' : `${p.n} essais restants`),
  pinWrong: (p: Params) => `Code PIN incorrect — ${Number(p.n) === 1 ? '1 essai restant' : `${p.n} essais restants`}`,
  lastTryWarning: 'Attention : au prochain échec la carte sera bloquée',
  blockedTitle: 'Carte bloquée : contactez le support, code PUK requis',
  blockedHint: 'Retirez votre carte. Le support informatique débloque la carte avec son code de déblocage.',
  bannerMfa: (p: Params) => `Session MFA : ${p.left} restantes`,
  bannerExpired: 'Fenêtre MFA terminée : le prochain badgeage demandera le code',
  bannerEndingSoon: (p: Params) =>
    `Votre session forte se termine dans ${p.left} : au prochain badgeage après, votre code sera demandé`,
  openDmp: (p: Params) => `Ouvrir le DMP — ${p.name}`,
  err_dmp_refused: (p: Params) =>
    p.reason === 'no-patient'
      ? "Aucun patient ouvert dans le DPI : ouvrez d'abord le dossier du patient"
      : p.reason === 'dmp-not-configured'
        ? "Accès DMP non configuré sur ce poste : contactez l'informatique"
        : p.reason === 'server-unreachable'
          ? 'Serveur de sessions injoignable : réessayez dans un instant'
          : 'Ouverture du DMP impossible : reconnectez-vous (carte + code) ou contactez le support',
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
  lock: 'Verrouiller',
  switchUser: "Changer d'utilisateur",
  diagnostic: 'Diagnostic',
  back: 'Retour',
  export: 'Exporter',
  readerOk: 'Lecteur prêt',
  readerNone: 'Aucun lecteur détecté — branchez un lecteur',
  readerUnavailable: 'Lecteur indisponible — vérifiez son câble',
  connLost: 'Agent injoignable — reconnexion…',
  connUnauthorized: 'Accès refusé : relancez Sillage et utilisez le lien affiché',
  reason_startup: '',
  reason_user_lock: 'Session verrouillée',
  reason_card_removed: 'Session verrouillée : carte retirée',
  reason_tap_out: 'Session verrouillée par badgeage',
  reason_switch_user: "Changement d'utilisateur",
  reason_inactivity: 'Session verrouillée après inactivité',
  reason_os_lock: 'Session verrouillée par le système',
  reason_mfa_expired: 'Fenêtre MFA terminée',
  reason_auth_failed: 'Authentification refusée',
  reason_cancelled: 'Saisie annulée — retirez votre carte ou badgez à nouveau',
  reason_session_revoked: 'Session fermée sur tous les postes (déconnexion globale ou support)',
  err_pin_wrong: (p: Params) =>
    p.triesLeft !== undefined
      ? `Code PIN incorrect — ${Number(p.triesLeft) === 1 ? '1 essai restant' : `${p.triesLeft} essais restants`}`
      : 'Code incorrect : réessayez',
  err_pin_format: (p: Params) => `Le code PIN compte ${p.length ?? 4} chiffres`,
  err_card_blocked: 'Carte bloquée : contactez le support, code PUK requis',
  err_card_removed: 'Carte retirée pendant la vérification : réinsérez-la',
  err_card_unknown: "Carte non reconnue : utilisez votre carte CPS ou votre badge de l'établissement",
  err_card_expired: 'Certificat de la carte expiré : demandez une nouvelle carte CPS',
  err_badge_unknown: "Badge non enrôlé : connectez-vous une fois avec votre carte CPS pour l'enrôler",
  err_badge_weak: 'Badge non sécurisé refusé : demandez un badge à jour au support',
  err_badge_revoked: 'Badge révoqué : contactez le support',
  err_badge_not_genuine: 'Badge non authentique refusé (signalé au support) : utilisez votre carte CPS',
  err_badge_unreadable: 'Badge mal lu : posez-le à plat sur le lecteur et attendez le bip',
  err_badge_not_encoded: "Badge non encodé pour l'établissement : faites-le encoder par le support",
  err_badge_tap_again: 'Temps écoulé : badgez à nouveau puis tapez votre code',
  err_badge_taken: "Ce badge appartient déjà à quelqu'un d'autre : présentez un badge neuf ou contactez l'informatique",
  err_enrolment_too_late: 'Trop tard pour associer un badge : reconnectez-vous avec votre carte CPS et son code',
  err_auth_refused: 'Authentification refusée : réessayez ou contactez le support',
  err_server_unreachable:
    'Serveur de sessions injoignable : réessayez dans un instant (les sessions ouvertes restent ouvertes)',
  err_clock_skew: "Horloge du poste décalée : contactez l'informatique",
  err_code_locked: (p: Params) =>
    `Trop de codes erronés : réessayez après ${p.until ?? 'quelques minutes'} ou contactez le support`,
  err_mfa_required: (p: Params) =>
    p.credential === 'cps'
      ? 'Session de la journée terminée : insérez votre carte CPS dans le lecteur et saisissez votre code'
      : 'Votre session de la journée est terminée : saisissez à nouveau votre code',
  err_reader_error: 'Problème de lecteur : rebranchez-le puis réessayez',
  err_invalid_command: 'Action impossible : rechargez la page',
  err_not_allowed: "Action impossible dans l'état actuel",
  err_internal: 'Erreur interne : contactez le support (Diagnostic → Exporter)',
  demoTitle: 'Mode démo',
  demoCards: 'Cartes CPS simulées (PIN 1234)',
  demoBadges: 'Badges simulés',
  demoInsert: 'Insérer',
  demoRemove: 'Retirer la carte',
  demoTap: 'Badger',
  demoReset: 'Réinitialiser',
  demoBlocked: 'bloquée',
  demoTries: (p: Params) => `${p.n} essai(s)`,
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
} satisfies Record<string, Msg>;

export type MsgKey = keyof typeof fr;

const en: { [K in MsgKey]: Msg } = {
  appName: 'Sillage',
  lockTitle: 'Tap your badge or insert your CPS card',
  lockSubtitle: 'Shared workstation — your session follows you from PC to PC for 4 hours',
  reading: 'Reading the card…',
  verifying: 'Checking…',
  pinFor: (p) => `${p.name}`,
  secondFactor_card_pin: 'CPS card PIN',
  secondFactor_badge_pin: 'PIN',
  secondFactor_session_code: 'Session code',
  pinPadLabel: 'PIN pad',
  pinDigits: (p) => `${p.typed} of ${p.total} digits typed`,
  pinErase: 'Erase',
  pinCancel: 'Cancel',
  pinSubmit: 'OK',
  triesLeft: (p) => (Number(p.n) === 1 ? '1 try left' : `${p.n} tries left`),
  pinWrong: (p) => `Wrong PIN — ${Number(p.n) === 1 ? '1 try left' : `${p.n} tries left`}`,
  lastTryWarning: 'Careful: one more failure blocks the card',
  blockedTitle: 'Card blocked: call the helpdesk, PUK code required',
  blockedHint: 'Remove your card. The IT helpdesk unblocks it with its unblock code.',
  bannerMfa: (p) => `MFA session: ${p.left} left`,
  bannerExpired: 'MFA window over: your next tap will ask for the code',
  bannerEndingSoon: (p) => `Your strong session ends in ${p.left}: after that, your next tap will ask for your code`,
  openDmp: (p) => `Open the DMP — ${p.name}`,
  err_dmp_refused: (p) =>
    p.reason === 'no-patient'
      ? "No patient open in the EHR: open the patient's record first"
      : p.reason === 'dmp-not-configured'
        ? 'DMP access not configured on this PC: call IT'
        : p.reason === 'server-unreachable'
          ? 'Session server unreachable: try again in a moment'
          : 'Cannot open the DMP: log in again (card + code) or call the helpdesk',
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
  lock: 'Lock',
  switchUser: 'Switch user',
  diagnostic: 'Diagnostics',
  back: 'Back',
  export: 'Export',
  readerOk: 'Reader ready',
  readerNone: 'No reader found — plug a reader in',
  readerUnavailable: 'Reader unavailable — check its cable',
  connLost: 'Agent unreachable — reconnecting…',
  connUnauthorized: 'Access refused: restart Sillage and use the link it prints',
  reason_startup: '',
  reason_user_lock: 'Session locked',
  reason_card_removed: 'Session locked: card removed',
  reason_tap_out: 'Session locked by a badge tap',
  reason_switch_user: 'User switch',
  reason_inactivity: 'Session locked after inactivity',
  reason_os_lock: 'Session locked by the system',
  reason_mfa_expired: 'MFA window over',
  reason_auth_failed: 'Authentication refused',
  reason_cancelled: 'Cancelled — remove your card or tap again',
  reason_session_revoked: 'Session ended on every workstation (global logout or helpdesk)',
  err_pin_wrong: (p) =>
    p.triesLeft !== undefined
      ? `Wrong PIN — ${Number(p.triesLeft) === 1 ? '1 try left' : `${p.triesLeft} tries left`}`
      : 'Wrong code: try again',
  err_pin_format: (p) => `The PIN has ${p.length ?? 4} digits`,
  err_card_blocked: 'Card blocked: call the helpdesk, PUK code required',
  err_card_removed: 'Card removed during the check: insert it again',
  err_card_unknown: 'Card not recognised: use your CPS card or your hospital badge',
  err_card_expired: 'Card certificate expired: ask for a new CPS card',
  err_badge_unknown: 'Badge not enrolled: log in once with your CPS card to enrol it',
  err_badge_weak: 'Insecure badge refused: ask the helpdesk for an up-to-date badge',
  err_badge_revoked: 'Badge revoked: call the helpdesk',
  err_badge_not_genuine: 'Badge not genuine, refused (reported to the helpdesk): use your CPS card',
  err_badge_unreadable: 'Badge misread: hold it flat on the reader until the beep',
  err_badge_not_encoded: 'Badge not encoded for the hospital: have the helpdesk encode it',
  err_badge_tap_again: 'Time is up: tap your badge again, then type your code',
  err_badge_taken: 'This badge already belongs to someone else: present a new badge or call IT',
  err_enrolment_too_late: 'Too late to add a badge: log in again with your CPS card and its PIN',
  err_auth_refused: 'Authentication refused: try again or call the helpdesk',
  err_server_unreachable: 'Session server unreachable: try again in a moment (open sessions stay open)',
  err_clock_skew: "This PC's clock is wrong: call IT",
  err_code_locked: (p) => `Too many wrong codes: try again after ${p.until ?? 'a few minutes'} or call the helpdesk`,
  err_mfa_required: (p) =>
    p.credential === 'cps'
      ? 'Your session for the day is over: insert your CPS card in the reader and type your PIN'
      : 'Your session for the day is over: type your code again',
  err_reader_error: 'Reader problem: plug it in again and retry',
  err_invalid_command: 'Action not possible: reload the page',
  err_not_allowed: 'Action not possible right now',
  err_internal: 'Internal error: call the helpdesk (Diagnostics → Export)',
  demoTitle: 'Demo mode',
  demoCards: 'Simulated CPS cards (PIN 1234)',
  demoBadges: 'Simulated badges',
  demoInsert: 'Insert',
  demoRemove: 'Remove card',
  demoTap: 'Tap',
  demoReset: 'Reset',
  demoBlocked: 'blocked',
  demoTries: (p) => `${p.n} try(ies)`,
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
};

export const catalogs: Record<Lang, { [K in MsgKey]: Msg }> = { fr, en };

export function t(lang: Lang, key: MsgKey, params: Params = {}): string {
  const m = catalogs[lang][key] ?? catalogs.fr[key];
  return typeof m === 'function' ? m(params) : m;
}

export const reasonKey = (r: LockReason) => `reason_${r.replace(/-/g, '_')}` as MsgKey;
export const errorKey = (c: AgentErrorCode) => `err_${c.replace(/-/g, '_')}` as MsgKey;
export const secondFactorKey = (f: SecondFactor) => `secondFactor_${f.replace(/-/g, '_')}` as MsgKey;
/** What the session server proved of the open session (an unchecked badge proof says whose word it took). */
export const assuranceKey = (s: { assurance: Assurance; unverifiedBadge?: UnverifiedBadgeProof }) =>
  (s.assurance === 'mfa'
    ? 'assurance_mfa'
    : s.assurance === 're-open'
      ? 'assurance_reopen'
      : s.unverifiedBadge
        ? `assurance_asserted_${s.unverifiedBadge.replace(/-/g, '_')}`
        : 'assurance_asserted') as MsgKey;

/** "3 h 59" / "12 min" — time left in the MFA window, rounded down to the minute. */
export function formatLeft(ms: number, lang: Lang): string {
  const min = Math.max(0, Math.floor(ms / 60_000));
  const h = Math.floor(min / 60);
  const m = min % 60;
  if (h === 0) return `${m} min`;
  return lang === 'fr' ? `${h} h ${String(m).padStart(2, '0')}` : `${h} h ${String(m).padStart(2, '0')} min`;
}
