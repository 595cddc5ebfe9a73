// The contract → UI boundary: every agent error code as the sentence that says what to do next, French
// first. The table is over the catalog's list (shared/errors.ts): a code without both its messages does
// not compile (`npm run typecheck`; error-messages.test.ts proves it). A message may take the error's
// `params` (tries left, a time, a reason).
import type { Lang } from '../../shared/contract';
import type { AgentErrorCode } from '../../shared/errors';

export type Params = Record<string, string | number>;
export type Msg = string | ((p: Params) => string);
export type ErrorMessages = Record<AgentErrorCode, Record<Lang, Msg>>;

export const ERROR_MESSAGES: ErrorMessages = {
  'pin-wrong': {
    fr: (p) =>
      p.triesLeft !== undefined
        ? `Code PIN incorrect — ${Number(p.triesLeft) === 1 ? '1 essai restant' : `${p.triesLeft} essais restants`}`
        : 'Code incorrect : réessayez',
    en: (p) =>
      p.triesLeft !== undefined
        ? `Wrong PIN — ${Number(p.triesLeft) === 1 ? '1 try left' : `${p.triesLeft} tries left`}`
        : 'Wrong code: try again',
  },
  'pin-format': {
    fr: (p) => `Le code PIN compte ${p.length ?? 4} chiffres`,
    en: (p) => `The PIN has ${p.length ?? 4} digits`,
  },
  'card-blocked': {
    fr: 'Carte bloquée : contactez le support, code PUK requis',
    en: 'Card blocked: call the helpdesk, PUK code required',
  },
  'card-removed': {
    fr: 'Carte retirée pendant la vérification : réinsérez-la',
    en: 'Card removed during the check: insert it again',
  },
  'card-unknown': {
    fr: "Carte non reconnue : utilisez votre carte CPS ou votre badge de l'établissement",
    en: 'Card not recognised: use your CPS card or your hospital badge',
  },
  'card-expired': {
    fr: 'Certificat de la carte expiré : demandez une nouvelle carte CPS',
    en: 'Card certificate expired: ask for a new CPS card',
  },
  'badge-unknown': {
    fr: "Badge non enrôlé : connectez-vous une fois avec votre carte CPS pour l'enrôler",
    en: 'Badge not enrolled: log in once with your CPS card to enrol it',
  },
  'badge-weak': {
    fr: 'Badge non sécurisé refusé : demandez un badge à jour au support',
    en: 'Insecure badge refused: ask the helpdesk for an up-to-date badge',
  },
  'badge-revoked': {
    fr: 'Badge révoqué : contactez le support',
    en: 'Badge revoked: call the helpdesk',
  },
  'badge-not-genuine': {
    fr: 'Badge non authentique refusé (signalé au support) : utilisez votre carte CPS',
    en: 'Badge not genuine, refused (reported to the helpdesk): use your CPS card',
  },
  'badge-unreadable': {
    fr: 'Badge mal lu : posez-le à plat sur le lecteur et attendez le bip',
    en: 'Badge misread: hold it flat on the reader until the beep',
  },
  'badge-not-encoded': {
    fr: "Badge non encodé pour l'établissement : faites-le encoder par le support",
    en: 'Badge not encoded for the hospital: have the helpdesk encode it',
  },
  'badge-tap-again': {
    fr: 'Temps écoulé : badgez à nouveau puis tapez votre code',
    en: 'Time is up: tap your badge again, then type your code',
  },
  'badge-taken': {
    fr: "Ce badge appartient déjà à quelqu'un d'autre : présentez un badge neuf ou contactez l'informatique",
    en: 'This badge already belongs to someone else: present a new badge or call IT',
  },
  'enrolment-too-late': {
    fr: 'Trop tard pour associer un badge : reconnectez-vous avec votre carte CPS et son code',
    en: 'Too late to add a badge: log in again with your CPS card and its PIN',
  },
  'auth-refused': {
    fr: 'Authentification refusée : réessayez ou contactez le support',
    en: 'Authentication refused: try again or call the helpdesk',
  },
  'server-unreachable': {
    fr: 'Serveur de sessions injoignable : réessayez dans un instant (les sessions ouvertes restent ouvertes)',
    en: 'Session server unreachable: try again in a moment (open sessions stay open)',
  },
  'agent-unreachable': {
    fr: 'Agent Sillage injoignable : patientez quelques secondes, la connexion revient seule',
    en: 'Sillage agent unreachable: wait a few seconds, the connection comes back by itself',
  },
  'clock-skew': {
    fr: "Horloge du poste décalée : contactez l'informatique",
    en: "This PC's clock is wrong: call IT",
  },
  'code-locked': {
    fr: (p) => `Trop de codes erronés : réessayez après ${p.until ?? 'quelques minutes'} ou contactez le support`,
    en: (p) => `Too many wrong codes: try again after ${p.until ?? 'a few minutes'} or call the helpdesk`,
  },
  'mfa-required': {
    fr: (p) =>
      p.credential === 'cps'
        ? 'Session de la journée terminée : insérez votre carte CPS dans le lecteur et saisissez votre code'
        : 'Votre session de la journée est terminée : saisissez à nouveau votre code',
    en: (p) =>
      p.credential === 'cps'
        ? 'Your session for the day is over: insert your CPS card in the reader and type your PIN'
        : 'Your session for the day is over: type your code again',
  },
  'dmp-refused': {
    fr: (p) =>
      p.reason === 'no-patient'
        ? "Aucun patient ouvert dans le DPI : ouvrez d'abord le dossier du patient"
        : p.reason === 'dmp-not-configured'
          ? "Accès DMP non configuré sur ce poste : contactez l'informatique"
          : p.reason === 'server-unreachable'
            ? 'Serveur de sessions injoignable : réessayez dans un instant'
            : 'Ouverture du DMP impossible : reconnectez-vous (carte + code) ou contactez le support',
    en: (p) =>
      p.reason === 'no-patient'
        ? "No patient open in the EHR: open the patient's record first"
        : p.reason === 'dmp-not-configured'
          ? 'DMP access not configured on this PC: call IT'
          : p.reason === 'server-unreachable'
            ? 'Session server unreachable: try again in a moment'
            : 'Cannot open the DMP: log in again (card + code) or call the helpdesk',
  },
  'reader-error': {
    fr: 'Problème de lecteur : rebranchez-le puis réessayez',
    en: 'Reader problem: plug it in again and retry',
  },
  'invalid-command': {
    fr: 'Action impossible : rechargez la page',
    en: 'Action not possible: reload the page',
  },
  'not-allowed': {
    fr: "Action impossible à cette étape : suivez l'indication affichée à l'écran",
    en: 'Not possible at this step: follow what the screen says',
  },
  internal: {
    fr: 'Erreur interne : contactez le support (Diagnostic → Exporter)',
    en: 'Internal error: call the helpdesk (Diagnostics → Export)',
  },
};

export function errorMessage(code: AgentErrorCode, lang: Lang, params: Params = {}): string {
  const m = ERROR_MESSAGES[code][lang];
  return typeof m === 'function' ? m(params) : m;
}
