import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LockReason, SessionStateKind } from '../../shared/contract';
import { AGENT_ERROR_CODES } from '../../shared/errors';
import { ERROR_MESSAGES } from './error-messages';
import {
  assuranceKey,
  auditLabel,
  catalogs,
  errorKey,
  formatLeft,
  formatTime,
  modeKey,
  outcomeKey,
  padErrorKey,
  readerStateKey,
  reasonKey,
  stateKey,
  t,
  transportKey,
} from './i18n';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

const REASONS: LockReason[] = [
  'startup',
  'user-lock',
  'card-removed',
  'card-removed-before-login',
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
      for (const c of AGENT_ERROR_CODES) expect(t(lang, errorKey(c), { triesLeft: 2, length: 4 })).toMatch(/\w/);
      for (const r of REASONS.filter((x) => x !== 'startup')) expect(t(lang, reasonKey(r))).toMatch(/\w/);
    }
  });

  it('names every state, mode, reader status, transport and outcome of the diagnostic page, in both languages', () => {
    const kinds: SessionStateKind[] = ['locked', 'presented', 'pin-required', 'authenticating', 'open', 'card-blocked'];
    for (const lang of ['fr', 'en'] as const) {
      for (const k of [
        ...kinds.map(stateKey),
        modeKey('electron'),
        modeKey('headless'),
        ...(['ok', 'unavailable', 'error'] as const).map(readerStateKey),
        ...(['demo', 'pcsc', 'hid'] as const).map(transportKey),
        outcomeKey('success'),
        outcomeKey('failure'),
      ])
        expect(t(lang, k), `${lang} ${k}`).toMatch(/\w/);
    }
  });

  it('puts every audit action the agent records into words (the code stays beside them)', () => {
    const files = execFileSync('git', ['ls-files', 'electron/core'], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    const actions = new Set<string>();
    for (const f of files) {
      const src = fs.readFileSync(path.join(root, f), 'utf8');
      for (const m of src.matchAll(/(?:action: |this\.audit\(|\? |_ACTION = )'([a-z]+\.[a-z.-]+)'/g))
        actions.add(m[1]!);
    }
    expect(actions.size).toBeGreaterThan(20);
    for (const a of actions) {
      expect(auditLabel(a, 'fr') ?? `no label for ${a}`, a).not.toMatch(/^no label/);
      expect(auditLabel(a, 'en') ?? `no label for ${a}`, a).not.toMatch(/^no label/);
    }
  });

  it('says a wrong session code is a wrong session code, not a wrong PIN', () => {
    expect(t('fr', padErrorKey('pin-wrong', 'session-code'), { triesLeft: 4 })).toBe(
      'Code de session incorrect — 4 essais restants',
    );
    expect(t('fr', padErrorKey('pin-wrong', 'session-code'))).toBe('Code de session incorrect : réessayez');
    expect(t('fr', padErrorKey('pin-wrong', 'card-pin'), { triesLeft: 2 })).toBe(
      'Code PIN incorrect — 2 essais restants',
    );
    expect(t('en', padErrorKey('pin-wrong', 'session-code'))).toBe('Wrong session code: try again');
  });

  it('has no jargon acronym for the nurse, in either language', () => {
    const errors = Object.entries(ERROR_MESSAGES).flatMap(([c, m]) => [
      [`${c} fr`, m.fr] as const,
      [`${c} en`, m.en] as const,
    ]);
    for (const [k, m] of [...Object.entries(catalogs.fr), ...Object.entries(catalogs.en), ...errors]) {
      const text = typeof m === 'function' ? m({ left: '3 h 59', n: 2, triesLeft: 2, reason: 'x', name: 'X' }) : m;
      expect(text, k).not.toMatch(/\bMFA\b/);
    }
  });

  it('gives clock times in the agent’s language, 24 h, whatever the browser’s locale', () => {
    const at = new Date(2026, 0, 5, 15, 4, 9).getTime();
    expect(formatTime(at, 'fr')).toBe('15:04:09');
    expect(formatTime(at, 'en')).toBe('15:04:09');
  });

  it('says tries left in French with the right plural', () => {
    expect(t('fr', errorKey('pin-wrong'), { triesLeft: 2 })).toBe('Code PIN incorrect — 2 essais restants');
    expect(t('fr', errorKey('pin-wrong'), { triesLeft: 1 })).toBe('Code PIN incorrect — 1 essai restant');
    expect(t('fr', errorKey('card-blocked'))).toBe('Carte bloquée : contactez le support, code PUK requis');
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
