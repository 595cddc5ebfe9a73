// The agent and the session server speak the badge factor through @sillage/protocol only: the agent's
// client takes the protocol's proof and relay shapes (checked at compile time by `npm run typecheck`),
// and what the agent's relay custody actually sends is what the server's parser accepts.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { BADGE_GRANT_PARAMS, parseBadgeProof, parseRelayBegin } from '@sillage/protocol';
import type { BadgeProof, RelayBeginRequest, RelayBeginResponse, RelayFinishRequest } from '@sillage/protocol';
import { RelayKeyCustody } from '../../electron/core/oidc/relay-custody';
import type { SessionServerClient } from '../../electron/core/oidc/server-client';
import type { BadgeRead } from '../../electron/core/devices/types';

describe('badge wire, agent side against the server side', () => {
  it('the agent’s client and reader events carry the protocol’s types', () => {
    expectTypeOf<Parameters<SessionServerClient['badge']>[0]>().toEqualTypeOf<BadgeProof>();
    expectTypeOf<Parameters<SessionServerClient['relayBegin']>[0]>().toEqualTypeOf<RelayBeginRequest>();
    expectTypeOf<Parameters<SessionServerClient['relayFinish']>[0]>().toEqualTypeOf<RelayFinishRequest>();
    expectTypeOf<BadgeRead['proof']>().toEqualTypeOf<BadgeProof>();
    expect(BADGE_GRANT_PARAMS).toContain('badge_challenge');
  });

  it('what the relay custody sends parses on the server; its proof is the card’s answer under the challenge', async () => {
    const sent: RelayBeginRequest[] = [];
    const handle = Buffer.alloc(150, 9).toString('base64url');
    const fake = {
      relayBegin: async (b: RelayBeginRequest): Promise<RelayBeginResponse> => {
        sent.push(b);
        return { handle, reply: Buffer.alloc(32).toString('base64url') };
      },
      relayFinish: () => Promise.reject(new Error('not in this test')),
    };
    const custody = new RelayKeyCustody(async () => fake);
    const ref = {
      aid: Buffer.from([0x30, 0x12, 0xf5]),
      keyNo: 1,
      uid: Buffer.from('04A1B2C3D4E5F6', 'hex'),
      systemId: Buffer.from('434855', 'hex'),
    };
    const step = await custody.begin({ scheme: 'ev2', ref, encRndB: Buffer.alloc(16, 3) });
    expect(parseRelayBegin({ ...sent[0]! })).toMatchObject({ ok: true, value: { keyNo: 1, uid: sent[0]!.uid } });
    const proof = await custody.proof(step.handle, Buffer.alloc(32, 5), ref);
    expect(proof).toEqual({ kind: 'desfire', challenge: handle, response: Buffer.alloc(32, 5).toString('base64url') });
    const { badgeTapParams } = await import('@sillage/protocol');
    expect(parseBadgeProof(badgeTapParams(proof))).toEqual({ ok: true, value: proof });
  });
});
