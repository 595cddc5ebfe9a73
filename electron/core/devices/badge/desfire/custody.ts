// Key custody: who holds the badge keys. A DESFire mutual authentication has two cryptographic steps on
// the reader's side; a KeyCustody computes them so the key can live in this process (LocalKeyCustody:
// master key from OS-protected configuration, diversified per badge) or on the session server (relay:
// the server holds the keys, in its configuration or an HSM). What a tap yields is a proof for the
// session server: in relay mode the card's answer to the server's own challenge, which the server checks
// (the agent cannot forge it and learns nothing reusable); with a local key, the agent's own check, which
// the server takes only where its policy accepts a workstation's word. Relay messages: @sillage/protocol
// (badge.ts), authenticated as the workstation, handle single-use and valid a few seconds.
import { randomBytes, randomUUID } from 'node:crypto';
import type { AuthScheme, BadgeProof } from '@sillage/protocol';
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
import { DesfireError } from './errors';

/** Which key: the application, its key number, and whose chip it is diversified for. */
export interface KeyRef {
  /** AID as sent (LSB first). */
  aid: Buffer;
  keyNo: number;
  /** The chip's UID: the key is diversified for it (AN10922); null = the application's shared key. */
  uid: Buffer | null;
  /** AN10922 system identifier, appended to UID || AID. */
  systemId: Buffer;
  /** How the badge key derives from the master (the badge profile's `diversification`); default AN10922. */
  diversification?: Diversification;
}

/** AN10922 M = UID || AID || system identifier. */
export function diversificationInput(uid: Buffer, aid: Buffer, systemId: Buffer | string | undefined): Buffer {
  return Buffer.concat([
    uid,
    aid,
    typeof systemId === 'string' ? Buffer.from(systemId, 'hex') : (systemId ?? Buffer.alloc(0)),
  ]);
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
  /**
   * Step 2 of a tap: the proof of the card's answer for the session server (relay: the answer itself,
   * checked by the server; local: checked here, then the workstation's word). Single use.
   */
  proof(handle: string, cardReply: Buffer, ref: KeyRef): Promise<BadgeProof>;
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

/** The AID as people write it ("F51230") from its wire form. */
export const aidText = (aid: Buffer) => Buffer.from(aid).reverse().toString('hex').toUpperCase();

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
    const { uid, aid, systemId, diversification } = req.ref;
    const key = uid
      ? diversifyAes128(master, diversificationInput(uid, aid, systemId), diversification)
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

  async proof(handle: string, cardReply: Buffer, ref: KeyRef): Promise<BadgeProof> {
    if (!ref.uid) throw new DesfireError('unsupported', "la clé commune de l'application ne prouve aucun badge");
    const keys = await this.finish(handle, cardReply);
    if (keys.scheme === 'ev2') {
      keys.enc.fill(0);
      keys.mac.fill(0);
    } else keys.key.fill(0);
    return { kind: 'local-key', uid: ref.uid.toString('hex').toUpperCase() };
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
  proof(): Promise<BadgeProof> {
    throw new DesfireError('unsupported', 'clé fixe : outil d’encodage seulement');
  }
  abort(handle: string) {
    this.inner.abort(handle);
  }
}
