// Every agent error code has a French and an English message that says what to do next, and the table
// cannot lose one: the `@ts-expect-error` lines below fail `npm run typecheck` the day a table without a
// code, or a code without its English, type-checks as the UI's table.
import { describe, expect, it } from 'vitest';
import type { Lang } from '../../shared/contract';
import { AGENT_ERROR_CODES } from '../../shared/errors';
import type { AgentErrorCode } from '../../shared/errors';
import { ERROR_MESSAGES, errorMessage } from './error-messages';
import type { ErrorMessages, Msg } from './error-messages';

const PARAMS = { triesLeft: 2, length: 4, until: '14:05', credential: 'cps', reason: 'no-patient' };

describe('error messages', () => {
  it('cannot compile without both messages of every code', () => {
    const { 'pin-wrong': _dropped, ...withoutOne } = ERROR_MESSAGES;
    // @ts-expect-error a table without one of the catalog's codes
    const short: ErrorMessages = withoutOne;
    // @ts-expect-error a code with its French message only
    const frOnly: ErrorMessages = { ...ERROR_MESSAGES, 'pin-wrong': { fr: 'Code PIN incorrect' } };
    // @ts-expect-error a code the catalog does not declare has no message
    const stray: ErrorMessages = { ...ERROR_MESSAGES, 'pin-forgotten': { fr: 'Code oublié', en: 'Code forgotten' } };
    // A code added to the catalog without its messages: the table no longer covers the list.
    type Added = AgentErrorCode | 'reader-unplugged';
    // @ts-expect-error the table lacks the added code
    const added: Record<Added, Record<Lang, Msg>> = ERROR_MESSAGES;
    expect([short, frOnly, stray, added]).toHaveLength(4);
    expect(Object.keys(ERROR_MESSAGES).sort()).toEqual([...AGENT_ERROR_CODES].sort());
  });

  it('says something for every code, in French and in English, with or without its details', () => {
    for (const code of AGENT_ERROR_CODES) {
      for (const params of [PARAMS, {}]) {
        const fr = errorMessage(code, 'fr', params);
        const en = errorMessage(code, 'en', params);
        expect(fr, code).toMatch(/\p{L}{3}/u);
        expect(en, code).toMatch(/[A-Za-z]{3}/);
        expect(fr, `${code}: not the English text`).not.toBe(en);
        expect(fr + en, code).not.toMatch(/undefined|NaN|\[object/);
      }
    }
  });

  it('tells the user what to do next: every message has an instruction after its colon or dash', () => {
    for (const code of AGENT_ERROR_CODES) {
      for (const lang of ['fr', 'en'] as const) {
        const text = errorMessage(code, lang, PARAMS);
        // "What happened : what to do" (pin-format and pin-wrong with tries left say the rule itself).
        if (code === 'pin-format' || code === 'pin-wrong') continue;
        expect(text, `${code} ${lang}`).toMatch(/ ?[:—] \S/);
      }
    }
  });

  it('puts the details in the sentence', () => {
    expect(errorMessage('pin-wrong', 'fr', { triesLeft: 1 })).toBe('Code PIN incorrect — 1 essai restant');
    expect(errorMessage('code-locked', 'en', { until: '14:05' })).toBe(
      'Too many wrong codes: try again after 14:05 or call the helpdesk',
    );
    expect(errorMessage('mfa-required', 'fr', { credential: 'cps' })).toMatch(/insérez votre carte CPS/);
    expect(errorMessage('dmp-refused', 'fr', { reason: 'no-patient' })).toMatch(/ouvrez d'abord le dossier/);
  });
});
