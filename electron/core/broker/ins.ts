// INS (Identifiant National de Santé): the patient's NIR or NIA with its OID, as the DMP and the DPI
// exchange it. Checked before anything is opened: form (sex digit, year, month, department with
// Corsica's 2A/2B), and the control key = 97 − (number mod 97), where 2A counts as 19 and 2B as 18.
export const INS_OID = { NIR: '1.2.250.1.213.1.4.8', NIA: '1.2.250.1.213.1.4.10' } as const;

export type InsError = 'ins-format' | 'ins-key' | 'ins-oid';

export interface InsCheck {
  ok: boolean;
  error?: InsError;
  /** French first, for the DPI to show as is. */
  message?: string;
  /** The 13-character number and its 2-digit key, normalised (spaces removed, upper case). */
  number?: string;
  key?: string;
}

const MESSAGES: Record<InsError, string> = {
  'ins-format':
    'INS invalide : 15 caractères attendus (13 chiffres, 2A/2B pour la Corse, puis la clé de 2 chiffres). ' +
    'Vérifiez le numéro de l’identité du patient.',
  'ins-key':
    'INS invalide : la clé de contrôle ne correspond pas au numéro. Vérifiez le numéro de l’identité du patient.',
  'ins-oid': 'INS invalide : l’OID doit être celui du NIR (1.2.250.1.213.1.4.8) ou du NIA (1.2.250.1.213.1.4.10).',
};

const FORM = /^([1-478])(\d{2})(\d{2})(\d{2}|2A|2B)(\d{6})(\d{2})$/;

export function checkIns(value: unknown, oid: unknown): InsCheck {
  const fail = (error: InsError): InsCheck => ({ ok: false, error, message: MESSAGES[error] });
  if (oid !== INS_OID.NIR && oid !== INS_OID.NIA) return fail('ins-oid');
  if (typeof value !== 'string') return fail('ins-format');
  const s = value.replace(/[\s.]/g, '').toUpperCase();
  const m = FORM.exec(s);
  if (!m) return fail('ins-format');
  const month = Number(m[3]);
  // 01–12, or the codes used when the birth month is unknown (20–42, 50–99).
  if (!(month >= 1 && month <= 12) && !(month >= 20 && month <= 42) && !(month >= 50 && month <= 99))
    return fail('ins-format');
  const number = s.slice(0, 13);
  const numeric = number.replace('2A', '19').replace('2B', '18');
  const key = 97n - (BigInt(numeric) % 97n);
  if (key !== BigInt(m[6]!)) return fail('ins-key');
  return { ok: true, number, key: m[6]! };
}
