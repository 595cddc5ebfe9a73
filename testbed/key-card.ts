// A CardHandle over a PEM key and certificate (node:crypto): stands for a CPS card where the test is
// about the server, not the card path (that one is covered through pcscd, vpcd and PKCS#11 modules).
import { constants, createPrivateKey, sign as cryptoSign, X509Certificate } from 'node:crypto';
import type {
  CardHandle,
  CardSignature,
  PinResult,
  PinStatus,
  SignatureAlgorithm,
} from '../electron/core/devices/types';
import type { Identity } from '../shared/contract';

export function keyCard(certPem: string, keyPem: string, pin = '1234'): CardHandle & { signCount: number } {
  const cert = new X509Certificate(certPem);
  const key = createPrivateKey(keyPem);
  let loggedIn = false;
  const fields = Object.fromEntries(
    cert.subject.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const card = {
    reader: 'Test reader',
    cardType: 'CPS3',
    signatureAlgorithm: 'RSA-PKCS1-SHA256' as const,
    signCount: 0,
    readIdentity: async (): Promise<Identity> => ({
      idNat: fields.CN ?? '',
      lastName: fields.SN ?? '',
      firstName: fields.GN ?? '',
      profession: fields.title ?? '',
    }),
    readCertificate: async () => cert.raw,
    pinStatus: async (): Promise<PinStatus> => ({ triesLeft: 3, blocked: false }),
    verifyPin: async (p: string): Promise<PinResult> => {
      loggedIn = p === pin;
      return loggedIn ? { ok: true } : { ok: false, reason: 'wrong', triesLeft: 2 };
    },
    sign: async (challenge: Buffer, algorithm: SignatureAlgorithm = 'RSA-PKCS1-SHA256'): Promise<CardSignature> => {
      if (!loggedIn) throw new Error('card not logged in');
      card.signCount++;
      const pss = algorithm === 'RSA-PSS-SHA256';
      const signature = cryptoSign(
        'sha256',
        challenge,
        pss ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : key,
      );
      return { signature, algorithm, certificate: cert.raw };
    },
    release: async () => {
      loggedIn = false;
    },
  };
  return card;
}

/** A card over an issued certificate and key, its PIN typed: a CPS card ready to sign a login. */
export async function pinVerifiedCard(issued: {
  certPem: string;
  keyPem: string;
}): Promise<ReturnType<typeof keyCard>> {
  const card = keyCard(issued.certPem, issued.keyPem);
  const r = await card.verifyPin('1234');
  if (!r.ok) throw new Error('the test card refused its PIN');
  return card;
}
