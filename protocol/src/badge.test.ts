// The badge wire: what the agent builds parses back to the same proof on the server, names are the
// protocol's (a misnamed field does not compile: `npm run typecheck`), hostile values are refused.
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  BADGE_GRANT_PARAMS,
  badgeCodeParams,
  badgeEnrolRequest,
  badgeTapParams,
  isB64url,
  normaliseUid,
  parseBadgeCode,
  parseBadgeProof,
  parseRelayBegin,
  parseRelayBeginResponse,
} from './badge';
import type { BadgeCodeParams, BadgeProof, BadgeTapParams, RelayBeginRequest } from './badge';

const b64 = (n: number, fill = 1) => Buffer.alloc(n, fill).toString('base64url');
const HANDLE = b64(150);

describe('badge grant parameters', () => {
  it('have the protocol’s names, at compile time', () => {
    expectTypeOf(badgeTapParams).returns.toEqualTypeOf<BadgeTapParams>();
    expectTypeOf(badgeCodeParams).returns.toEqualTypeOf<BadgeCodeParams>();
    // @ts-expect-error the card's answer travels as badge_response, not as `response`
    const misnamed: BadgeTapParams = { badge_proof: 'desfire', badge_challenge: HANDLE, response: b64(32) };
    // @ts-expect-error a relay proof without the server's challenge is no proof
    const bare: BadgeTapParams = { badge_proof: 'desfire', badge_response: b64(32) };
    // @ts-expect-error the UID of a UID-only proof is badge_uid
    const uid: BadgeTapParams = { badge_proof: 'uid-only', badge_id: '04A1B2C3' };
    expect([misnamed, bare, uid]).toHaveLength(3);
  });

  it('parse back to the proof the agent sent, for every kind', () => {
    const proofs: BadgeProof[] = [
      { kind: 'desfire', challenge: HANDLE, response: b64(32) },
      { kind: 'desfire', challenge: HANDLE, response: b64(16) },
      { kind: 'local-key', uid: '04A1B2C3D4E5F6' },
      { kind: 'uid-only', uid: 'prox:26:00A1B2C3' },
      { kind: 'reader-verified', number: 'CHU-000123' },
    ];
    for (const p of proofs) expect(parseBadgeProof(badgeTapParams(p))).toEqual({ ok: true, value: p });
    expect(parseBadgeCode(badgeCodeParams(HANDLE, '4821'))).toEqual({
      ok: true,
      value: { ticket: HANDLE, secret: '4821' },
    });
    expect(parseBadgeCode({ badge_proof: 'desfire' })).toBeNull();
    expect(BADGE_GRANT_PARAMS).toEqual(expect.arrayContaining(Object.keys(badgeTapParams(proofs[0]!))));
    const enrol = badgeEnrolRequest({ kind: 'desfire', challenge: HANDLE, response: b64(32) }, 'CHU-1');
    expect(parseBadgeProof(enrol)).toMatchObject({ ok: true, value: { kind: 'desfire' } });
    expect(enrol.badge_number).toBe('CHU-1');
  });

  it('refuse what is not a proof: a bare badge id, NUL bytes, sizes off, unknown kinds', () => {
    const bad: Record<string, unknown>[] = [
      { badge_id: 'CHU-000123', badge_proof: 'desfire-aes-diversified' },
      { badge_proof: 'desfire', badge_challenge: HANDLE, badge_response: b64(31) },
      { badge_proof: 'desfire', badge_challenge: 'A'.repeat(5000), badge_response: b64(32) },
      { badge_proof: 'desfire', badge_challenge: `${HANDLE}=`, badge_response: b64(32) },
      { badge_proof: 'uid-only', badge_uid: '04A1B2C3\u0000' },
      { badge_proof: 'uid-only', badge_uid: '04A1B2' },
      { badge_proof: 'local-key', badge_uid: 'x'.repeat(65) },
      { badge_proof: 'reader-verified', badge_number: '' },
      { badge_proof: 'reader-verified', badge_number: 'CHU\u0007' },
      { badge_proof: ['desfire'] },
    ];
    for (const p of bad) expect(parseBadgeProof(p).ok, JSON.stringify(p)).toBe(false);
    expect(parseBadgeCode({ login_ticket: HANDLE, secret: '12\u000034' })?.ok).toBe(false);
    expect(parseBadgeCode({ secret: '1234' })?.ok).toBe(false);
    expect(normaliseUid('04a1b2c3d4e5f6')).toBe('04A1B2C3D4E5F6');
    expect(isB64url(b64(3), 3)).toBe(true);
    expect(isB64url('AAAAA', 4)).toBe(false);
  });
});

describe('relay messages', () => {
  it('a begin request names a key diversified for a UID, or the shared key without one', () => {
    const req: RelayBeginRequest = {
      scheme: 'ev2',
      aid: b64(3),
      keyNo: 1,
      uid: b64(7),
      systemId: b64(4),
      encRndB: b64(16),
    };
    expect(parseRelayBegin({ ...req })).toEqual({ ok: true, value: req });
    const shared = { scheme: 'ev2', aid: b64(3), keyNo: 2, encRndB: b64(16) };
    expect(parseRelayBegin(shared)).toEqual({ ok: true, value: shared });
    for (const b of [
      { ...req, uid: b64(6) },
      { ...req, keyNo: 14 },
      { ...req, scheme: 'des' },
      { ...req, systemId: b64(22) },
      { ...req, uid: b64(10), systemId: b64(19) },
      { ...req, diversification: 'an10957' },
      { ...shared, systemId: b64(4) },
      { ...req, encRndB: b64(17) },
    ])
      expect(parseRelayBegin(b).ok, JSON.stringify(b)).toBe(false);
    expect(parseRelayBeginResponse({ handle: HANDLE, reply: b64(32) }).ok).toBe(true);
    expect(parseRelayBeginResponse({ handle: HANDLE, reply: b64(16) }).ok).toBe(false);
  });
});
