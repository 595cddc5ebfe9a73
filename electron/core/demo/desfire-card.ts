// A MIFARE DESFire EV1/EV2/EV3 emulator (the demo readers' badges and the test bed's, on vpcd), written
// from the protocol facts (shared/domain.md §5) and checked against NXP's published transcripts
// (AN12196) in its tests: ISO-wrapped native commands in frames of at most 54 command / 59 answer data
// bytes with AdditionalFrame chaining both ways, applications with AES keys, standard data files with
// plain / MAC / full communication (EV1 full: encrypted with CRC32, EV2 full: encrypted and MACed),
// AuthenticateEV2First / NonFirst and legacy AES authentication with their secure messaging,
// GetCardUID, a random-UID option that hides the real UID from GetVersion, factory PICC settings
// (2K3DES zero master key, key settings 0x0F), and the personalisation commands the encoding tool uses.
// It answers the PC/SC pseudo-APDU FF CA (UID) itself, as the reader would. Cryptography comes from the
// agent's crypto.ts (node:crypto AES), but every card-side rule (checks, counters, IVs) is written here
// independently.
import { randomBytes } from 'node:crypto';
import {
  aesCbcDecrypt,
  aesCbcEncrypt,
  aesCmac,
  constantTimeEqual,
  desfireCrc32,
  ev1SessionKey,
  ev2Iv,
  ev2SessionKeys,
  pad80,
  rotl,
  truncateMac,
  unpad80,
} from '../devices/badge/desfire/crypto';

/** Answers one command APDU (the vpcd test bed and the demo readers plug cards in this way). */
export type ApduHandler = (apdu: Buffer) => Buffer | Promise<Buffer>;

/** PC/SC part 3 ATR of an ISO 14443-4 card whose ATS has no historical bytes (DESFire on most readers). */
export const DESFIRE_ATR = Buffer.from('3B8180018080', 'hex');

export type EmuMode = 'plain' | 'mac' | 'full';
const MODE_OF_BITS: Record<number, EmuMode> = { 0: 'plain', 1: 'mac', 3: 'full' };

interface EmuFile {
  mode: EmuMode;
  /** Key numbers: read, write, read&write, change; 0xE free, 0xF never. */
  read: number;
  write: number;
  readWrite: number;
  change: number;
  data: Buffer;
}

/** How a command travels (secure messaging modes, header length) and what it does. */
type CommandSpec = {
  headerLen: number;
  cmdMode: EmuMode;
  respMode?: EmuMode;
  /** Plain length of the command data (EV1 full mode finds its CRC there). */
  dataLength?: number;
  exec: (h: Buffer, b: Buffer) => { status: number; data?: Buffer; endSession?: boolean };
};

interface EmuApp {
  keySettings: number;
  keys: Buffer[];
  versions: number[];
  files: Map<number, EmuFile>;
}

type Ev2Session = { kind: 'ev2'; keyNo: number; enc: Buffer; mac: Buffer; ti: Buffer; ctr: number };

type Auth =
  | {
      kind: 'pending';
      scheme: 'ev2' | 'aes';
      keyNo: number;
      key: Buffer;
      rndB: Buffer;
      lastBlock: Buffer;
      /** AuthenticateEV2NonFirst: the session whose TI and command counter carry over. */
      previous?: Ev2Session;
    }
  | Ev2Session
  | { kind: 'aes'; keyNo: number; key: Buffer; iv: Buffer };

export interface DesfireEmulatorOptions {
  uid?: Buffer;
  generation?: 'EV1' | 'EV2' | 'EV3';
  /** Privacy mode: anticollision shows a new 08xxxxxx UID at each insertion. */
  randomUid?: boolean;
  /** The card's random numbers (RndB, TI, random UIDs); tests replaying published transcripts fix them. */
  random?: (n: number) => Buffer;
}

/** Most data bytes one ISO-wrapped command frame carries after its INS (Lc), and one answer before its status. */
export const EMU_MAX_COMMAND_FRAME = 54;
export const EMU_MAX_RESPONSE_FRAME = 59;

const HW_MAJOR = { EV1: 0x01, EV2: 0x12, EV3: 0x33 } as const;
const le3 = (b: Buffer, o: number) => b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16);
const lastBlock = (b: Buffer) => Buffer.from(b.subarray(b.length - 16));
const zeroPad = (b: Buffer) => {
  const out = Buffer.alloc(Math.ceil(b.length / 16) * 16);
  b.copy(out);
  return out;
};

export class DesfireEmulator {
  readonly uid: Buffer;
  readonly generation: 'EV1' | 'EV2' | 'EV3';
  readonly randomUid: boolean;
  private readonly random: (n: number) => Buffer;
  private shownUid: Buffer;
  apps = new Map<string, EmuApp>();
  /**
   * Factory PICC level: key settings 0x0F (master key changeable, free listing, free creation and
   * deletion, settings changeable) and one master key, 2K3DES all zero. This emulator has no DES
   * authentication, so the PICC master key authenticates nobody: AES and EV2 attempts on it are
   * refused as on a factory card (0xAE).
   */
  piccKeySettings = 0x0f;
  private selected: EmuApp | null = null;
  private auth: Auth | null = null;
  /** Answer frames still to be fetched with 0xAF. */
  private frames: Buffer[] = [];
  /** A command whose data continues in 0xAF frames. */
  private incoming: { cmd: number; data: Buffer; total: number } | null = null;
  /** Commands seen (INS bytes), for tests that check what the agent sent. */
  log: number[] = [];
  /** Status of a chained answer's last frame. */
  private lastStatus = 0;

  constructor(opts: DesfireEmulatorOptions = {}) {
    this.random = opts.random ?? randomBytes;
    this.uid = opts.uid ?? Buffer.concat([Buffer.from([0x04]), randomBytes(6)]);
    this.generation = opts.generation ?? 'EV3';
    this.randomUid = opts.randomUid ?? false;
    this.shownUid = this.uid;
    this.powerOn();
  }

  /** A new field: selection and authentication are lost, a random UID changes. */
  powerOn(): void {
    this.selected = null;
    this.auth = null;
    this.frames = [];
    this.incoming = null;
    this.shownUid = this.randomUid ? Buffer.concat([Buffer.from([0x08]), this.random(3)]) : this.uid;
  }

  /** Personalise directly (tests): an application with AES keys and one standard data file. */
  install(
    aidWire: Buffer,
    app: { keys: Buffer[]; keySettings?: number; files?: Record<number, Partial<EmuFile> & { data: Buffer }> },
  ): void {
    const files = new Map<number, EmuFile>();
    for (const [no, f] of Object.entries(app.files ?? {}))
      files.set(Number(no), { mode: 'mac', read: 1, write: 0, readWrite: 0, change: 0, ...f });
    this.apps.set(aidWire.toString('hex'), {
      keySettings: app.keySettings ?? 0x0b,
      keys: app.keys.map((k) => Buffer.from(k)),
      versions: app.keys.map(() => 0),
      files,
    });
  }

  readonly handler: ApduHandler = (apdu) => this.process(apdu);

  process(apdu: Buffer): Buffer {
    if (apdu.length >= 5 && apdu[0] === 0xff && apdu[1] === 0xca)
      return Buffer.concat([this.shownUid, Buffer.from([0x90, 0x00])]);
    if (apdu.length < 5 || apdu[0] !== 0x90 || apdu[2] !== 0 || apdu[3] !== 0) return Buffer.from([0x6e, 0x00]);
    const lc = apdu.length > 5 ? apdu[4]! : 0;
    if (apdu.length !== (lc ? 6 + lc : 5)) return Buffer.from([0x67, 0x00]);
    const cmd = apdu[1]!;
    const data = lc ? Buffer.from(apdu.subarray(5, 5 + lc)) : Buffer.alloc(0);
    this.log.push(cmd);
    const r: { status: number; data?: Buffer } =
      lc > EMU_MAX_COMMAND_FRAME ? this.error(0x7e) : this.receive(cmd, data);
    let out = r.data ?? Buffer.alloc(0);
    let status = r.status;
    // Long answers leave in frames; the reader fetches the rest with 0xAF.
    if (out.length > EMU_MAX_RESPONSE_FRAME) {
      const rest = out.subarray(EMU_MAX_RESPONSE_FRAME);
      for (let i = 0; i < rest.length; i += EMU_MAX_RESPONSE_FRAME)
        this.frames.push(Buffer.from(rest.subarray(i, i + EMU_MAX_RESPONSE_FRAME)));
      this.lastStatus = status;
      out = out.subarray(0, EMU_MAX_RESPONSE_FRAME);
      status = 0xaf;
    }
    return Buffer.concat([out, Buffer.from([0x91, status])]);
  }

  /** One command frame: the first of a command, a continuation of its data, or a fetch of answer frames. */
  private receive(cmd: number, data: Buffer): { status: number; data?: Buffer } {
    if (cmd === 0xaf && this.incoming) {
      const inc = this.incoming;
      inc.data = Buffer.concat([inc.data, data]);
      if (inc.data.length > inc.total) {
        this.incoming = null;
        return this.error(0x7e);
      }
      if (inc.data.length < inc.total) return { status: 0xaf };
      this.incoming = null;
      return this.run(inc.cmd, inc.data);
    }
    this.incoming = null;
    if (cmd !== 0xaf) {
      const total = this.commandLength(cmd, data);
      if (total !== null && data.length < total) {
        this.frames = [];
        this.incoming = { cmd, data, total };
        return { status: 0xaf };
      }
    }
    return this.run(cmd, data);
  }

  /**
   * Total data length of a command that may span frames (WriteData: header, data and what the file's
   * communication mode and the session add), or null for commands that fit one frame.
   */
  private commandLength(cmd: number, data: Buffer): number | null {
    if (cmd !== 0x3d || data.length < 7 || !this.selected) return null;
    const f = this.selected.files.get(data[0]!);
    if (!f) return null;
    const len = le3(data, 4);
    const mode: EmuMode = f.write === 0x0e || f.readWrite === 0x0e ? 'plain' : f.mode;
    const a = this.auth;
    if (a?.kind === 'ev2') {
      if (mode === 'plain') return 7 + len;
      if (mode === 'mac') return 7 + len + 8;
      return 7 + (len ? (Math.floor(len / 16) + 1) * 16 : 0) + 8;
    }
    if (a?.kind === 'aes') {
      if (mode === 'full') return 7 + Math.ceil((len + 4) / 16) * 16;
      return 7 + len + (mode === 'mac' && len ? 8 : 0);
    }
    return 7 + len;
  }

  private run(cmd: number, data: Buffer): { status: number; data?: Buffer } {
    if (cmd === 0xaf) {
      if (this.auth?.kind === 'pending') return this.authStep2(this.auth, data);
      const next = this.frames.shift();
      if (!next) return { status: 0x1c };
      return { status: this.frames.length ? 0xaf : this.lastStatus, data: next };
    }
    this.frames = [];
    this.lastStatus = 0;
    if (this.auth?.kind === 'pending') this.auth = null;
    switch (cmd) {
      case 0x60:
        return this.getVersion();
      case 0x5a: {
        if (data.length !== 3) return { status: 0x7e };
        this.auth = null;
        if (data.equals(Buffer.alloc(3))) {
          this.selected = null;
          return { status: 0 };
        }
        const app = this.apps.get(data.toString('hex'));
        if (!app) return { status: 0xa0 };
        this.selected = app;
        return { status: 0 };
      }
      case 0x71:
      case 0xaa:
        return this.authStep1(cmd === 0x71 ? 'ev2' : 'aes', data);
      case 0x77:
        return this.authNonFirst(data);
      default:
        return this.secured(cmd, data);
    }
  }

  private getVersion() {
    const hw = Buffer.from([0x04, 0x01, 0x01, HW_MAJOR[this.generation], 0x00, 0x1a, 0x05]);
    const sw = Buffer.from([0x04, 0x01, 0x01, HW_MAJOR[this.generation], 0x00, 0x1a, 0x05]);
    // With the random ID on, GetVersion does not give the UID away (zeros); only GetCardUID after an
    // authentication does.
    const uid = this.randomUid ? Buffer.alloc(7) : this.uid;
    const prod = Buffer.concat([uid, Buffer.from('BA7C4E5F60', 'hex'), Buffer.from([0x24, 0x25])]);
    this.frames = [sw, prod];
    return { status: 0xaf, data: hw };
  }

  /** The AES key `keyNo` of the selected application; the PICC master key is 2K3DES, not AES. */
  private aesKeyOf(keyNo: number): { key: Buffer } | { status: number } {
    if (!this.selected) return keyNo === 0 ? { status: 0xae } : { status: 0x40 };
    const key = this.selected.keys[keyNo];
    return key ? { key } : { status: 0x40 };
  }

  private authStep1(scheme: 'ev2' | 'aes', data: Buffer) {
    this.auth = null;
    if (data.length < 1) return { status: 0x7e };
    if (scheme === 'ev2' && this.generation === 'EV1') return { status: 0x1c };
    const keyNo = data[0]!;
    const k = this.aesKeyOf(keyNo);
    if ('status' in k) return k;
    const rndB = this.random(16);
    const enc = aesCbcEncrypt(k.key, Buffer.alloc(16), rndB);
    this.auth = { kind: 'pending', scheme, keyNo, key: k.key, rndB, lastBlock: enc };
    return { status: 0xaf, data: enc };
  }

  /** AuthenticateEV2NonFirst (0x77, key number only): new session keys, TI and command counter kept. */
  private authNonFirst(data: Buffer) {
    const previous = this.auth;
    this.auth = null;
    if (previous?.kind !== 'ev2') return { status: 0xae };
    if (data.length !== 1) return { status: 0x7e };
    const k = this.aesKeyOf(data[0]!);
    if ('status' in k) return k;
    const rndB = this.random(16);
    const enc = aesCbcEncrypt(k.key, Buffer.alloc(16), rndB);
    this.auth = { kind: 'pending', scheme: 'ev2', keyNo: data[0]!, key: k.key, rndB, lastBlock: enc, previous };
    return { status: 0xaf, data: enc };
  }

  private authStep2(p: Extract<Auth, { kind: 'pending' }>, data: Buffer) {
    this.auth = null;
    if (data.length !== 32) return { status: 0x7e };
    const plain = aesCbcDecrypt(p.key, p.scheme === 'ev2' ? Buffer.alloc(16) : p.lastBlock, data);
    const rndA = plain.subarray(0, 16);
    if (!constantTimeEqual(plain.subarray(16, 32), rotl(p.rndB))) return { status: 0xae };
    if (p.scheme === 'ev2') {
      const s = ev2SessionKeys(p.key, rndA, p.rndB);
      if (p.previous) {
        this.auth = { ...p.previous, keyNo: p.keyNo, enc: s.enc, mac: s.mac };
        return { status: 0, data: aesCbcEncrypt(p.key, Buffer.alloc(16), rotl(rndA)) };
      }
      const ti = this.random(4);
      this.auth = { kind: 'ev2', keyNo: p.keyNo, enc: s.enc, mac: s.mac, ti, ctr: 0 };
      return {
        status: 0,
        data: aesCbcEncrypt(p.key, Buffer.alloc(16), Buffer.concat([ti, rotl(rndA), Buffer.alloc(12)])),
      };
    }
    this.auth = { kind: 'aes', keyNo: p.keyNo, key: ev1SessionKey(rndA, p.rndB), iv: Buffer.alloc(16) };
    return { status: 0, data: aesCbcEncrypt(p.key, data.subarray(16, 32), rotl(rndA)) };
  }

  /** Commands that go through the session's secure messaging (when there is a session). */
  private secured(cmd: number, data: Buffer): { status: number; data?: Buffer } {
    const spec = this.commandSpec(cmd, data);
    if ('status' in spec) return this.error(spec.status);
    const a = this.auth;
    let header = data.subarray(0, spec.headerLen);
    let body = data.subarray(spec.headerLen);
    let mode = spec.cmdMode;
    if (a?.kind === 'ev2') {
      if (mode !== 'plain') {
        if (body.length < 8) return this.error(0x7e);
        const mac = body.subarray(body.length - 8);
        body = body.subarray(0, body.length - 8);
        const ctr = Buffer.alloc(2);
        ctr.writeUInt16LE(a.ctr);
        const expect = truncateMac(aesCmac(a.mac, Buffer.concat([Buffer.from([cmd]), ctr, a.ti, header, body])));
        if (!constantTimeEqual(expect, mac)) return this.error(0x1e);
        if (mode === 'full' && body.length) {
          try {
            body = unpad80(aesCbcDecrypt(a.enc, ev2Iv(a.enc, a.ti, a.ctr, false), body));
          } catch {
            return this.error(0x1e);
          }
        }
      }
    } else if (a?.kind === 'aes') {
      if (mode === 'full' && body.length) {
        // EV1 encrypted data: data || CRC32(cmd || header || data) || zero padding, CBC from the session IV.
        if (body.length % 16 || spec.dataLength === undefined) return this.error(0x7e);
        const plain = aesCbcDecrypt(a.key, a.iv, body);
        a.iv = lastBlock(body);
        const n = spec.dataLength;
        if (plain.length < n + 4 || !plain.subarray(n + 4).every((b) => b === 0)) return this.error(0x1e);
        const d = plain.subarray(0, n);
        if (!desfireCrc32(Buffer.concat([Buffer.from([cmd]), header, d])).equals(plain.subarray(n, n + 4)))
          return this.error(0x1e);
        body = Buffer.from(d);
      } else {
        let content = Buffer.concat([header, body]);
        if (mode === 'mac' && body.length) {
          const mac = content.subarray(content.length - 8);
          content = content.subarray(0, content.length - 8);
          const full = aesCmac(a.key, Buffer.concat([Buffer.from([cmd]), content]), a.iv);
          if (!constantTimeEqual(full.subarray(0, 8), mac)) return this.error(0x1e);
          a.iv = full;
        } else {
          a.iv = aesCmac(a.key, Buffer.concat([Buffer.from([cmd]), content]), a.iv);
        }
        header = content.subarray(0, spec.headerLen);
        body = content.subarray(spec.headerLen);
      }
    } else {
      mode = 'plain';
    }
    const r = spec.exec(header, body);
    if (r.status !== 0) return this.error(r.status);
    const out = r.data ?? Buffer.alloc(0);
    const cur = this.auth;
    if (r.endSession || !cur || cur.kind === 'pending') {
      if (r.endSession) this.auth = null;
      return { status: 0, data: out };
    }
    if (cur.kind === 'ev2') {
      cur.ctr = (cur.ctr + 1) & 0xffff;
      const respMode = spec.respMode ?? mode;
      if (respMode === 'plain') return { status: 0, data: out };
      const resp =
        respMode === 'full' && out.length
          ? aesCbcEncrypt(cur.enc, ev2Iv(cur.enc, cur.ti, cur.ctr, true), pad80(out))
          : out;
      const ctr = Buffer.alloc(2);
      ctr.writeUInt16LE(cur.ctr);
      const mac = truncateMac(aesCmac(cur.mac, Buffer.concat([Buffer.from([0]), ctr, cur.ti, resp])));
      return { status: 0, data: Buffer.concat([resp, mac]) };
    }
    if ((spec.respMode ?? mode) === 'full' && out.length) {
      // EV1 encrypted answer: CRC32(data || status) instead of a CMAC.
      const enc = aesCbcEncrypt(
        cur.key,
        cur.iv,
        zeroPad(Buffer.concat([out, desfireCrc32(Buffer.concat([out, Buffer.from([0])]))])),
      );
      cur.iv = lastBlock(enc);
      return { status: 0, data: enc };
    }
    const full = aesCmac(cur.key, Buffer.concat([out, Buffer.from([0])]), cur.iv);
    cur.iv = full;
    return { status: 0, data: Buffer.concat([out, full.subarray(0, 8)]) };
  }

  /** Any error ends the authenticated state, as on the real card. */
  private error(status: number) {
    this.auth = null;
    return { status };
  }

  private allowed(keyNo: number): boolean {
    if (keyNo === 0x0e) return true;
    if (keyNo === 0x0f) return false;
    return this.auth !== null && this.auth.kind !== 'pending' && this.auth.keyNo === keyNo;
  }

  private commandSpec(cmd: number, data: Buffer): CommandSpec | { status: number } {
    const app = this.selected;
    const master = () => this.auth !== null && this.auth.kind !== 'pending' && this.auth.keyNo === 0;
    switch (cmd) {
      case 0x6a:
        return {
          headerLen: 0,
          cmdMode: 'mac',
          exec: () =>
            app
              ? { status: 0x1c }
              : { status: 0, data: Buffer.concat([...this.apps.keys()].map((k) => Buffer.from(k, 'hex'))) },
        };
      case 0x45:
        return {
          headerLen: 0,
          cmdMode: 'mac',
          exec: () => ({
            status: 0,
            // PICC: one key, 2K3DES (no AES flag 0x80) → "0F 01" on a factory card.
            data: app
              ? Buffer.from([app.keySettings, 0x80 | app.keys.length])
              : Buffer.from([this.piccKeySettings, 0x01]),
          }),
        };
      case 0x64:
        return {
          headerLen: 1,
          cmdMode: 'mac',
          exec: (h) =>
            app
              ? h[0]! < app.keys.length
                ? { status: 0, data: Buffer.from([app.versions[h[0]!]!]) }
                : { status: 0x40 }
              : h[0] === 0
                ? { status: 0, data: Buffer.from([0x00]) }
                : { status: 0x40 },
        };
      case 0xca:
        return {
          headerLen: 0,
          cmdMode: 'mac',
          exec: (_h, b) => (app ? { status: 0x1c } : this.createApplication(b, master())),
        };
      case 0xcd:
        return {
          headerLen: 0,
          cmdMode: 'mac',
          exec: (_h, b) => (app ? this.createFile(app, b, master()) : { status: 0x1c }),
        };
      case 0xbd:
      case 0x3d:
        return app ? this.fileAccess(cmd, data, app) : { status: 0x1c };
      case 0x51:
        if (this.auth?.kind !== 'ev2' && this.auth?.kind !== 'aes') return { status: 0x9d };
        return {
          headerLen: 0,
          cmdMode: 'mac',
          respMode: 'full',
          exec: () => ({ status: 0, data: Buffer.from(this.uid) }),
        };
      case 0xc4:
        if (!app || this.auth?.kind !== 'ev2' || this.auth.keyNo !== 0) return { status: 0x9d };
        return { headerLen: 1, cmdMode: 'full', exec: (h, b) => this.changeKey(app, h[0]!, b) };
      default:
        return { status: 0x1c };
    }
  }
  /** CreateApplication (CA) at PICC level: AES keys only, 1 to 14 of them. */
  private createApplication(b: Buffer, master: boolean): { status: number } {
    if (b.length !== 5) return { status: 0x7e };
    if (!(this.piccKeySettings & 0x04) && !master) return { status: 0x9d };
    const key = b.subarray(0, 3).toString('hex');
    if (this.apps.has(key)) return { status: 0xde };
    const n = b[4]! & 0x0f;
    if (!(b[4]! & 0x80) || n < 1 || n > 14) return { status: 0x9e };
    this.apps.set(key, {
      keySettings: b[3]!,
      keys: Array.from({ length: n }, () => Buffer.alloc(16)),
      versions: Array(n).fill(0),
      files: new Map(),
    });
    return { status: 0 };
  }

  /** CreateStdDataFile (CD) in the selected application. */
  private createFile(app: EmuApp, b: Buffer, master: boolean): { status: number } {
    if (b.length !== 7) return { status: 0x7e };
    if (!(app.keySettings & 0x04) && !master) return { status: 0x9d };
    if (app.files.has(b[0]!)) return { status: 0xde };
    const mode = MODE_OF_BITS[b[1]! & 0x03];
    if (!mode) return { status: 0x9e };
    app.files.set(b[0]!, {
      mode,
      readWrite: b[2]! >> 4,
      change: b[2]! & 0x0f,
      read: b[3]! >> 4,
      write: b[3]! & 0x0f,
      data: Buffer.alloc(le3(b, 4)),
    });
    return { status: 0 };
  }

  /** ReadData (BD) and WriteData (3D) of the selected application's file, as the file's access rights say. */
  private fileAccess(cmd: number, data: Buffer, app: EmuApp): CommandSpec | { status: number } {
    if (data.length < 7) return { status: 0x7e };
    const f = app.files.get(data[0]!);
    if (!f) return { status: 0xf0 };
    const access = cmd === 0xbd ? [f.read, f.readWrite] : [f.write, f.readWrite];
    if (!access.some((k) => this.allowed(k))) return { status: 0x9d };
    // Free access is plain communication whatever the file says.
    const mode: EmuMode = access.includes(0x0e) ? 'plain' : f.mode;
    const off = le3(data, 1);
    const len = le3(data, 4);
    if (cmd === 0xbd) {
      return {
        headerLen: 7,
        cmdMode: mode === 'plain' ? 'plain' : 'mac',
        respMode: mode,
        exec: () => {
          const n = len || f.data.length - off;
          if (off + n > f.data.length) return { status: 0xbe };
          return { status: 0, data: Buffer.from(f.data.subarray(off, off + n)) };
        },
      };
    }
    return {
      headerLen: 7,
      cmdMode: mode,
      respMode: mode === 'plain' ? 'plain' : 'mac',
      dataLength: len,
      exec: (_h, b) => {
        if (b.length !== len) return { status: 0x7e };
        if (off + len > f.data.length) return { status: 0xbe };
        b.copy(f.data, off);
        return { status: 0 };
      },
    };
  }

  /** ChangeKey (C4) under the application master key: the session's own key, or another with its CRC32. */
  private changeKey(app: EmuApp, keyNo: number, b: Buffer): { status: number; endSession?: boolean } {
    const old = app.keys[keyNo];
    if (!old) return { status: 0x40 };
    const same = this.auth?.kind === 'ev2' && this.auth.keyNo === keyNo;
    if (same) {
      if (b.length !== 17) return { status: 0x7e };
      app.keys[keyNo] = Buffer.from(b.subarray(0, 16));
      app.versions[keyNo] = b[16]!;
      return { status: 0, endSession: true };
    }
    if (b.length !== 21) return { status: 0x7e };
    const next = Buffer.alloc(16);
    for (let i = 0; i < 16; i++) next[i] = b[i]! ^ old[i]!;
    if (!desfireCrc32(next).equals(b.subarray(17, 21))) return { status: 0x1e };
    app.keys[keyNo] = next;
    app.versions[keyNo] = b[16]!;
    return { status: 0 };
  }
}

/** The test hospital's badge application and keys (testbed only). */
