// The shared rules, as both sides apply them: text parameters, refusal codes, API answer shapes.
import { describe, expect, it } from 'vitest';
import { answers, refusalCode, TEXT, textProblem } from './index';

describe('text rules', () => {
  it('accepts what the agent builds: badge numbers with spaces, hex ids, names with accents', () => {
    expect(textProblem('CHU 000123', TEXT.badgeId)).toBeNull();
    expect(textProblem('desfire:04A1B2C3D4E5F6', TEXT.badgeId)).toBeNull();
    expect(textProblem('https://dpi.hopital.fr/api', TEXT.audience)).toBeNull();
    expect(textProblem('PC-URG-01 (Pavillon Hélène-Boucher) 🏥', TEXT.workstationName)).toBeNull();
    expect(textProblem('', TEXT.parameter)).toBeNull();
  });

  it('refuses NUL and every other control character, over-long values, lone surrogates and non-strings', () => {
    for (const rule of Object.values(TEXT)) {
      expect(textProblem(`ab\u0000cd`.padEnd(Math.max(rule.min, 5), 'x'), rule)).toMatch(/U\+0000/);
      expect(textProblem('x'.repeat(rule.max + 1), rule)).toMatch(/longer than/);
      expect(textProblem(42, rule)).toBe('must be a string');
    }
    for (const c of ['\t', '\n', '\r', '\u001b', '\u007f', '\u0085', '\u2028', '\u202e', '\u2066', '\ufeff'])
      expect(textProblem(`Poste${c}A`, TEXT.workstationName)).toMatch(/control character/);
    expect(textProblem('Poste \ud800A', TEXT.workstationName)).toBe('invalid Unicode (lone surrogate)');
    expect(textProblem('Poste \udc00', TEXT.workstationName)).toBe('invalid Unicode (lone surrogate)');
    expect(textProblem('é', TEXT.clientId)).toBe('printable ASCII only (found U+00E9)');
    expect(textProblem('', TEXT.badgeId)).toBe('must not be empty');
    expect(textProblem('short', TEXT.jti)).toBe('shorter than 16 characters');
  });
});

describe('refusal codes', () => {
  it('takes the precise sillage_error first, then a declared error, and nothing undeclared', () => {
    expect(refusalCode({ error: 'invalid_grant', sillage_error: 'secret_wrong' })).toBe('secret_wrong');
    expect(refusalCode({ error: 'invalid_client', sillage_error: 'something-new' })).toBe('invalid_client');
    expect(refusalCode({ error: 'unknown_key' })).toBe('unknown_key');
    expect(refusalCode({ error: 'made_up' })).toBeNull();
    expect(refusalCode('oops')).toBeNull();
    expect(refusalCode(null)).toBeNull();
  });
});

describe('API answers', () => {
  it('reads well-formed answers and nothing else', () => {
    expect(answers.sessionStatus({ active: true, session_id: 's', auth_time: 1, expires_at: 2 })).toEqual({
      active: true,
      session_id: 's',
      auth_time: 1,
      expires_at: 2,
    });
    expect(answers.sessionStatus({ error: 'invalid_token', active: false, reason: 'user-logout' })).toEqual({
      active: false,
      error: 'invalid_token',
      reason: 'user-logout',
    });
    expect(answers.sessionStatus({ active: true, session_id: 's', auth_time: '1', expires_at: 2 })).toBeNull();
    expect(answers.sessionStatus({ active: 'yes' })).toBeNull();
    expect(answers.registration({ client_id: 'ws-1', issuer: 'https://sso' })).toEqual({
      client_id: 'ws-1',
      issuer: 'https://sso',
    });
    expect(answers.registration({ client_id: 7, issuer: 'https://sso' })).toBeNull();
    expect(answers.enrolment({ enrolled: true, uid: '04A1B2C3D4E5F6' })).toEqual({
      enrolled: true,
      uid: '04A1B2C3D4E5F6',
    });
    expect(answers.enrolment({ enrolled: true })).toBeNull();
    expect(answers.enrolment({ enrolled: 'true' })).toBeNull();
    expect(answers.logout({ ended: true, workstations: 2 })).toEqual({ ended: true, workstations: 2 });
    expect(answers.logout({ ended: true, workstations: Number.NaN })).toBeNull();
    expect(answers.nonce({ nonce: 'n', expires_at: 3 })).toEqual({ nonce: 'n', expires_at: 3 });
    expect(answers.nonce([])).toBeNull();
  });
});
