// Test Authenticator that checks a card's proof of possession against the certificate the card presents
// (what the session server does, with the chain as well). Records every proof it checked.
import { X509Certificate, constants, randomBytes, verify } from 'node:crypto';
import type { Authenticator } from '../electron/core/auth/types';

export function proofAuthenticator(): Authenticator & { proofs: { ok: boolean; algorithm: string }[] } {
  const proofs: { ok: boolean; algorithm: string }[] = [];
  return {
    proofs,
    async loginWithCard(card, identity) {
      const challenge = randomBytes(32);
      const p = await card.sign(challenge);
      const key = new X509Certificate(p.certificate!).publicKey;
      const ok = verify(
        'sha256',
        challenge,
        p.algorithm === 'RSA-PSS-SHA256' ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : key,
        p.signature,
      );
      proofs.push({ ok, algorithm: p.algorithm });
      const now = Date.now();
      return ok
        ? {
            ok: true,
            session: {
              user: identity,
              credential: { kind: 'cps-card', reader: card.reader, cardType: card.cardType },
              factors: ['card', 'pin'],
              assurance: 'mfa',
              authTime: now,
              mfaExpiresAt: now + 4 * 3600_000,
              openedAt: now,
            },
          }
        : { ok: false, code: 'auth-refused', reason: 'bad proof' };
    },
    badgeTapped: async () => ({ kind: 'refused', code: 'badge-unknown', reason: 'not in this test' }),
    loginWithBadge: async () => ({ ok: false, code: 'auth-refused', reason: 'not in this test' }),
    endWorkstationSession: async () => {},
  };
}
