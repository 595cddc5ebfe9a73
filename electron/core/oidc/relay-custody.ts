// Server custody of the badge keys: the session server holds the application master keys (configuration
// or HSM) and answers the card's first frame with its own challenge. A tap's proof is the card's answer
// to that challenge, which goes into the badge grant: the server checks it there (one round trip for the
// challenge, one for the grant). Only the application's shared key (random-UID badges read their real
// UID with it) is finished through the relay, for that tap's session keys. Messages: @sillage/protocol.
import type { BadgeProof, RelayBeginRequest } from '@sillage/protocol';
import type { SessionServerClient } from './server-client';
import { ServerError } from './server-client';
import type { BeginRequest, KeyCustody, KeyRef, SessionKeys } from '../devices/badge/desfire/custody';
import { DesfireError } from '../devices/badge/desfire/errors';

const b = (s: string) => Buffer.from(s, 'base64url');

export class RelayKeyCustody implements KeyCustody {
  readonly kind = 'server-relay' as const;

  constructor(private readonly client: () => Promise<Pick<SessionServerClient, 'relayBegin' | 'relayFinish'>>) {}

  async begin(req: BeginRequest): Promise<{ handle: string; reply: Buffer }> {
    const body: RelayBeginRequest = {
      scheme: req.scheme,
      aid: req.ref.aid.toString('base64url'),
      keyNo: req.ref.keyNo,
      diversification: req.ref.diversification ?? 'an10922',
      encRndB: req.encRndB.toString('base64url'),
      ...(req.ref.uid
        ? { uid: req.ref.uid.toString('base64url'), systemId: req.ref.systemId.toString('base64url') }
        : {}),
    };
    const r = await this.call('begin', () => this.client().then((c) => c.relayBegin(body)));
    return { handle: r.handle, reply: b(r.reply) };
  }

  async finish(handle: string, cardReply: Buffer): Promise<SessionKeys> {
    const r = await this.call('finish', () =>
      this.client().then((c) => c.relayFinish({ handle, cardReply: cardReply.toString('base64url') })),
    );
    if (r.scheme === 'ev2') return { scheme: 'ev2', ti: b(r.ti), enc: b(r.enc), mac: b(r.mac) };
    return { scheme: 'aes', key: b(r.key) };
  }

  async proof(handle: string, cardReply: Buffer, ref: KeyRef): Promise<BadgeProof> {
    if (!ref.uid) throw new DesfireError('unsupported', "la clé commune de l'application ne prouve aucun badge");
    // Checked by the server in the grant; nothing here can tell a forged answer from a genuine one.
    return { kind: 'desfire', challenge: handle, response: cardReply.toString('base64url') };
  }

  abort(): void {
    // The server keeps no state between the steps (sealed handle): nothing to release.
  }

  private async call<T>(step: 'begin' | 'finish', fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ServerError && e.code === 'badge_not_genuine' && step === 'finish')
        throw new DesfireError(
          'auth-failed',
          'le badge ne connaît pas la clé attendue (badge non authentique, vérifié par le serveur)',
        );
      throw new DesfireError(
        e instanceof ServerError && e.code === 'server-unreachable' ? 'custody-unavailable' : 'unsupported',
        `serveur de clés des badges : ${(e as Error).message}`,
      );
    }
  }
}
