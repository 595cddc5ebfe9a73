// DESFire key custody on the server ("relay"): the workstation forwards the two reader-side steps of a
// badge's mutual authentication and gets back only that tap's session keys; the application master keys
// never leave the server. Stateless across instances: the state between the two steps travels in the
// handle, sealed (AES-256-GCM) with a key derived from the server-wide secret, bound to the workstation
// and valid a few seconds. Workstations authenticate each call with a private_key_jwt assertion.
// AES-CMAC and the AN10922 diversification are @sillage/protocol's (the agent derives with the same
// functions); the relay's steps are checked against NXP's published transcripts in the tests.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { aesCmac, diversifyAes128, isDiversification } from '@sillage/protocol';
import type { Diversification, SillageError } from '@sillage/protocol';
import { AssertionRefused } from './assertions';
import type { WorkstationAssertions } from './assertions';

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
}

interface Sealed {
  ws: string;
  scheme: 'ev2' | 'aes';
  aid: string;
  keyNo: number;
  div: string;
  dv: Diversification;
  rndA: string;
  rndB: string;
  last: string;
  exp: number;
}

const b64 = (b: Buffer) => b.toString('base64url');
function bytes(v: unknown, what: string, len?: number): Buffer {
  if (typeof v !== 'string' || !/^[A-Za-z0-9_-]*$/.test(v))
    throw new RelayError(400, 'invalid_request', `${what}: base64url expected`);
  const b = Buffer.from(v, 'base64url');
  if (len !== undefined && b.length !== len)
    throw new RelayError(400, 'invalid_request', `${what}: ${len} bytes expected`);
  return b;
}

export class DesfireRelay {
  private readonly seal: Buffer;

  constructor(
    private readonly keys: RelayKeys,
    serverSecret: Buffer,
    /** Each call's workstation assertion: checked and used once like the token endpoint's. */
    private readonly assertions: WorkstationAssertions,
    private readonly now: () => Date,
    private readonly ttlMs = 10_000,
  ) {
    this.seal = Buffer.from(hkdfSync('sha256', serverSecret, Buffer.alloc(0), 'sillage desfire relay handle', 32));
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

  begin(ws: string, body: Record<string, unknown>): { handle: string; reply: string; keyName: string } {
    const scheme = body.scheme;
    if (scheme !== 'ev2' && scheme !== 'aes') throw new RelayError(400, 'invalid_request', 'scheme: ev2 or aes');
    const aid = bytes(body.aid, 'aid', 3);
    const keyNo = body.keyNo;
    if (!Number.isInteger(keyNo) || (keyNo as number) < 0 || (keyNo as number) > 13)
      throw new RelayError(400, 'invalid_request', 'keyNo: 0-13');
    const div = bytes(body.divInput, 'divInput');
    if (div.length > 31) throw new RelayError(400, 'invalid_request', 'divInput: 31 bytes at most');
    // Absent: the spec. Agents always send it, from the badge profile's `diversification`.
    const dv = body.diversification ?? 'an10922';
    if (!isDiversification(dv))
      throw new RelayError(400, 'invalid_request', 'diversification: an10922 or legacy-unpadded');
    const encRndB = bytes(body.encRndB, 'encRndB', 16);
    const name = keyName(aid, keyNo as number);
    const key = this.key(name, div, dv);
    const rndB = cbc(false, key, Z, encRndB);
    const rndA = randomBytes(16);
    const reply = cbc(true, key, scheme === 'ev2' ? Z : encRndB, Buffer.concat([rndA, rot(rndB)]));
    key.fill(0);
    const state: Sealed = {
      ws,
      scheme,
      aid: b64(aid),
      keyNo: keyNo as number,
      div: b64(div),
      dv,
      rndA: b64(rndA),
      rndB: b64(rndB),
      last: b64(reply.subarray(16)),
      exp: this.now().getTime() + this.ttlMs,
    };
    return { handle: this.sealState(state), reply: b64(reply), keyName: name };
  }

  finish(
    ws: string,
    body: Record<string, unknown>,
  ): { keyName: string; diversification: Diversification; keys: Record<string, string> } {
    const s = this.openState(body.handle);
    if (s.ws !== ws) throw new RelayError(403, 'access_denied', 'handle issued to another workstation');
    if (s.exp < this.now().getTime()) throw new RelayError(400, 'invalid_grant', 'handle expired');
    const name = keyName(Buffer.from(s.aid, 'base64url'), s.keyNo);
    const cardReply = bytes(body.cardReply, 'cardReply', s.scheme === 'ev2' ? 32 : 16);
    const key = this.key(name, Buffer.from(s.div, 'base64url'), s.dv);
    const rndA = Buffer.from(s.rndA, 'base64url');
    const rndB = Buffer.from(s.rndB, 'base64url');
    try {
      const plain = cbc(false, key, s.scheme === 'ev2' ? Z : Buffer.from(s.last, 'base64url'), cardReply);
      const got = s.scheme === 'ev2' ? plain.subarray(4, 20) : plain.subarray(0, 16);
      if (!timingSafeEqual(got, rot(rndA)))
        throw new RelayError(403, 'invalid_grant', 'the badge does not hold the expected key (not genuine)');
      if (s.scheme === 'aes') {
        return {
          keyName: name,
          diversification: s.dv,
          keys: {
            scheme: 'aes',
            key: b64(
              Buffer.concat([rndA.subarray(0, 4), rndB.subarray(0, 4), rndA.subarray(12, 16), rndB.subarray(12, 16)]),
            ),
          },
        };
      }
      const mix = Buffer.alloc(6);
      for (let i = 0; i < 6; i++) mix[i] = rndA[2 + i]! ^ rndB[i]!;
      const ctx = Buffer.concat([rndA.subarray(0, 2), mix, rndB.subarray(6, 16), rndA.subarray(8, 16)]);
      const enc = aesCmac(key, Buffer.concat([Buffer.from([0xa5, 0x5a, 0x00, 0x01, 0x00, 0x80]), ctx]));
      const mac = aesCmac(key, Buffer.concat([Buffer.from([0x5a, 0xa5, 0x00, 0x01, 0x00, 0x80]), ctx]));
      return {
        keyName: name,
        diversification: s.dv,
        keys: { scheme: 'ev2', ti: b64(plain.subarray(0, 4)), enc: b64(enc), mac: b64(mac) },
      };
    } finally {
      key.fill(0);
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

  private sealState(s: Sealed): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.seal, iv);
    const body = Buffer.concat([c.update(JSON.stringify(s), 'utf8'), c.final()]);
    return b64(Buffer.concat([iv, c.getAuthTag(), body]));
  }

  private openState(handle: unknown): Sealed {
    const raw = bytes(handle, 'handle');
    if (raw.length < 29) throw new RelayError(400, 'invalid_request', 'handle: malformed');
    try {
      const d = createDecipheriv('aes-256-gcm', this.seal, raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(12, 28));
      return JSON.parse(Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8')) as Sealed;
    } catch {
      throw new RelayError(400, 'invalid_request', 'handle: not issued by this server');
    }
  }
}
