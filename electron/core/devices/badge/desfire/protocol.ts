// MIFARE DESFire EV1/EV2/EV3 over ISO 7816-4 wrapping (CLA 90, status in SW2 after 0x91), with the two
// mutual authentications (EV2First, legacy AuthenticateAES) and their secure messaging. The two
// cryptographic steps of an authentication go through a KeyCustody, so the badge key can stay outside
// this process (server relay); only short-lived session keys are held here, for one card session.
import type { AuthScheme } from '@sillage/protocol';
import {
  aesCbcDecrypt,
  aesCbcEncrypt,
  aesCmac,
  constantTimeEqual,
  desfireCrc32,
  ev2Iv,
  pad80,
  truncateMac,
  unpad80,
} from './crypto';
import type { ApduTransport } from '../../types';
import { aidText } from './custody';
import type { KeyCustody, KeyRef } from './custody';
import { DesfireError } from './errors';

export const ST = {
  OK: 0x00,
  NO_CHANGES: 0x0c,
  ILLEGAL_COMMAND: 0x1c,
  INTEGRITY_ERROR: 0x1e,
  NO_SUCH_KEY: 0x40,
  LENGTH_ERROR: 0x7e,
  PERMISSION_DENIED: 0x9d,
  PARAMETER_ERROR: 0x9e,
  APPLICATION_NOT_FOUND: 0xa0,
  AUTHENTICATION_ERROR: 0xae,
  ADDITIONAL_FRAME: 0xaf,
  BOUNDARY_ERROR: 0xbe,
  COMMAND_ABORTED: 0xca,
  DUPLICATE_ERROR: 0xde,
  FILE_NOT_FOUND: 0xf0,
} as const;

export const CMD = {
  GET_VERSION: 0x60,
  SELECT_APPLICATION: 0x5a,
  AUTHENTICATE_AES: 0xaa,
  AUTHENTICATE_EV2_FIRST: 0x71,
  AUTHENTICATE_EV2_NON_FIRST: 0x77,
  READ_DATA: 0xbd,
  WRITE_DATA: 0x3d,
  GET_CARD_UID: 0x51,
  GET_APPLICATION_IDS: 0x6a,
  GET_KEY_SETTINGS: 0x45,
  GET_KEY_VERSION: 0x64,
  CREATE_APPLICATION: 0xca,
  CREATE_STD_DATA_FILE: 0xcd,
  CHANGE_KEY: 0xc4,
  ADDITIONAL_FRAME: 0xaf,
} as const;

export type CommMode = 'plain' | 'mac' | 'full';

export const COMM_MODE_BITS: Record<CommMode, number> = { plain: 0x00, mac: 0x01, full: 0x03 };

/**
 * Most data bytes an ISO-wrapped native command frame carries after its INS (MIFARE DESFire functional
 * specification, as libfreefare and Proxmark3 apply it; answers are at most 59). Longer commands
 * continue, and longer answers are fetched, in AdditionalFrame (0xAF) frames.
 */
export const MAX_COMMAND_FRAME = 54;
/** A card answering 0xAF forever is not a card: stop after this many frames of one answer. */
const MAX_FRAMES = 64;

/** PC/SC part 3 pseudo-APDU: the reader answers with the UID from anticollision. */
export const GET_UID_APDU = Buffer.from('FFCA000000', 'hex');

export type DesfireGeneration = 'EV1' | 'EV2' | 'EV3' | 'unknown';

export interface DesfireVersion {
  vendor: number;
  hwType: number;
  hwMajor: number;
  swMajor: number;
  generation: DesfireGeneration;
  storageBytes: number;
  uid: Buffer;
}

/** Hardware major version → generation (NXP data sheets: EV1 = 0x01, EV2 = 0x12, EV3 = 0x33). */
export function generationOf(hwMajor: number): DesfireGeneration {
  if (hwMajor === 0x01) return 'EV1';
  if (hwMajor === 0x12) return 'EV2';
  if (hwMajor === 0x33) return 'EV3';
  return 'unknown';
}

/** AIDs are written big-endian by people ("F51230") and sent least significant byte first. */
export function aidBytes(aid: string | number): Buffer {
  const n = typeof aid === 'number' ? aid : parseInt(aid, 16);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffff) throw new RangeError('AID: 3 bytes');
  return Buffer.from([n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff]);
}

const le3 = (n: number) => Buffer.from([n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff]);

type Session =
  | { scheme: 'ev2'; enc: Buffer; mac: Buffer; ti: Buffer; ctr: number; keyNo: number }
  | { scheme: 'aes'; key: Buffer; iv: Buffer; keyNo: number };

export interface AuthResult {
  scheme: AuthScheme;
  keyNo: number;
}

/** One DESFire card in the field. Not reentrant: one command at a time (the card is too). */
export class DesfireCard {
  private session: Session | null = null;
  /** APDUs sent since creation (the bench reports APDUs per tap). */
  apdus = 0;

  constructor(private readonly transport: ApduTransport) {}

  get authenticated(): boolean {
    return this.session !== null;
  }

  /** Forget the session keys (card gone, selection changed, failure). */
  reset(): void {
    if (this.session?.scheme === 'ev2') {
      this.session.enc.fill(0);
      this.session.mac.fill(0);
    } else if (this.session) this.session.key.fill(0);
    this.session = null;
  }

  async transmit(apdu: Buffer): Promise<Buffer> {
    this.apdus += 1;
    try {
      return await this.transport.transmit(apdu);
    } catch (e) {
      this.reset();
      if (e instanceof DesfireError) throw e;
      throw new DesfireError('removed', `lecteur ou badge perdu pendant l'échange : ${(e as Error).message}`);
    }
  }

  /** UID from the reader's anticollision (random 4-byte UID 08xxxxxx on privacy cards). */
  async anticollisionUid(): Promise<Buffer> {
    const r = await this.transmit(GET_UID_APDU);
    if (r.length < 2) throw new DesfireError('malformed', 'réponse UID tronquée');
    const sw = r.readUInt16BE(r.length - 2);
    if (sw !== 0x9000) throw new DesfireError('status', `le lecteur ne donne pas l'UID (SW ${sw.toString(16)})`);
    const uid = r.subarray(0, r.length - 2);
    if (uid.length !== 4 && uid.length !== 7 && uid.length !== 10)
      throw new DesfireError('malformed', `UID de ${uid.length} octets`);
    return Buffer.from(uid);
  }

  /** One native command, ISO-wrapped; no secure messaging. */
  async raw(cmd: number, data: Buffer = Buffer.alloc(0)): Promise<{ status: number; data: Buffer }> {
    const apdu = data.length
      ? Buffer.concat([Buffer.from([0x90, cmd, 0x00, 0x00, data.length]), data, Buffer.from([0x00])])
      : Buffer.from([0x90, cmd, 0x00, 0x00, 0x00]);
    const r = await this.transmit(apdu);
    // No answer at all is the reader telling us the card left the field (vpcd, several PC/SC drivers).
    if (r.length === 0) throw new DesfireError('removed', "badge retiré pendant l'échange");
    if (r.length < 2) throw new DesfireError('malformed', 'trame tronquée (moins de 2 octets)');
    if (r[r.length - 2] !== 0x91) throw new DesfireError('malformed', `SW1 inattendu ${r[r.length - 2]!.toString(16)}`);
    return { status: r[r.length - 1]!, data: Buffer.from(r.subarray(0, r.length - 2)) };
  }

  /**
   * A command sent in frames of MAX_COMMAND_FRAME bytes (the card asks for each next one with an empty
   * 0xAF answer), whose answer may span several frames (0xAF with data): returns the concatenated data.
   */
  private async chained(cmd: number, data: Buffer): Promise<{ status: number; data: Buffer }> {
    let sent = Math.min(data.length, MAX_COMMAND_FRAME);
    let r = await this.raw(cmd, data.subarray(0, sent));
    while (sent < data.length && r.status === ST.ADDITIONAL_FRAME && !r.data.length) {
      const n = Math.min(data.length - sent, MAX_COMMAND_FRAME);
      r = await this.raw(CMD.ADDITIONAL_FRAME, data.subarray(sent, sent + n));
      sent += n;
    }
    // Stopped before the end: an error status is the card's answer; anything else is not a DESFire card.
    if (sent < data.length && (r.status === ST.OK || r.status === ST.ADDITIONAL_FRAME))
      throw this.malformed(`commande ${cmd.toString(16)} : le badge a répondu avant la fin de la commande`);
    const parts = [r.data];
    while (r.status === ST.ADDITIONAL_FRAME) {
      if (parts.length >= MAX_FRAMES) throw this.malformed(`commande ${cmd.toString(16)} : réponse sans fin`);
      r = await this.raw(CMD.ADDITIONAL_FRAME);
      parts.push(r.data);
    }
    return { status: r.status, data: Buffer.concat(parts) };
  }

  private fail(status: number, what: string): never {
    if (status === ST.AUTHENTICATION_ERROR) this.reset();
    const msg: Record<number, string> = {
      [ST.APPLICATION_NOT_FOUND]: 'application absente du badge',
      [ST.FILE_NOT_FOUND]: 'fichier absent du badge',
      [ST.PERMISSION_DENIED]: 'accès refusé par le badge',
      [ST.AUTHENTICATION_ERROR]: 'authentification refusée par le badge',
      [ST.INTEGRITY_ERROR]: 'contrôle d’intégrité refusé par le badge',
      [ST.LENGTH_ERROR]: 'longueur refusée par le badge',
      [ST.BOUNDARY_ERROR]: 'lecture hors des limites du fichier',
      [ST.DUPLICATE_ERROR]: 'existe déjà sur le badge',
      [ST.NO_SUCH_KEY]: 'clé absente',
    };
    throw new DesfireError(
      status === ST.AUTHENTICATION_ERROR ? 'auth-failed' : status === ST.INTEGRITY_ERROR ? 'integrity' : 'status',
      `${what} : ${msg[status] ?? `statut ${status.toString(16).padStart(2, '0')}`}`,
      status,
    );
  }

  /**
   * A command under the current session's secure messaging. `mode` protects the command data and the
   * answer: plain (EV2: counted, not MACed), mac, or full (encrypted + MAC). Without a session: plain.
   */
  async command(
    cmd: number,
    header: Buffer,
    data: Buffer,
    mode: CommMode,
    what: string,
    opts: { endsSession?: boolean } = {},
  ): Promise<Buffer> {
    const s = this.session;
    if (!s) {
      const r = await this.chained(cmd, Buffer.concat([header, data]));
      if (r.status !== ST.OK) this.fail(r.status, what);
      return r.data;
    }
    if (s.scheme === 'ev2') return this.commandEv2(s, cmd, header, data, mode, what, opts);
    return this.commandEv1(s, cmd, header, data, mode, what, opts);
  }

  private async commandEv2(
    s: Extract<Session, { scheme: 'ev2' }>,
    cmd: number,
    header: Buffer,
    data: Buffer,
    mode: CommMode,
    what: string,
    opts: { endsSession?: boolean },
  ): Promise<Buffer> {
    const ctr = Buffer.alloc(2);
    ctr.writeUInt16LE(s.ctr);
    let body = data;
    if (mode === 'full' && data.length) body = aesCbcEncrypt(s.enc, ev2Iv(s.enc, s.ti, s.ctr, false), pad80(data));
    let payload = Buffer.concat([header, body]);
    if (mode !== 'plain')
      payload = Buffer.concat([
        payload,
        truncateMac(aesCmac(s.mac, Buffer.concat([Buffer.from([cmd]), ctr, s.ti, header, body]))),
      ]);
    const r = await this.chained(cmd, payload);
    if (r.status !== ST.OK) {
      this.fail(r.status, what);
    }
    s.ctr = (s.ctr + 1) & 0xffff;
    if (opts.endsSession) {
      this.reset();
      return r.data;
    }
    if (mode === 'plain') return r.data;
    if (r.data.length < 8) throw this.integrity(`${what} : réponse sans MAC`);
    const resp = r.data.subarray(0, r.data.length - 8);
    const mac = r.data.subarray(r.data.length - 8);
    const rctr = Buffer.alloc(2);
    rctr.writeUInt16LE(s.ctr);
    const expect = truncateMac(aesCmac(s.mac, Buffer.concat([Buffer.from([ST.OK]), rctr, s.ti, resp])));
    if (!constantTimeEqual(expect, mac)) throw this.integrity(`${what} : MAC de la réponse invalide`);
    if (mode === 'full' && resp.length) {
      if (resp.length % 16) throw this.malformed(`${what} : données chiffrées de longueur ${resp.length}`);
      try {
        return unpad80(aesCbcDecrypt(s.enc, ev2Iv(s.enc, s.ti, s.ctr, true), resp));
      } catch {
        throw this.integrity(`${what} : bourrage invalide`);
      }
    }
    return resp;
  }

  /**
   * EV1 AES sessions (libfreefare's "new" authentication scheme): every command and answer is CMACed
   * with an IV chained from the last CMAC or cipher block. Full mode: data sent to the card is
   * encrypted with CRC32(cmd || header || data) and zero padding, and its status answer is CMACed; data
   * the card sends back is encrypted with CRC32(data || status) instead of a CMAC.
   */
  private async commandEv1(
    s: Extract<Session, { scheme: 'aes' }>,
    cmd: number,
    header: Buffer,
    data: Buffer,
    mode: CommMode,
    what: string,
    opts: { endsSession?: boolean },
  ): Promise<Buffer> {
    const c = Buffer.from([cmd]);
    let payload: Buffer;
    if (mode === 'full' && data.length) {
      const enc = aesCbcEncrypt(
        s.key,
        s.iv,
        zeroPad(Buffer.concat([data, desfireCrc32(Buffer.concat([c, header, data]))])),
      );
      s.iv = Buffer.from(enc.subarray(enc.length - 16));
      payload = Buffer.concat([header, enc]);
    } else {
      const cmac = aesCmac(s.key, Buffer.concat([c, header, data]), s.iv);
      s.iv = cmac;
      payload =
        mode === 'mac' && data.length
          ? Buffer.concat([header, data, cmac.subarray(0, 8)])
          : Buffer.concat([header, data]);
    }
    const r = await this.chained(cmd, payload);
    if (r.status !== ST.OK) this.fail(r.status, what);
    if (opts.endsSession) {
      this.reset();
      return r.data;
    }
    if (mode === 'full' && !data.length) return this.decryptEv1(s, r.data, what);
    if (r.data.length < 8) throw this.integrity(`${what} : réponse sans MAC`);
    const resp = r.data.subarray(0, r.data.length - 8);
    const full = aesCmac(s.key, Buffer.concat([resp, Buffer.from([ST.OK])]), s.iv);
    if (!constantTimeEqual(full.subarray(0, 8), r.data.subarray(r.data.length - 8)))
      throw this.integrity(`${what} : MAC de la réponse invalide`);
    s.iv = full;
    return resp;
  }

  /** An EV1 encrypted answer: data || CRC32(data || 00) || zero padding, CBC with the session IV. */
  private decryptEv1(s: Extract<Session, { scheme: 'aes' }>, enc: Buffer, what: string): Buffer {
    if (!enc.length || enc.length % 16) throw this.malformed(`${what} : données chiffrées de longueur ${enc.length}`);
    const plain = aesCbcDecrypt(s.key, s.iv, enc);
    s.iv = Buffer.from(enc.subarray(enc.length - 16));
    // The CRC sits after the data, in the last block or across the last two.
    for (let at = Math.max(0, plain.length - 16 - 3); at + 4 <= plain.length; at++) {
      const crc = desfireCrc32(Buffer.concat([plain.subarray(0, at), Buffer.from([ST.OK])]));
      if (constantTimeEqual(crc, plain.subarray(at, at + 4)) && plain.subarray(at + 4).every((b) => b === 0))
        return Buffer.from(plain.subarray(0, at));
    }
    throw this.integrity(`${what} : CRC des données chiffrées invalide`);
  }

  private integrity(msg: string): DesfireError {
    this.reset();
    return new DesfireError('integrity', msg);
  }

  private malformed(msg: string): DesfireError {
    this.reset();
    return new DesfireError('malformed', msg);
  }

  // ── commands ───────────────────────────────────────────────────────────────────────────────────

  /** GetVersion: 3 frames (hardware, software, UID + batch); tells EV1 / EV2 / EV3 apart. */
  async getVersion(): Promise<DesfireVersion> {
    const r = await this.chained(CMD.GET_VERSION, Buffer.alloc(0));
    if (r.status !== ST.OK) this.fail(r.status, 'GetVersion');
    if (r.data.length < 28) throw new DesfireError('malformed', `GetVersion : ${r.data.length} octets`);
    const d = r.data;
    return {
      vendor: d[0]!,
      hwType: d[1]!,
      hwMajor: d[3]!,
      swMajor: d[10]!,
      generation: generationOf(d[3]!),
      storageBytes: 1 << (d[5]! >> 1),
      uid: Buffer.from(d.subarray(14, 21)),
    };
  }

  async selectApplication(aid: Buffer): Promise<void> {
    this.reset();
    const r = await this.raw(CMD.SELECT_APPLICATION, aid);
    if (r.status !== ST.OK) this.fail(r.status, `sélection de l'application ${aidText(aid)}`);
  }

  async getApplicationIds(): Promise<Buffer[]> {
    const data = await this.command(
      CMD.GET_APPLICATION_IDS,
      Buffer.alloc(0),
      Buffer.alloc(0),
      'mac',
      'GetApplicationIDs',
    );
    const out: Buffer[] = [];
    for (let i = 0; i + 3 <= data.length; i += 3) out.push(Buffer.from(data.subarray(i, i + 3)));
    return out;
  }

  async getKeySettings(): Promise<{ settings: number; maxKeys: number; aes: boolean }> {
    const d = await this.command(CMD.GET_KEY_SETTINGS, Buffer.alloc(0), Buffer.alloc(0), 'mac', 'GetKeySettings');
    if (d.length < 2) throw new DesfireError('malformed', 'GetKeySettings : réponse tronquée');
    return { settings: d[0]!, maxKeys: d[1]! & 0x0f, aes: (d[1]! & 0x80) !== 0 };
  }

  /**
   * The card's two frames of a mutual authentication, the custody computing the reader's side: returns
   * the card's last frame unchecked (E(K, TI || rot(RndA) || caps) for EV2First). `authenticate` checks
   * it here and opens a session; a tap hands it to the custody as a proof (relay: the server checks it).
   */
  async challenge(
    scheme: AuthScheme,
    keyNo: number,
    custody: KeyCustody,
    ref: KeyRef,
    opts: { nonFirst?: boolean } = {},
  ): Promise<{ handle: string; cardReply: Buffer }> {
    this.reset();
    const first = opts.nonFirst
      ? await this.raw(CMD.AUTHENTICATE_EV2_NON_FIRST, Buffer.from([keyNo]))
      : scheme === 'ev2'
        ? await this.raw(CMD.AUTHENTICATE_EV2_FIRST, Buffer.from([keyNo, 0x00]))
        : await this.raw(CMD.AUTHENTICATE_AES, Buffer.from([keyNo]));
    if (first.status !== ST.ADDITIONAL_FRAME) this.fail(first.status, 'authentification');
    if (first.data.length !== 16)
      throw new DesfireError('malformed', `authentification : E(RndB) de ${first.data.length} octets`);
    const step = await custody.begin({ scheme, ref, encRndB: first.data });
    let second;
    try {
      second = await this.raw(CMD.ADDITIONAL_FRAME, step.reply);
    } catch (e) {
      custody.abort(step.handle);
      throw e;
    }
    if (second.status !== ST.OK) {
      custody.abort(step.handle);
      this.fail(second.status, 'authentification');
    }
    // EV2First answers E(TI || RndA' || PDcap2 || PCDcap2), NonFirst and EV1 only E(RndA').
    const expected = scheme === 'ev2' && !opts.nonFirst ? 32 : 16;
    if (second.data.length !== expected) {
      custody.abort(step.handle);
      throw new DesfireError(
        'malformed',
        `authentification : réponse de ${second.data.length} octets au lieu de ${expected}`,
      );
    }
    return { handle: step.handle, cardReply: second.data };
  }

  /**
   * Mutual authentication. The custody computes both cryptographic steps (it holds or reaches the
   * key); the card proves it knows the same key or the exchange fails with 'auth-failed'. `nonFirst`
   * (AuthenticateEV2NonFirst, inside an EV2 session) changes key and session keys and keeps the
   * transaction identifier and command counter.
   */
  async authenticate(
    scheme: AuthScheme,
    keyNo: number,
    custody: KeyCustody,
    ref: KeyRef,
    opts: { nonFirst?: boolean } = {},
  ): Promise<AuthResult> {
    const previous = this.session;
    if (opts.nonFirst && (scheme !== 'ev2' || previous?.scheme !== 'ev2'))
      throw new DesfireError('unsupported', 'AuthenticateEV2NonFirst demande une session EV2 ouverte');
    const carried = previous?.scheme === 'ev2' ? { ti: Buffer.from(previous.ti), ctr: previous.ctr } : null;
    const { handle, cardReply } = await this.challenge(scheme, keyNo, custody, ref, opts);
    const keys = await custody.finish(handle, cardReply);
    if (keys.scheme === 'ev2')
      this.session =
        opts.nonFirst && carried
          ? { scheme: 'ev2', enc: keys.enc, mac: keys.mac, ti: carried.ti, ctr: carried.ctr, keyNo }
          : { scheme: 'ev2', enc: keys.enc, mac: keys.mac, ti: keys.ti, ctr: 0, keyNo };
    else this.session = { scheme: 'aes', key: keys.key, iv: Buffer.alloc(16), keyNo };
    return { scheme, keyNo };
  }

  async readData(fileNo: number, offset: number, length: number, mode: CommMode): Promise<Buffer> {
    const data = await this.command(
      CMD.READ_DATA,
      Buffer.concat([Buffer.from([fileNo]), le3(offset), le3(length)]),
      Buffer.alloc(0),
      mode,
      `lecture du fichier ${fileNo}`,
    );
    if (length && data.length !== length)
      throw this.malformed(`lecture du fichier ${fileNo} : ${data.length} octets au lieu de ${length}`);
    return data;
  }

  async writeData(fileNo: number, offset: number, data: Buffer, mode: CommMode): Promise<void> {
    await this.command(
      CMD.WRITE_DATA,
      Buffer.concat([Buffer.from([fileNo]), le3(offset), le3(data.length)]),
      data,
      mode,
      `écriture du fichier ${fileNo}`,
    );
  }

  /** The real UID (random-UID cards show another one at anticollision); always encrypted, EV2 session needed. */
  async getCardUid(): Promise<Buffer> {
    if (this.session?.scheme !== 'ev2')
      throw new DesfireError('unsupported', 'GetCardUID demande une authentification EV2');
    const uid = await this.command(CMD.GET_CARD_UID, Buffer.alloc(0), Buffer.alloc(0), 'full', 'GetCardUID');
    if (uid.length !== 7 && uid.length !== 10) throw this.malformed(`GetCardUID : ${uid.length} octets`);
    return uid;
  }

  /** PICC level, free creation (factory settings): no authentication. AES keys, `keys` of them. */
  async createApplication(aid: Buffer, keySettings: number, keys: number): Promise<void> {
    await this.command(
      CMD.CREATE_APPLICATION,
      Buffer.alloc(0),
      Buffer.concat([aid, Buffer.from([keySettings, 0x80 | keys])]),
      'mac',
      'création de l’application',
    );
  }

  /** Access rights nibbles: read, write, read&write, change (0xE = free, 0xF = never). */
  async createStdDataFile(
    fileNo: number,
    mode: CommMode,
    access: { read: number; write: number; readWrite: number; change: number },
    size: number,
  ): Promise<void> {
    const ar = Buffer.from([(access.readWrite << 4) | access.change, (access.read << 4) | access.write]);
    await this.command(
      CMD.CREATE_STD_DATA_FILE,
      Buffer.alloc(0),
      Buffer.concat([Buffer.from([fileNo, COMM_MODE_BITS[mode]]), ar, le3(size)]),
      'mac',
      `création du fichier ${fileNo}`,
    );
  }

  /**
   * ChangeKey (EV2 session, full mode). Changing another key sends (new XOR old) || version ||
   * CRC32(new); changing the authenticated key sends new || version and ends the session.
   */
  async changeKey(keyNo: number, newKey: Buffer, oldKey: Buffer, version: number): Promise<void> {
    const s = this.session;
    if (s?.scheme !== 'ev2') throw new DesfireError('unsupported', 'ChangeKey demande une authentification EV2');
    const same = s.keyNo === keyNo;
    const x = Buffer.alloc(16);
    for (let i = 0; i < 16; i++) x[i] = newKey[i]! ^ oldKey[i]!;
    const data = same
      ? Buffer.concat([newKey, Buffer.from([version])])
      : Buffer.concat([x, Buffer.from([version]), desfireCrc32(newKey)]);
    await this.command(CMD.CHANGE_KEY, Buffer.from([keyNo]), data, 'full', `changement de la clé ${keyNo}`, {
      endsSession: same,
    });
  }

  async getKeyVersion(keyNo: number): Promise<number> {
    const d = await this.command(CMD.GET_KEY_VERSION, Buffer.from([keyNo]), Buffer.alloc(0), 'mac', 'GetKeyVersion');
    if (d.length < 1) throw new DesfireError('malformed', 'GetKeyVersion : réponse vide');
    return d[0]!;
  }
}

/** Zero padding to the AES block (EV1 encrypted data). */
function zeroPad(data: Buffer): Buffer {
  const out = Buffer.alloc(Math.ceil(data.length / 16) * 16);
  data.copy(out);
  return out;
}
