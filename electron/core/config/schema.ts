// The one configuration schema of the agent: every setting, its type, bounds, default, who may set it
// and its French/English texts. The resolver, the ADMX/ADML templates, the MSI registry fragment and
// the diagnostics all derive from this list, so a setting cannot exist in one and not the others.
import { isHttpsOrLoopback } from '../util/url';
import { badgeProfileProblem } from './badge-profile';

export type SettingType = 'string' | 'integer' | 'boolean' | 'enum' | 'json';
export type Category = 'server' | 'readers' | 'session' | 'broker' | 'dmp' | 'ui' | 'logs';

export interface SettingDef {
  /** Policy value name (registry value, policy.json key, ADMX policy name). */
  key: string;
  type: SettingType;
  default: string | number | boolean | unknown[];
  category: Category;
  min?: number;
  max?: number;
  values?: readonly string[];
  /** Extra check for strings and JSON; returns a problem or null. */
  check?: (v: unknown) => string | null;
  /** A user may change it in the UI (user preferences), unless a policy sets it. */
  userSettable?: boolean;
  /** Masked in diagnostics and never logged. */
  secret?: boolean;
  /** MSI public property that writes it at install (silent deployment). */
  msiProperty?: string;
  fr: { label: string; help: string };
  en: { label: string; help: string };
}

/** Registry location of machine (and, where allowed, user) policies. */
export const VENDOR = 'Sillage';
export const POLICY_KEY = `SOFTWARE\\Policies\\${VENDOR}\\Sillage`;

const httpsUrl = (v: unknown) => {
  if (v === '') return null;
  try {
    return isHttpsOrLoopback(new URL(String(v))) ? null : 'HTTPS obligatoire (HTTP seulement sur 127.0.0.1)';
  } catch {
    return 'URL invalide';
  }
};

const arrayOf = (what: string, item: (o: Record<string, unknown>) => string | null) => (v: unknown) => {
  if (!Array.isArray(v)) return `liste JSON de ${what} attendue`;
  for (const [i, o] of v.entries()) {
    if (!o || typeof o !== 'object' || Array.isArray(o)) return `élément ${i + 1} : objet attendu`;
    const p = item(o as Record<string, unknown>);
    if (p) return `élément ${i + 1} : ${p}`;
  }
  return null;
};

const brokerApp = (o: Record<string, unknown>) => {
  if (typeof o.id !== 'string' || !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(o.id))
    return 'id (minuscules, chiffres, . _ -) requis';
  if (typeof o.name !== 'string' || !o.name) return 'name requis';
  if (o.executable === undefined && o.secretSha256 === undefined) return 'executable ou secretSha256 requis';
  if (o.executable !== undefined && (typeof o.executable !== 'string' || !/^([A-Za-z]:\\|\/)/.test(o.executable)))
    return 'executable : chemin absolu requis';
  if (o.secretSha256 !== undefined && (typeof o.secretSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.secretSha256)))
    return 'secretSha256 : 64 caractères hexadécimaux (SHA-256 du secret, jamais le secret)';
  if (!Array.isArray(o.audiences) || !o.audiences.every((a) => typeof a === 'string' && a))
    return 'audiences : liste de chaînes requise';
  return null;
};

const absolutePath = (v: unknown) => (v === '' || /^([A-Za-z]:\\|\/)/.test(String(v)) ? null : 'chemin absolu attendu');

const readerProfile = (o: Record<string, unknown>) => {
  if (typeof o.name !== 'string' || !o.name) return 'name requis';
  if (o.kind !== 'pcsc' && o.kind !== 'hid') return 'kind : pcsc ou hid';
  if (o.kind === 'hid' && (!Number.isInteger(o.vendorId) || !Number.isInteger(o.productId)))
    return 'vendorId et productId (entiers) requis pour un lecteur HID';
  if (o.kind === 'hid' && o.driver !== 'pcprox' && o.driver !== 'custom-report')
    return 'driver : pcprox ou custom-report pour un lecteur HID';
  if (o.encoding !== undefined && o.encoding !== 'hex' && o.encoding !== 'ascii') return 'encoding : hex ou ascii';
  for (const k of ['reportId', 'offset', 'length'] as const)
    if (o[k] !== undefined && (!Number.isInteger(o[k]) || (o[k] as number) < 0 || (o[k] as number) > 255))
      return `${k} : entier de 0 à 255`;
  return null;
};

export const SCHEMA: readonly SettingDef[] = [
  {
    key: 'ServerUrl',
    type: 'string',
    default: '',
    category: 'server',
    check: httpsUrl,
    msiProperty: 'SERVER_URL',
    fr: {
      label: 'Adresse du serveur de sessions',
      help:
        'URL HTTPS du serveur de sessions Sillage (ex. https://sso.hopital.fr). Vide ou invalide : le poste ' +
        'affiche « Poste non configuré » et n’ouvre rien (en mode démonstration seulement : serveur de ' +
        'démonstration local).',
    },
    en: {
      label: 'Session server URL',
      help:
        'HTTPS URL of the Sillage session server (e.g. https://sso.hospital.example). Empty or invalid: the PC ' +
        'shows "Workstation not configured" and opens nothing (in demo mode only: a local demo server).',
    },
  },
  {
    key: 'DemoMode',
    type: 'boolean',
    default: false,
    category: 'server',
    fr: {
      label: 'Mode démonstration',
      help:
        'Lecteurs simulés (cartes CPS et badges fictifs, code 1234) et, sans adresse de serveur, un serveur de ' +
        'démonstration local. Jamais sur un poste de soins : désactivé par défaut.',
    },
    en: {
      label: 'Demo mode',
      help:
        'Simulated readers (fake CPS cards and badges, code 1234) and, without a server URL, a local demo server. ' +
        'Never on a ward PC: off by default.',
    },
  },
  {
    key: 'EnrolmentToken',
    type: 'string',
    default: '',
    category: 'server',
    secret: true,
    check: (v) =>
      v === '' || /^[A-Za-z0-9_-]{16,128}$/.test(String(v))
        ? null
        : 'jeton d’enrôlement : 16 à 128 caractères A-Z a-z 0-9 _ -',
    msiProperty: 'ENROLMENT_TOKEN',
    fr: {
      label: "Jeton d'enrôlement du poste",
      help:
        "Jeton à usage unique délivré par `server:admin -- enrolment-token` : le poste s'enregistre une fois " +
        'auprès du serveur.',
    },
    en: {
      label: 'Workstation enrolment token',
      help: 'One-time token from `server:admin -- enrolment-token`: the PC registers once with the server.',
    },
  },
  {
    key: 'CryptolibPath',
    type: 'string',
    default: '',
    category: 'readers',
    check: absolutePath,
    fr: {
      label: 'Chemin de la Cryptolib CPS',
      help: 'Module PKCS#11 de la Cryptolib CPS. Vide : chemin standard de l’ANS selon le système.',
    },
    en: { label: 'CPS Cryptolib path', help: 'CPS Cryptolib PKCS#11 module. Empty: the ANS standard path for the OS.' },
  },
  {
    key: 'ReaderProfiles',
    type: 'json',
    default: [],
    category: 'readers',
    check: arrayOf('profils de lecteurs', readerProfile),
    fr: {
      label: 'Profils de lecteurs',
      help:
        'Liste JSON : ' +
        '[{"name","kind":"hid","vendorId","productId","driver":"pcprox"|"custom-report",' +
        '"reportId","offset","length","encoding"}]. ' +
        'Les lecteurs PC/SC sont reconnus sans profil.',
    },
    en: {
      label: 'Reader profiles',
      help:
        'JSON list: ' +
        '[{"name","kind":"hid","vendorId","productId","driver":"pcprox"|"custom-report",' +
        '"reportId","offset","length","encoding"}]. ' +
        'PC/SC readers need no profile.',
    },
  },
  {
    key: 'BadgeProfiles',
    type: 'json',
    default: [],
    category: 'readers',
    check: arrayOf('profils de badges', badgeProfileProblem),
    fr: {
      label: 'Profils de badges DESFire',
      help:
        'Liste JSON : ' +
        '[{"name","aid","keyNo","fileNo","length","mode":"mac"|"full","auth","systemId","uidKeyNo",' +
        '"diversification":"an10922"|"legacy-unpadded"}] ' +
        '— application, clé diversifiée (AN10922) et fichier lus après authentification mutuelle.',
    },
    en: {
      label: 'DESFire badge profiles',
      help:
        'JSON list: ' +
        '[{"name","aid","keyNo","fileNo","length","mode":"mac"|"full","auth","systemId","uidKeyNo",' +
        '"diversification":"an10922"|"legacy-unpadded"}] ' +
        '— application, diversified key (AN10922) and file read after mutual authentication.',
    },
  },
  {
    key: 'BadgeKeyCustody',
    type: 'enum',
    default: 'server',
    values: ['server', 'local'],
    category: 'readers',
    fr: {
      label: 'Garde des clés des badges',
      help:
        'server : le serveur de sessions détient les clés DESFire (recommandé) ; local : clé maîtresse dans le ' +
        'fichier protégé du poste.',
    },
    en: {
      label: 'Badge key custody',
      help:
        'server: the session server holds the DESFire keys (recommended); local: master key in the workstation’s ' +
        'protected file.',
    },
  },
  {
    key: 'BadgeKeyFile',
    type: 'string',
    default: '',
    category: 'readers',
    check: absolutePath,
    fr: {
      label: 'Fichier des clés des badges (garde locale)',
      help:
        'Fichier protégé par le système (DPAPI machine sous Windows ; 0600 sous Linux) : {"F51230/1": "clé AES ' +
        'hex"}.',
    },
    en: {
      label: 'Badge key file (local custody)',
      help: 'OS-protected file (machine DPAPI on Windows; 0600 on Linux): {"F51230/1": "AES key hex"}.',
    },
  },
  {
    key: 'AllowSoftwareWorkstationKey',
    type: 'boolean',
    default: true,
    category: 'server',
    fr: {
      label: 'Accepter une clé de poste logicielle sans TPM',
      help:
        'La clé du poste est créée dans le TPM quand il y en a un (elle ne peut pas en sortir). Sans TPM, une clé ' +
        'logicielle scellée par le système est utilisée, sauf si ce réglage est désactivé : le poste refuse alors ' +
        'de s’enregistrer et le diagnostic le dit.',
    },
    en: {
      label: 'Accept a software workstation key without a TPM',
      help:
        'The workstation key is made in the TPM when there is one (it cannot leave it). Without a TPM a software ' +
        'key sealed by the OS is used, unless this is off: the PC then refuses to register and the diagnostic says ' +
        'so.',
    },
  },
  {
    key: 'AllowBasicTextSecretStorage',
    type: 'boolean',
    default: false,
    category: 'server',
    fr: {
      label: 'Accepter le stockage basic_text de Linux',
      help:
        'Sans trousseau (gnome-keyring, KWallet), Linux scelle les secrets du poste avec un mot de passe fixe ' +
        '(basic_text) : quiconque copie le fichier peut l’ouvrir. Refusé par défaut : le poste ne s’enregistre pas ' +
        'et le diagnostic le dit.',
    },
    en: {
      label: "Accept Linux's basic_text secret storage",
      help:
        'Without a keyring (gnome-keyring, KWallet) Linux seals the PC’s secrets with a fixed password ' +
        '(basic_text): anyone who copies the file can open it. Refused by default: the PC does not register and ' +
        'the diagnostic says so.',
    },
  },
  {
    key: 'AllowUidOnlyBadges',
    type: 'boolean',
    default: false,
    category: 'readers',
    fr: {
      label: 'Accepter les badges lus sur leur seul UID',
      help: 'Déconseillé : un UID se copie. Désactivé par défaut.',
    },
    en: { label: 'Accept UID-only badges', help: 'Not recommended: a UID can be copied. Off by default.' },
  },
  {
    key: 'MfaWindowMinutes',
    type: 'integer',
    default: 240,
    min: 15,
    max: 720,
    category: 'session',
    fr: {
      label: 'Durée de la session forte (minutes)',
      help:
        'Fenêtre pendant laquelle un badgeage rouvre la session sans code. 240 = 4 heures. Le poste n’accepte ' +
        'jamais une fenêtre plus longue que celle-ci, même si le serveur de sessions en accorde une plus longue.',
    },
    en: {
      label: 'Strong session duration (minutes)',
      help:
        'Window in which a tap re-opens the session without a code. 240 = 4 hours. The PC never honours a longer ' +
        'window, even when the session server grants one.',
    },
  },
  {
    key: 'InactivityLockMinutes',
    type: 'integer',
    default: 10,
    min: 0,
    max: 240,
    category: 'session',
    fr: { label: 'Verrouillage après inactivité (minutes)', help: '0 : jamais.' },
    en: { label: 'Lock after inactivity (minutes)', help: '0: never.' },
  },
  {
    key: 'LockMode',
    type: 'enum',
    default: 'overlay',
    values: ['overlay', 'os'],
    category: 'session',
    fr: {
      label: 'Mode de verrouillage',
      help: 'overlay : écran Sillage sur une session Windows générique ; os : écran de verrouillage du système.',
    },
    en: { label: 'Lock mode', help: 'overlay: Sillage screen over a generic Windows session; os: the OS lock screen.' },
  },
  {
    key: 'TapDebounceMs',
    type: 'integer',
    default: 1500,
    min: 200,
    max: 10000,
    category: 'session',
    fr: {
      label: 'Anti-rebond du badgeage (ms)',
      help: 'Un second badgeage du même badge pendant ce délai est ignoré.',
    },
    en: { label: 'Tap debounce (ms)', help: 'A second tap of the same badge within this delay is ignored.' },
  },
  {
    key: 'DegradedCpsLogin',
    type: 'boolean',
    default: false,
    category: 'session',
    fr: {
      label: 'Connexion CPS en mode dégradé',
      help:
        'Serveur injoignable : autoriser carte + code vérifiés sur le poste contre CpsTrustAnchorsFile (session ' +
        'marquée « dégradée », sans accès DPI, limitée à MfaWindowMinutes).',
    },
    en: {
      label: 'Degraded CPS login',
      help:
        'Server unreachable: allow card + PIN checked on the PC against CpsTrustAnchorsFile (session marked ' +
        'degraded, no EHR access, at most MfaWindowMinutes).',
    },
  },
  {
    key: 'CpsTrustAnchorsFile',
    type: 'string',
    default: '',
    category: 'session',
    check: absolutePath,
    fr: {
      label: 'Autorités de confiance des cartes CPS (mode dégradé)',
      help:
        'Fichier PEM des racines et AC IGC-Santé contre lesquelles le poste vérifie lui-même le certificat d’une ' +
        'carte CPS en mode dégradé. Requis par DegradedCpsLogin.',
    },
    en: {
      label: 'CPS card trust anchors (degraded mode)',
      help:
        'PEM file of the IGC-Santé roots and CAs the PC checks a CPS card certificate against by itself in ' +
        'degraded mode. Required by DegradedCpsLogin.',
    },
  },
  {
    key: 'BrokerApplications',
    type: 'json',
    default: [],
    category: 'broker',
    check: arrayOf('applications', brokerApp),
    fr: {
      label: 'Applications autorisées',
      help: 'Liste JSON : [{"id","name","executable" ou "secretSha256","audiences":[...],"dmp":true}].',
    },
    en: {
      label: 'Allowed applications',
      help: 'JSON list: [{"id","name","executable" or "secretSha256","audiences":[...],"dmp":true}].',
    },
  },
  {
    key: 'BrokerHttpPort',
    type: 'integer',
    default: 0,
    min: 0,
    max: 65535,
    category: 'broker',
    fr: {
      label: 'Port HTTP local du courtier',
      help: 'Pour les applications qui ne parlent que HTTP (127.0.0.1). 0 : désactivé.',
    },
    en: { label: 'Broker loopback HTTP port', help: 'For applications that only speak HTTP (127.0.0.1). 0: off.' },
  },
  {
    key: 'DmpUrlTemplate',
    type: 'string',
    default: '',
    category: 'dmp',
    check: (v) => {
      if (v === '') return null;
      const s = String(v);
      const unknown = [...s.matchAll(/\{(\w+)\}/g)]
        .map((m) => m[1])
        .filter((k) => !['ins', 'insNumber', 'insKey', 'oid', 'idNat'].includes(k!));
      if (unknown.length) return `paramètre(s) inconnu(s) : ${unknown.join(', ')}`;
      return httpsUrl(s.replace(/\{\w+\}/g, 'x'));
    },
    fr: {
      label: "Modèle d'URL du DMP web PS",
      help: 'Paramètres {ins} {insNumber} {insKey} {oid} {idNat}. Vide : accès DMP désactivé.',
    },
    en: {
      label: 'DMP web PS URL template',
      help: 'Placeholders {ins} {insNumber} {insKey} {oid} {idNat}. Empty: DMP access off.',
    },
  },
  {
    key: 'Language',
    type: 'enum',
    default: 'fr',
    values: ['fr', 'en'],
    category: 'ui',
    userSettable: true,
    fr: { label: 'Langue', help: 'fr ou en.' },
    en: { label: 'Language', help: 'fr or en.' },
  },
  {
    key: 'AllowQuit',
    type: 'boolean',
    default: false,
    category: 'ui',
    fr: { label: 'Autoriser « Quitter »', help: 'Le menu de la barre des tâches propose Quitter.' },
    en: { label: 'Allow "Quit"', help: 'The tray menu offers Quit.' },
  },
  {
    key: 'LogLevel',
    type: 'enum',
    default: 'info',
    values: ['error', 'warn', 'info', 'debug'],
    category: 'logs',
    fr: {
      label: 'Niveau de journalisation',
      help: 'error, warn, info ou debug (jamais de secret, quel que soit le niveau).',
    },
    en: { label: 'Log level', help: 'error, warn, info or debug (never a secret, whatever the level).' },
  },
];

export type ConfigValues = Record<string, string | number | boolean | unknown[]>;

export function settingDef(key: string): SettingDef | undefined {
  return SCHEMA.find((s) => s.key === key);
}

/**
 * Validate one raw value (from JSON, the registry or the UI) against its setting. Registry values
 * arrive as strings or DWORDs: integers and booleans accept both; JSON settings accept JSON text.
 */
export function validateSetting(
  def: SettingDef,
  raw: unknown,
): { ok: true; value: ConfigValues[string] } | { ok: false; message: string } {
  const bad = (why: string) => ({ ok: false as const, message: `${def.key} : valeur refusée (${why})` });
  switch (def.type) {
    case 'boolean': {
      const v =
        raw === 1 || raw === '1' || raw === true ? true : raw === 0 || raw === '0' || raw === false ? false : null;
      return v === null ? bad('booléen attendu : 0 ou 1') : { ok: true, value: v };
    }
    case 'integer': {
      const n =
        typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isInteger(n)) return bad('nombre entier attendu');
      if ((def.min !== undefined && n < def.min) || (def.max !== undefined && n > def.max))
        return bad(`entre ${def.min} et ${def.max}`);
      return { ok: true, value: n };
    }
    case 'enum':
      return typeof raw === 'string' && def.values!.includes(raw)
        ? { ok: true, value: raw }
        : bad(`valeurs possibles : ${def.values!.join(', ')}`);
    case 'string': {
      if (typeof raw !== 'string' || raw.length > 4096) return bad('texte attendu (4096 caractères au plus)');
      const p = def.check?.(raw);
      return p ? bad(p) : { ok: true, value: raw };
    }
    case 'json': {
      let v: unknown = raw;
      if (typeof raw === 'string') {
        try {
          v = JSON.parse(raw);
        } catch {
          return bad('JSON invalide');
        }
      }
      const p = def.check?.(v);
      return p ? bad(p) : { ok: true, value: v as unknown[] };
    }
  }
}

export function defaults(): ConfigValues {
  return Object.fromEntries(SCHEMA.map((s) => [s.key, s.default]));
}
