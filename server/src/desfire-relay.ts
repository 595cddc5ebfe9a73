// DESFire key custody on the server ("relay"): the workstation forwards the reader-side steps of a badge's
// mutual authentication; the application master keys never leave the server. A tap is one exchange:
// `begin` answers the card's first frame with a challenge (RndA) the server drew, sealed in a handle bound
// to that workstation, key reference and diversification input, valid a few seconds, with a unique id;
// the card's answer then goes with the handle into the badge grant (or the enrolment), where `verify`
// checks that it proves the key diversified for that UID — the badge is identified by what the proof
// proves, never by an id the workstation sends — and records the id as used (any instance, once).
// `finish` hands session keys out for the application's shared key only (random-UID badges read their
// real UID with it), never for a badge's own key. Workstations sign each call (private_key_jwt).
// AES-CMAC and the AN10922 diversification are @sillage/protocol's (the agent derives with the same
// functions); the relay's steps are checked against NXP's published transcripts in the tests.
import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  aesCmac,
  BADGE_ERROR,
  diversifyAes128,
  isSillageError,
  parseRelayBegin,
  parseRelayFinish,
} from '@sillage/protocol';
import type { Diversification, RelayBeginResponse, RelayFinishResponse, SillageError } from '@sillage/protocol';
import { AssertionRefused } from './assertions';
import type { AlongsideRecord, WorkstationAssertions } from './assertions';
import { Sealer } from './seal';
import type { SingleUse } from './single-use';

const Z = Buffer.alloc(16);

function cbc(enc: boolean, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const c = (enc ? createCipheriv : createDecipheriv)('aes-128-cbc', key, iv).setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}
/** "F51230/1": the AID as people write it (the wire sends it least significant byte first), then the key number. */
const keyName = (aid: Buffer, keyNo: number) => `${Buffer.from(aid).reverse().toString('hex').toUpperCase()}/${keyNo}`;
const rot = (b: Buffer) => Buffer.concat([b.subarray(1), b.subarray(0, 1)]);

export interface RelayKeys {
  /**
   * The badge's key for "AID/keyNo" (AID as written, e.g. "F51230/1"): diversified from the master by
   * `scheme` (AN10922, or the unpadded CMAC of badges encoded before it) for a diversification input M,
   * the master itself for an empty one; null when no such key. The caller wipes the returned buffer.
   */
  derive(name: string, div: Buffer, scheme: Diversification): Buffer | null;
  readonly where: 'configuration' | 'pkcs11';
}

export function relayKeysFrom(record: Record<string, string>): RelayKeys {
  const m = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(record)) {
    if (!/^[0-9A-F]{6}\/\d{1,2}$/i.test(k) || !/^[0-9a-f]{32}$/i.test(v))
      throw new Error(`DESFire key ${k.slice(0, 12)}: "AID/keyNo" → 32 hex characters`);
    m.set(k.toUpperCase(), Buffer.from(v, 'hex'));
  }
  return {
    where: 'configuration',
    derive(name, div, scheme) {
      const master = m.get(name.toUpperCase());
      if (!master) return null;
      return div.length ? diversifyAes128(master, div, scheme) : Buffer.from(master);
    },
  };
}

export class RelayError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
    readonly sillageError?: SillageError,
  ) {
    super(message);
  }

  /** Its declared `sillage_error`: the precise one, else its `error` when that is one (unknown_key...). */
  get code(): SillageError | undefined {
    return this.sillageError ?? (isSillageError(this.error) ? this.error : undefined);
  }
}

/** What a relay handle seals: the state between the card's two frames, and what it is bound to. */
interface Challenge {
  /** Unique: recorded as used when redeemed. */
  id: string;
  ws: string;
  scheme: 'ev2' | 'aes';
  aid: string;
  keyNo: number;
  /** Hex UID of the chip whose diversified key this is; null for the application's shared key. */
  uid: string | null;
  sys: string;
  /** How the badge key derives from the master (the badge profile's `diversification`). */
  dv: Diversification;
  rndA: string;
  rndB: string;
  last: string;
  exp: number;
}

/** What a verified answer proves: the chip whose diversified key answered, and which key it was. */
export interface ProvenBadge {
  uid: string;
  keyName: string;
  diversification: Diversification;
}

// Kept a minute past the challenge's end: by then it is refused as expired anyway.
const usedRecord = (c: Challenge): AlongsideRecord => ({
  kind: 'BadgeChallenge',
  id: c.id,
  until: new Date(c.exp + 60_000),
});
const replayed = () => new RelayError(400, 'invalid_grant', 'challenge already used (replay)', BADGE_ERROR.replayed);

const b64 = (b: Buffer) => b.toString('base64url');
const unb64 = (s: string) => Buffer.from(s, 'base64url');

export class DesfireRelay {
  private readonly handles: Sealer<Challenge>;

  constructor(
    private readonly keys: RelayKeys,
    serverSecret: Buffer,
    /** Each call's workstation assertion: checked and used once like the token endpoint's. */
    private readonly assertions: WorkstationAssertions,
    /** Single use of each challenge, shared by every instance. */
    private readonly once: SingleUse,
    private readonly now: () => Date,
    private readonly ttlMs = 10_000,
  ) {
    this.handles = new Sealer(serverSecret, 'desfire relay challenge');
  }

  /** The calling workstation, from its private_key_jwt assertion (see WorkstationAssertions). */
  async workstation(assertion: unknown): Promise<string> {
    try {
      return await this.assertions.workstation(assertion);
    } catch (e) {
      if (!(e instanceof AssertionRefused)) throw e;
      throw new RelayError(401, 'invalid_client', e.message, e.clock ? 'clock_skew' : undefined);
    }
  }

  begin(ws: string, body: Record<string, unknown>): RelayBeginResponse & { keyName: string } {
    const r = parseRelayBegin(body);
    if (!r.ok) throw new RelayError(400, 'invalid_request', r.error);
    const { scheme, keyNo } = r.value;
    const aid = unb64(r.value.aid);
    const uid = r.value.uid !== undefined ? unb64(r.value.uid) : null;
    const sys = unb64(r.value.systemId ?? '');
    // Absent: the spec. Agents always send it, from the badge profile's `diversification`.
    const dv = r.value.diversification ?? 'an10922';
    const name = keyName(aid, keyNo);
    const key = this.key(name, uid ? Buffer.concat([uid, aid, sys]) : Buffer.alloc(0), dv);
    const encRndB = unb64(r.value.encRndB);
    const rndB = cbc(false, key, Z, encRndB);
    const rndA = randomBytes(16);
    const reply = cbc(true, key, scheme === 'ev2' ? Z : encRndB, Buffer.concat([rndA, rot(rndB)]));
    key.fill(0);
    const handle = this.handles.seal({
      id: b64(randomBytes(16)),
      ws,
      scheme,
      aid: b64(aid),
      keyNo,
      uid: uid ? uid.toString('hex').toUpperCase() : null,
      sys: b64(sys),
      dv,
      rndA: b64(rndA),
      rndB: b64(rndB),
      last: b64(reply.subarray(16)),
      exp: this.now().getTime() + this.ttlMs,
    });
    return { handle, reply: b64(reply), keyName: name };
  }

  /** Session keys for the application's shared key (GetCardUID of random-UID badges), once per challenge. */
  async finish(
    ws: string,
    body: Record<string, unknown>,
  ): Promise<{ keyName: string; diversification: Diversification; keys: RelayFinishResponse }> {
    const r = parseRelayFinish(body);
    if (!r.ok) throw new RelayError(400, 'invalid_request', r.error);
    const c = this.openChallenge(ws, r.value.handle);
    if (c.uid !== null)
      throw new RelayError(
        400,
        'invalid_grant',
        "a badge's own key is not relayed: its answer goes into the badge grant",
        BADGE_ERROR.weakProof,
      );
    const { key, rndA, rndB, plain, name } = this.check(c, unb64(r.value.cardReply));
    try {
      await this.redeem(c);
      if (c.scheme === 'aes') {
        const k = Buffer.concat([
          rndA.subarray(0, 4),
          rndB.subarray(0, 4),
          rndA.subarray(12, 16),
          rndB.subarray(12, 16),
        ]);
        return { keyName: name, diversification: c.dv, keys: { scheme: 'aes', key: b64(k) } };
      }
      const mix = Buffer.alloc(6);
      for (let i = 0; i < 6; i++) mix[i] = rndA[2 + i]! ^ rndB[i]!;
      const ctx = Buffer.concat([rndA.subarray(0, 2), mix, rndB.subarray(6, 16), rndA.subarray(8, 16)]);
      const enc = aesCmac(key, Buffer.concat([Buffer.from([0xa5, 0x5a, 0x00, 0x01, 0x00, 0x80]), ctx]));
      const mac = aesCmac(key, Buffer.concat([Buffer.from([0x5a, 0xa5, 0x00, 0x01, 0x00, 0x80]), ctx]));
      return {
        keyName: name,
        diversification: c.dv,
        keys: { scheme: 'ev2', ti: b64(plain.subarray(0, 4)), enc: b64(enc), mac: b64(mac) },
      };
    } finally {
      key.fill(0);
    }
  }

  /**
   * A badge's answer to this server's challenge, as a grant or an enrolment carries it: it must come
   * from the workstation the challenge was issued to, in time, prove the key diversified for the chip's
   * UID, and be presented once. Throws a RelayError whose `code` says which of the first three failed;
   * `redeemed` (the single-use record, written while the caller looks the badge up) rejects with
   * `badge_replayed` for the second presentation: nothing may be granted before it resolves. The record
   * is written only once `after` resolved (the request's own single use), so that a copy of a request
   * never spends the challenge of the request it copies; or it was written with that single use
   * (`claimed`: whether it was new, see challengeRecord).
   */
  verify(
    ws: string,
    proof: { challenge: string; response: string },
    after: Promise<void> = Promise.resolve(),
    claimed?: Promise<boolean>,
  ): ProvenBadge & { redeemed: Promise<void> } {
    const c = this.openChallenge(ws, proof.challenge);
    if (c.uid === null)
      throw new RelayError(400, 'invalid_grant', "the application's shared key proves no badge", BADGE_ERROR.weakProof);
    const { key, name } = this.check(c, unb64(proof.response));
    key.fill(0);
    const redeemed = claimed
      ? claimed.then((won) => {
          if (!won) throw replayed();
        })
      : after.then(() => this.redeem(c));
    // Awaited by the caller, unless its badge lookup failed first.
    redeemed.catch(() => undefined);
    return { uid: c.uid, keyName: name, diversification: c.dv, redeemed };
  }

  private openChallenge(ws: string, handle: string): Challenge {
    const c = this.handles.open(handle);
    if (!c || typeof c.id !== 'string' || typeof c.exp !== 'number')
      throw new RelayError(400, 'invalid_grant', 'challenge not issued by this server', BADGE_ERROR.notGenuine);
    if (c.ws !== ws)
      throw new RelayError(
        403,
        'invalid_grant',
        'challenge issued to another workstation',
        BADGE_ERROR.otherWorkstation,
      );
    if (c.exp < this.now().getTime())
      throw new RelayError(400, 'invalid_grant', 'challenge expired: tap the badge again', BADGE_ERROR.expired);
    return c;
  }

  /** The card's answer decrypted and checked: it holds the key (its rot(RndA) is ours). */
  private check(c: Challenge, cardReply: Buffer) {
    if (cardReply.length !== (c.scheme === 'ev2' ? 32 : 16))
      throw new RelayError(400, 'invalid_request', `card answer: ${c.scheme === 'ev2' ? 32 : 16} bytes expected`);
    const aid = unb64(c.aid);
    const name = keyName(aid, c.keyNo);
    const div = c.uid === null ? Buffer.alloc(0) : Buffer.concat([Buffer.from(c.uid, 'hex'), aid, unb64(c.sys)]);
    const key = this.key(name, div, c.dv);
    const rndA = unb64(c.rndA);
    const plain = cbc(false, key, c.scheme === 'ev2' ? Z : unb64(c.last), cardReply);
    const got = c.scheme === 'ev2' ? plain.subarray(4, 20) : plain.subarray(0, 16);
    if (!timingSafeEqual(got, rot(rndA))) {
      key.fill(0);
      throw new RelayError(
        403,
        'invalid_grant',
        'the badge does not hold the expected key (not genuine)',
        BADGE_ERROR.notGenuine,
      );
    }
    return { key, rndA, rndB: unb64(c.rndB), plain, name };
  }

  private async redeem(c: Challenge): Promise<void> {
    const r = usedRecord(c);
    if (!(await this.once.claim(r.kind, r.id, r.until))) throw replayed();
  }

  /**
   * The single-use record a badge grant's challenge is spent with, and the badge whose binding is read
   * with it, for a handle that opens as a badge's challenge issued to `ws` and still valid (else null:
   * the grant refuses it when it verifies).
   */
  challengeRecord(ws: string, handle: string): AlongsideRecord | null {
    try {
      const c = this.openChallenge(ws, handle);
      // The badge it was issued for is read in the same statement: its binding decides once the answer
      // proves the badge holds that UID's key.
      return c.uid === null ? null : { ...usedRecord(c), badge: { uid: c.uid, at: this.now() } };
    } catch (e) {
      if (e instanceof RelayError) return null;
      throw e;
    }
  }

  private key(name: string, div: Buffer, scheme: Diversification): Buffer {
    let k: Buffer | null;
    try {
      k = this.keys.derive(name, div, scheme);
    } catch (e) {
      throw new RelayError(503, 'key_store_unavailable', `DESFire key ${name}: ${(e as Error).message}`);
    }
    if (!k) throw new RelayError(404, 'unknown_key', `no DESFire key ${name} on this server`);
    return k;
  }
}
