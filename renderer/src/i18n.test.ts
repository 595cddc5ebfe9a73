import { describe, expect, it } from 'vitest';
import type { AgentErrorCode, LockReason } from '../../shared/contract';
import { assuranceKey, catalogs, errorKey, formatLeft, reasonKey, t } from './i18n';

const CODES: AgentErrorCode[] = [
  'pin-wrong',
  'pin-format',
  'card-blocked',
  'card-removed',
  'card-unknown',
  'card-expired',
  'badge-unknown',
  'badge-weak',
  'badge-revoked',
  'badge-not-genuine',
  'badge-unreadable',
  'badge-not-encoded',
  'badge-tap-again',
  'badge-taken',
  'enrolment-too-late',
  'auth-refused',
  'server-unreachable',
  'clock-skew',
  'code-locked',
  'mfa-required',
  'reader-error',
  'invalid-command',
  'not-allowed',
  'internal',
];
const REASONS: LockReason[] = [
  'startup',
  'user-lock',
  'card-removed',
  'tap-out',
  'switch-user',
  'inactivity',
  'os-lock',
  'mfa-expired',
  'auth-failed',
  'cancelled',
  'session-revoked',
];

describe('i18n', () => {
  it('has every French key in English', () => {
    expect(Object.keys(catalogs.en).sort()).toEqual(Object.keys(catalogs.fr).sort());
  });

  it('has a message for every agent error code and lock reason, in both languages', () => {
    for (const lang of ['fr', 'en'] as const) {
      for (const c of CODES) expect(t(lang, errorKey(c), { triesLeft: 2, length: 4 })).toMatch(/\w/);
      for (const r of REASONS.filter((x) => x !== 'startup')) expect(t(lang, reasonKey(r))).toMatch(/\w/);
    }
  });

  it('says tries left in French with the right plural', () => {
    expect(t('fr', 'err_pin_wrong', { triesLeft: 2 })).toBe('Code PIN incorrect — 2 essais restants');
    expect(t('fr', 'err_pin_wrong', { triesLeft: 1 })).toBe('Code PIN incorrect — 1 essai restant');
    expect(t('fr', 'err_card_blocked')).toBe('Carte bloquée : contactez le support, code PUK requis');
    expect(t('fr', errorKey('clock-skew'))).toBe("Horloge du poste décalée : contactez l'informatique");
  });

  it('names what the server proved of a session, an unchecked badge proof by whose word it was', () => {
    expect(t('fr', assuranceKey({ assurance: 'mfa' }))).toBe('Authentification forte (2 facteurs)');
    expect(t('fr', assuranceKey({ assurance: 're-open' }))).toBe('Réouverture par badge');
    expect(t('fr', assuranceKey({ assurance: 'asserted', unverifiedBadge: 'uid-only' }))).toBe(
      'Badge non vérifié par le serveur : numéro de puce seul',
    );
    expect(t('en', assuranceKey({ assurance: 'asserted', unverifiedBadge: 'local-key' }))).toBe(
      'Badge checked by this PC, not by the server',
    );
    expect(t('en', assuranceKey({ assurance: 'asserted', unverifiedBadge: 'reader-verified' }))).toBe(
      'Badge checked by the reader, not by the server',
    );
    expect(t('fr', assuranceKey({ assurance: 'asserted' }))).toBe(
      'Session ouverte par un badge non vérifié par le serveur',
    );
  });

  it('formats the MFA time left', () => {
    expect(formatLeft(4 * 3600_000, 'fr')).toBe('4 h 00');
    expect(formatLeft(3 * 3600_000 + 59 * 60_000 + 59_000, 'fr')).toBe('3 h 59');
    expect(formatLeft(12 * 60_000, 'en')).toBe('12 min');
    expect(formatLeft(-5, 'fr')).toBe('0 min');
  });
});
