import { OAUTH_ERRORS, refusalCode, SILLAGE_ERRORS } from '@sillage/protocol';
import { describe, expect, it } from 'vitest';
import { AGENT_ERROR_CODES, isAgentErrorCode } from '../../../shared/errors';
import type { AgentErrorCode } from '../../../shared/errors';
import { ServerAuthenticator } from '../auth/server-authenticator';
import type { BadgeRead } from '../devices/types';
import { systemClock } from '../util/clock';
import { ServerError } from './server-client';
import type { ServerErrorCode, SessionServerClient } from './server-client';
import { agentCodeOf, UNKNOWN_SERVER_REFUSAL } from './server-codes';

const EVERY: ServerErrorCode[] = [...SILLAGE_ERRORS, ...OAUTH_ERRORS, 'server-unreachable', 'unexpected'];

const badge: BadgeRead = {
  reader: 'Lecteur test',
  cardType: 'DESFire EV3',
  chipId: '04A1B2C3D4E5F6',
  strength: 'desfire-aes-diversified',
  proof: { kind: 'desfire', challenge: 'c', response: 'r' },
};

/** A session server client whose badge calls end with the server's refusal `code`. */
const refusing = (code: ServerErrorCode, body: Record<string, unknown> = {}) =>
  (async () =>
    ({
      badge: () => Promise.reject(new ServerError(code, `refused: ${code}`, body)),
      badgeCode: () => Promise.reject(new ServerError(code, `refused: ${code}`, body)),
    }) as unknown as SessionServerClient) as () => Promise<SessionServerClient>;

describe('session server refusal → agent code', () => {
  it('gives every declared server code an agent code of the catalog', () => {
    for (const code of EVERY) expect(isAgentErrorCode(agentCodeOf(code)), code).toBe(true);
  });

  it('says "try again in a moment" for every code of a server that cannot answer now', () => {
    const unavailable = EVERY.filter((c) => /unavailable|unreachable|server_error/.test(c));
    expect(unavailable.length).toBeGreaterThanOrEqual(5);
    for (const code of unavailable) expect(agentCodeOf(code), code).toBe('server-unreachable');
  });

  it('maps an answer without a declared code to the named fallback, never to a guess', () => {
    for (const body of [{ sillage_error: 'badge_on_fire' }, { error: 'pin-wrong' }, { code: 'card-blocked' }, {}])
      expect(refusalCode(body)).toBeNull();
    expect(agentCodeOf('unexpected')).toBe(UNKNOWN_SERVER_REFUSAL);
    expect(UNKNOWN_SERVER_REFUSAL).toBe('auth-refused');
  });

  it('names precisely what a nurse can act on, and leaves the rest to the fallback', () => {
    const fromServer = new Set(EVERY.map(agentCodeOf));
    const expected: AgentErrorCode[] = [
      'pin-wrong',
      'code-locked',
      'mfa-required',
      'clock-skew',
      'card-expired',
      'badge-unknown',
      'badge-revoked',
      'badge-weak',
      'badge-not-genuine',
      'badge-tap-again',
      'badge-taken',
      'enrolment-too-late',
      'server-unreachable',
      UNKNOWN_SERVER_REFUSAL,
    ];
    expect([...fromServer].sort()).toEqual([...expected].sort());
    for (const c of fromServer) expect(AGENT_ERROR_CODES).toContain(c);
  });

  it('is what the authenticator hands the engine, for every code', async () => {
    for (const code of EVERY) {
      const auth = new ServerAuthenticator({ client: refusing(code), clock: systemClock });
      const tap = await auth.badgeTapped(badge);
      expect(tap, code).toMatchObject({ kind: 'refused', code: agentCodeOf(code) });
      const login = await auth.loginWithBadge(badge, 'ticket', '4821');
      expect(login, code).toMatchObject({ ok: false, code: agentCodeOf(code) });
    }
  });

  it('keeps the server’s details for the message (tries left, the end of a lock)', async () => {
    const auth = new ServerAuthenticator({
      client: refusing('secret_wrong', { tries_left: 2, login_ticket: 'next' }),
      clock: systemClock,
    });
    expect(await auth.loginWithBadge(badge, 'ticket', '0000')).toMatchObject({
      ok: false,
      code: 'pin-wrong',
      params: { triesLeft: 2 },
      ticket: 'next',
    });
  });
});
