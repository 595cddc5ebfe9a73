// Server custody of the badge keys: both cryptographic steps of the mutual authentication are relayed to
// the session server, which holds the application master keys (configuration or HSM) and sends back
// only this tap's session keys. Messages: see custody.ts. A refusal by the server because the card's
// answer did not prove the key surfaces as 'auth-failed' (not genuine), like the local custody.
import type { SessionServerClient } from '../../oidc/server-client';
import { ServerError } from '../../oidc/server-client';
import type { BeginRequest, KeyCustody, SessionKeys } from './custody';
import { DesfireError } from './protocol';

const b = (s: unknown) => Buffer.from(String(s), 'base64url');

export class RelayKeyCustody implements KeyCustody {
  readonly kind = 'server-relay' as const;

  constructor(private readonly client: () => Promise<SessionServerClient>) {}

  async begin(req: BeginRequest): Promise<{ handle: string; reply: Buffer }> {
    const r = await this.call('begin', {
      scheme: req.scheme,
      aid: req.ref.aid.toString('base64url'),
      keyNo: req.ref.keyNo,
      divInput: req.ref.divInput.toString('base64url'),
      diversification: req.ref.diversification ?? 'an10922',
      encRndB: req.encRndB.toString('base64url'),
    });
    const reply = b(r.reply);
    if (typeof r.handle !== 'string' || reply.length !== 32)
      throw new DesfireError('malformed', 'réponse du serveur de clés invalide');
    return { handle: r.handle, reply };
  }

  async finish(handle: string, cardReply: Buffer): Promise<SessionKeys> {
    const r = await this.call('finish', { handle, cardReply: cardReply.toString('base64url') });
    if (r.scheme === 'ev2') return { scheme: 'ev2', ti: b(r.ti), enc: b(r.enc), mac: b(r.mac) };
    return { scheme: 'aes', key: b(r.key) };
  }

  abort(): void {
    // The server keeps no state between the steps (sealed handle): nothing to release.
  }

  private async call(step: 'begin' | 'finish', body: Record<string, unknown>): Promise<Record<string, unknown>> {
    try {
      return await (await this.client()).desfireRelay(step, body);
    } catch (e) {
      if (e instanceof ServerError && e.code === 'invalid_grant' && step === 'finish')
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
