// Key custody: who holds the badge keys. A DESFire mutual authentication has two cryptographic steps on
// the reader's side; a KeyCustody computes them so the key can live in this process (LocalKeyCustody:
// master key from OS-protected configuration, diversified per badge) or on the session server (relay:
// the server holds the keys, in its configuration or an HSM, and sends back only the session keys).
// Relay messages (the server side is the session-server issue's):
//   POST {server}/sillage/desfire/auth/begin  { scheme, aid, keyNo, divInput, diversification, encRndB }
//                                                                        → { handle, reply }
//   POST {server}/sillage/desfire/auth/finish { handle, cardReply }      → { ti, enc, mac } | { key }
// all base64url, authenticated as the workstation (private_key_jwt access token), handle single-use
// and valid a few seconds. The badge key never leaves the custody; session keys live for one tap.
import { randomBytes, randomUUID } from 'node:crypto';
import {
  aesCbcDecrypt,
  aesCbcEncrypt,
  constantTimeEqual,
  diversifyAes128,
  ev1SessionKey,
  ev2SessionKeys,
  rotl,
} from './crypto';
import type { Diversification } from './crypto';
import { aidText, DesfireError } from './protocol';

export type AuthScheme = 'ev2' | 'aes';

/** Which key: the application, its key number, and the badge's diversification input (AN10922 M). */
export interface KeyRef {
  /** AID as sent (LSB first). */
  aid: Buffer;
  keyNo: number;
  /** AN10922 M = UID || AID || system identifier; empty = the key is not diversified. */
  divInput: Buffer;
  /** How the badge key derives from the master (the badge profile's `diversification`); default AN10922. */
  diversification?: Diversification;
}

export interface BeginRequest {
  scheme: AuthScheme;
  ref: KeyRef;
  /** The card's first answer: E(K, RndB). */
  encRndB: Buffer;
}

export type SessionKeys = { scheme: 'ev2'; ti: Buffer; enc: Buffer; mac: Buffer } | { scheme: 'aes'; key: Buffer };

export interface KeyCustody {
  readonly kind: 'local' | 'server-relay';
  /** Step 1: decrypt RndB, draw RndA, answer E(K, RndA || rot(RndB)). */
  begin(req: BeginRequest): Promise<{ handle: string; reply: Buffer }>;
  /**
   * Step 2: check the card's rot(RndA) (it proves the card holds K) and derive the session keys. An EV2
   * answer of 16 bytes is AuthenticateEV2NonFirst's (no TI: the session keeps its own, `ti` is empty).
   */
  finish(handle: string, cardReply: Buffer): Promise<SessionKeys>;
  /** The exchange stopped between the two steps: forget its state. */
  abort(handle: string): void;
}

/** Master keys by application and key number ("F51230/1"), from OS-protected configuration. */
export type MasterKeyLookup = (aid: Buffer, keyNo: number) => Buffer | null;

interface Pending {
  scheme: AuthScheme;
  key: Buffer;
  rndA: Buffer;
  rndB: Buffer;
  /** EV1: the IV for the card's answer is the last block we sent. */
  lastBlock: Buffer;
  expires: number;
}

export const keyName = (aid: Buffer, keyNo: number) => `${aidText(aid)}/${keyNo}`;

/** Both steps in this process, the key diversified per badge and wiped after each authentication. */
export class LocalKeyCustody implements KeyCustody {
  readonly kind = 'local' as const;
  private pending = new Map<string, Pending>();

  constructor(
    private readonly masterKey: MasterKeyLookup,
    private readonly ttlMs = 5000,
  ) {}

  async begin(req: BeginRequest): Promise<{ handle: string; reply: Buffer }> {
    this.sweep();
    const master = this.masterKey(req.ref.aid, req.ref.keyNo);
    if (!master)
      throw new DesfireError('unsupported', `aucune clé configurée pour ${keyName(req.ref.aid, req.ref.keyNo)}`);
    const key = req.ref.divInput.length
      ? diversifyAes128(master, req.ref.divInput, req.ref.diversification)
      : Buffer.from(master);
    return this.beginWithKey(req, key);
  }

  /** Shared with the encoding tool, which authenticates with known (default or new) keys. */
  beginWithKey(req: BeginRequest, key: Buffer): { handle: string; reply: Buffer } {
    const zero = Buffer.alloc(16);
    const rndB = aesCbcDecrypt(key, zero, req.encRndB);
    const rndA = randomBytes(16);
    const plain = Buffer.concat([rndA, rotl(rndB)]);
    // EV2 restarts CBC from zero; EV1 chains from the card's last block.
    const reply = aesCbcEncrypt(key, req.scheme === 'ev2' ? zero : req.encRndB, plain);
    const handle = randomUUID();
    this.pending.set(handle, {
      scheme: req.scheme,
      key,
      rndA,
      rndB,
      lastBlock: reply.subarray(16),
      expires: Date.now() + this.ttlMs,
    });
    return { handle, reply };
  }

  async finish(handle: string, cardReply: Buffer): Promise<SessionKeys> {
    const p = this.pending.get(handle);
    this.pending.delete(handle);
    if (!p || p.expires < Date.now()) throw new DesfireError('auth-failed', 'authentification expirée');
    try {
      const iv = p.scheme === 'ev2' ? Buffer.alloc(16) : p.lastBlock;
      const plain = aesCbcDecrypt(p.key, iv, cardReply);
      const withTi = p.scheme === 'ev2' && cardReply.length === 32;
      const rndARot = withTi ? plain.subarray(4, 20) : plain.subarray(0, 16);
      if (!constantTimeEqual(rndARot, rotl(p.rndA)))
        throw new DesfireError('auth-failed', 'le badge ne connaît pas la clé attendue (badge non authentique)');
      if (p.scheme === 'ev2') {
        const s = ev2SessionKeys(p.key, p.rndA, p.rndB);
        return { scheme: 'ev2', ti: Buffer.from(plain.subarray(0, withTi ? 4 : 0)), enc: s.enc, mac: s.mac };
      }
      return { scheme: 'aes', key: ev1SessionKey(p.rndA, p.rndB) };
    } finally {
      p.key.fill(0);
      p.rndA.fill(0);
      p.rndB.fill(0);
    }
  }

  abort(handle: string): void {
    const p = this.pending.get(handle);
    p?.key.fill(0);
    this.pending.delete(handle);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [h, p] of this.pending) if (p.expires < now) this.abort(h);
  }
}

/** Custody over fixed keys (the encoding tool: factory default keys, then the new diversified ones). */
export class FixedKeyCustody implements KeyCustody {
  readonly kind = 'local' as const;
  private inner = new LocalKeyCustody(() => null);
  constructor(private key: Buffer) {}
  setKey(key: Buffer): void {
    this.key = key;
  }
  async begin(req: BeginRequest) {
    return this.inner.beginWithKey(req, Buffer.from(this.key));
  }
  finish(handle: string, cardReply: Buffer) {
    return this.inner.finish(handle, cardReply);
  }
  abort(handle: string) {
    this.inner.abort(handle);
  }
}
