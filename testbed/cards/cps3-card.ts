// A CPS3 card as the readers' middleware sees it: an IAS-ECC chip with the CPS PKCS#15 application, driven
// over pcscd + vpcd by OpenSC's own `iasecc` driver (which knows the CPS3 ATR as "IAS/ECC CPx") and laid
// out for the ANS Cryptolib's `cps3` driver too (dops-cryptolib v5.2 card-cps.c / card-cps3.c).
//
// What both drivers look for, and where this card has it:
// - EF.SN.ICC 3F00/D003 (SFI 1C, 12 bytes `5A 0A 80 25 00 00 01 …`: the ANS issuer number, then the serial);
// - EF.ATR 3F00/2F01 (IAS-ECC pre-issuing data and I/O buffer sizes; no root AID, so OpenSC selects 3F00);
// - EF.DIR 3F00/2F00 naming the PKCS#15 application: E8 28 BD 08 0F 80 25 00 00 01 FF 00 10 in DF
//   3F00/0001 on the contact interface, …FF 00 20 in DF 3F00/0002 on the contactless one;
// - 3F00/0001/7001, readable in contact mode only (how the Cryptolib tells the two interfaces apart);
// - the PIN as IAS-ECC SDO CHV 1 in the MF (GET DATA `BF 81 01`: tries left 9B, no maximum), 3 tries,
//   VERIFY without data answering 63Cx, 6983 once blocked;
// - the RSA private keys as SDOs of DF 0001 (OpenSC reads their DOCP there), used through MSE SET +
//   INTERNAL AUTHENTICATE (authentication and technical keys: the card pads PKCS#1 v1.5 and signs) or
//   PSO HASH (the host's intermediate SHA-256 state, finished on card) + PSO COMPUTE DIGITAL SIGNATURE
//   (the non-repudiation key), as IAS-ECC requires the last hashing step on the card.
// PKCS#15 objects carry the labels the Cryptolib exposes (SpecificationsExternes_PKCS11_CryptoLib_CPS3):
// CPS_PRIV_AUT / "Certificat d'Authentification CPS", CPS_PRIV_SIG / "Certificat de Signature CPS",
// CPS_PRIV_TECH_AUT / "Certificat Technique CPS" (contactless, no PIN), data objects CPS_ID_CARD,
// CPS_NAME_PS, CPS_LANG_PS, CPS_INFO_PS, CPS_DATA. The real file identifiers, key references and the
// business content of the data objects are not public: those here are ours, chosen to fit both drivers.
// Fault injection: `onSign` lets a test pull the card in the middle of a signature.
import { constants, createHash, privateEncrypt, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { ApduHandler } from '../vpcd-client';
import { bits, bool, int, nul, octets, path as p15path, readAll, readTlv, seq, tlv, utf8 } from './der';
import { sha256Resume } from './sha256-resume';

const sw = (a: number, b: number) => Buffer.from([a, b]);
const OK = sw(0x90, 0x00);
const SW = {
  wrongLength: sw(0x67, 0x00),
  securityNotSatisfied: sw(0x69, 0x82),
  blocked: sw(0x69, 0x83),
  conditionsNotSatisfied: sw(0x69, 0x85),
  noCurrentEf: sw(0x69, 0x86),
  wrongData: sw(0x6a, 0x80),
  notFound: sw(0x6a, 0x82),
  wrongP1P2: sw(0x6a, 0x86),
  refNotFound: sw(0x6a, 0x88),
  offsetOutside: sw(0x6b, 0x00),
  insNotSupported: sw(0x6d, 0x00),
  claNotSupported: sw(0x6e, 0x00),
};

export const CPS3_AID = {
  contact: Buffer.from('E828BD080F8025000001FF0010', 'hex'),
  contactless: Buffer.from('E828BD080F8025000001FF0020', 'hex'),
};

/** ANS issuer number in EF.SN.ICC (card-cps.c compares bytes 2..6 with it). */
const ANS_ISSUER = Buffer.from('8025000001', 'hex');

export interface Cps3Key {
  certDer: Buffer;
  privateKey: KeyObject;
}

export interface Cps3CardOptions {
  /** Authentication key and certificate (CPS_PRIV_AUT, "Certificat d'Authentification CPS"). */
  auth: Cps3Key;
  /** Non-repudiation key (CPS_PRIV_SIG); absent: the authentication key pair stands in. */
  sign?: Cps3Key;
  /** Contactless technical key (CPS_PRIV_TECH_AUT, "Certificat Technique CPS"), usable without PIN. */
  tech?: Cps3Key;
  /** 'contactless': the card as a contactless reader sees it (CPS3 contactless ATR). */
  iface?: 'contact' | 'contactless';
  holder: { lastName: string; firstName: string; idNat: string; profession: string };
  /** Card serial number, 8 decimal digits (EF.SN.ICC: ANS issuer number, serial, Luhn digit, F). */
  serial?: string;
  pin?: string;
  maxTries?: number;
}

type Access = 'always' | 'pin' | 'never';
interface Ef {
  kind: 'ef';
  fid: number;
  sfi?: number;
  data: Buffer;
  read: Access;
  contactless: boolean;
}
interface Df {
  kind: 'df';
  fid: number;
  name?: Buffer;
  parent: Df | null;
  children: Map<number, Ef | Df>;
}

interface RsaSdo {
  ref: number;
  key: Cps3Key;
  /** Which computation it allows, and whether the holder's PIN must have been verified. */
  use: 'authenticate' | 'sign';
  needsPin: boolean;
  contactless: boolean;
}

/** IAS-ECC algorithm references (MSE SET tag 80). */
const ALG = { rsaPkcs1: 0x02, sha256: 0x40, rsaSha256: 0x42 } as const;
const PIN_REF = 0x01;
const KEY_REF = { auth: 0x81, sign: 0x82, tech: 0x83 } as const;

/** PKCS#11 mechanisms the card's algorithms map to (TokenInfo supportedAlgorithms, read by OpenSC). */
const CKM = { RSA_PKCS: 0x1, SHA256_RSA_PKCS: 0x40, SHA256: 0x250 } as const;

/** Luhn digit of a decimal string (the PAN of EF.SN.ICC carries one). */
function luhn(digits: string): number {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return (10 - (sum % 10)) % 10;
}

export class Cps3Card {
  triesLeft: number;
  signCount = 0;
  /** VERIFY commands that carried a PIN (a blocked card must never receive one). */
  verifyWithPin = 0;
  /** Called before answering a signature; return false to answer nothing (card pulled). */
  onSign: (() => Promise<boolean> | boolean) | null = null;

  readonly serial: string;
  private readonly pin: string;
  private readonly maxTries: number;
  private readonly iface: 'contact' | 'contactless';
  private readonly mf: Df;
  private readonly keys: RsaSdo[];
  private current: Df;
  private currentEf: Ef | null = null;
  private verified = false;
  private se: { template: number; alg: number | null; key: RsaSdo | null } | null = null;
  private hashed: Buffer | null = null;
  private chain: Buffer = Buffer.alloc(0);
  private pending: Buffer = Buffer.alloc(0);

  constructor(opts: Cps3CardOptions) {
    this.pin = opts.pin ?? '1234';
    this.maxTries = opts.maxTries ?? 3;
    this.triesLeft = this.maxTries;
    this.iface = opts.iface ?? 'contact';
    this.serial = opts.serial ?? '12345678';
    if (!/^\d{8}$/.test(this.serial)) throw new Error('CPS3 serial: 8 digits');
    const sign = opts.sign ?? opts.auth;
    this.keys = [
      { ref: KEY_REF.auth, key: opts.auth, use: 'authenticate', needsPin: true, contactless: false },
      { ref: KEY_REF.sign, key: sign, use: 'sign', needsPin: true, contactless: false },
      ...(opts.tech
        ? [{ ref: KEY_REF.tech, key: opts.tech, use: 'authenticate' as const, needsPin: false, contactless: true }]
        : []),
    ];
    this.mf = this.buildFileSystem(opts, sign);
    this.current = this.mf;
  }

  get blocked(): boolean {
    return this.triesLeft === 0;
  }

  /** Power cycle: the security status and selections go, the retry counter stays (it lives in the chip). */
  reset(): void {
    this.verified = false;
    this.current = this.mf;
    this.currentEf = null;
    this.se = null;
    this.hashed = null;
    this.chain = Buffer.alloc(0);
    this.pending = Buffer.alloc(0);
  }

  // --- file system -------------------------------------------------------------------------------------

  private buildFileSystem(opts: Cps3CardOptions, sign: Cps3Key): Df {
    const mf: Df = { kind: 'df', fid: 0x3f00, parent: null, children: new Map() };
    const df = (parent: Df, fid: number, name: Buffer): Df => {
      const d: Df = { kind: 'df', fid, name, parent, children: new Map() };
      parent.children.set(fid, d);
      return d;
    };
    const ef = (
      parent: Df,
      fid: number,
      data: Buffer,
      o: { read?: Access; contactless?: boolean; sfi?: number } = {},
    ) =>
      parent.children.set(fid, {
        kind: 'ef',
        fid,
        data,
        read: o.read ?? 'always',
        contactless: o.contactless ?? true,
        ...(o.sfi !== undefined ? { sfi: o.sfi } : {}),
      });

    // EF.SN.ICC: the PAN = ANS issuer number, serial, Luhn digit, F padding (BCD).
    const digits = `${ANS_ISSUER.toString('hex')}${this.serial}`;
    const withLuhn = `${digits}${luhn(digits)}`;
    const pan = Buffer.from(`${withLuhn}f`, 'hex');
    ef(mf, 0xd003, tlv(0x5a, pan), { sfi: 0x1c });
    // EF.ATR: category indicator, pre-issuing data (IC manufacturer, IC type, OS, IAS-ECC version), card
    // capabilities, I/O buffer sizes (send, send under SM, receive, receive under SM) = 0xE7 each.
    const size = tlv(0x02, Buffer.from([0x00, 0xe7]));
    ef(
      mf,
      0x2f01,
      Buffer.concat([
        Buffer.from([0x80]),
        tlv(0x46, Buffer.from('8001010110', 'hex')),
        tlv(0x47, Buffer.from('948001', 'hex')),
        tlv(0xe0, Buffer.concat([size, size, size, size])),
      ]),
      { sfi: 0x1d },
    );
    // Both applications on both interfaces: the Cryptolib caches the PKCS#15 files by card serial number,
    // so what it reads must not depend on the interface (it picks its application by the ATR).
    const dirRecord = (aid: Buffer, dfPath: string) =>
      tlv(0x61, Buffer.concat([tlv(0x4f, aid), tlv(0x50, Buffer.from('CPS')), tlv(0x51, Buffer.from(dfPath, 'hex'))]));
    ef(
      mf,
      0x2f00,
      Buffer.concat([dirRecord(CPS3_AID.contact, '3F000001'), dirRecord(CPS3_AID.contactless, '3F000002')]),
      {
        sfi: 0x1e,
      },
    );

    const cps = df(mf, 0x0001, CPS3_AID.contact);
    ef(cps, 0x7001, Buffer.from([0x01]), { contactless: false });
    const certs = { auth: 0xc000, sign: 0xc001, tech: 0xc002 };
    ef(cps, certs.auth, opts.auth.certDer, { contactless: false });
    ef(cps, certs.sign, sign.certDer, { contactless: false });
    if (opts.tech) ef(cps, certs.tech, opts.tech.certDer);
    const h = opts.holder;
    const dataObjects: [string, number, Buffer][] = [
      ['CPS_ID_CARD', 0xd001, Buffer.concat([tlv(0x80, Buffer.from(this.serial)), tlv(0x81, Buffer.from('CPS3'))])],
      ['CPS_NAME_PS', 0xd002, Buffer.concat([tlv(0x80, Buffer.from(h.lastName)), tlv(0x81, Buffer.from(h.firstName))])],
      ['CPS_LANG_PS', 0xd004, Buffer.from('fr')],
      ['CPS_INFO_PS', 0xd005, Buffer.concat([tlv(0x80, Buffer.from(h.idNat)), tlv(0x81, Buffer.from(h.profession))])],
      ['CPS_DATA', 0xd006, Buffer.alloc(0)],
    ];
    for (const [, fid, data] of dataObjects) ef(cps, fid, data, { contactless: false });

    const p = (fid: number, dir = '3F000001') => p15path(`${dir}${fid.toString(16).padStart(4, '0')}`);
    const obj = (label: string, flags: number[], authId?: number) =>
      seq(utf8(label), bits(...flags), ...(authId !== undefined ? [octets(Buffer.from([authId]))] : []));
    const PRIVATE = 0;
    const prkey = (label: string, id: number, usage: number[], ref: number, authId?: number) =>
      seq(
        obj(label, authId !== undefined ? [PRIVATE] : [], authId),
        // Key flags: sensitive, alwaysSensitive, neverExtractable.
        seq(octets(Buffer.from([id])), bits(...usage), bool(true), bits(0, 2, 3), int(ref)),
        tlv(0xa1, seq(p15path('3F000001'), int(2048))),
      );
    const cert = (label: string, id: number, fid: number) =>
      seq(obj(label, []), seq(octets(Buffer.from([id]))), tlv(0xa1, seq(p(fid))));
    const USAGE = { sign: 2, nonRepudiation: 9 };

    const tokenInfo = (label: string) =>
      seq(
        int(0),
        octets(Buffer.from(this.serial, 'hex')),
        utf8('ASIP-SANTE'),
        tlv(0x80, Buffer.from(label, 'utf8')),
        bits(0), // readonly
        tlv(
          0xa2,
          Buffer.concat([
            seq(int(1), int(CKM.RSA_PKCS), nul(), bits(1), int(ALG.rsaPkcs1)),
            seq(int(2), int(CKM.SHA256_RSA_PKCS), nul(), bits(1), int(ALG.rsaSha256)),
            seq(int(3), int(CKM.SHA256), nul(), bits(6), int(ALG.sha256)),
          ]),
        ),
      );
    const odf = (dir: string, parts: [number, number][]) =>
      Buffer.concat(parts.map(([tag, fid]) => tlv(tag, p(fid, dir))));

    // Contact application: PKCS#15 files in DF 0001 itself.
    ef(cps, 0x5032, tokenInfo(`CPS de ${h.firstName} ${h.lastName}`), { contactless: false });
    ef(
      cps,
      0x5031,
      odf('3F000001', [
        [0xa0, 0x5001],
        [0xa4, 0x5002],
        [0xa7, 0x5003],
        [0xa8, 0x5004],
      ]),
      { contactless: false },
    );
    ef(
      cps,
      0x5001,
      Buffer.concat([
        prkey('CPS_PRIV_AUT', 1, [USAGE.sign], KEY_REF.auth, 1),
        prkey('CPS_PRIV_SIG', 2, [USAGE.nonRepudiation], KEY_REF.sign, 1),
      ]),
      { contactless: false },
    );
    ef(
      cps,
      0x5002,
      Buffer.concat([
        cert("Certificat d'Authentification CPS", 1, certs.auth),
        cert('Certificat de Signature CPS', 2, certs.sign),
      ]),
      { contactless: false },
    );
    ef(
      cps,
      0x5003,
      Buffer.concat(dataObjects.map(([label, fid]) => seq(obj(label, []), seq(utf8('CPS')), tlv(0xa1, p(fid))))),
      { contactless: false },
    );
    const NEEDS_PADDING = 5;
    const INITIALIZED = 4;
    ef(
      cps,
      0x5004,
      seq(
        obj('Code porteur', [PRIVATE]),
        seq(octets(Buffer.from([1]))),
        tlv(
          0xa1,
          seq(
            bits(INITIALIZED, NEEDS_PADDING),
            tlv(0x0a, Buffer.from([1])), // ascii-numeric
            int(4),
            int(8),
            int(8),
            tlv(0x80, Buffer.from([PIN_REF])),
            octets(Buffer.from([0xff])),
          ),
        ),
      ),
      { contactless: false },
    );

    // Contactless application: its own PKCS#15 files in DF 0002, naming the technical key of DF 0001.
    const cl = df(mf, 0x0002, CPS3_AID.contactless);
    ef(cl, 0x5032, tokenInfo(`CPS de ${h.firstName} ${h.lastName}`));
    ef(
      cl,
      0x5031,
      odf('3F000002', [
        [0xa0, 0x5001],
        [0xa4, 0x5002],
      ]),
    );
    ef(cl, 0x5001, opts.tech ? prkey('CPS_PRIV_TECH_AUT', 3, [USAGE.sign], KEY_REF.tech) : Buffer.alloc(0));
    ef(cl, 0x5002, opts.tech ? cert('Certificat Technique CPS', 3, certs.tech) : Buffer.alloc(0));
    return mf;
  }

  private fcp(node: Ef | Df): Buffer {
    const fid = tlv(0x83, Buffer.from([node.fid >> 8, node.fid & 0xff]));
    const lcs = tlv(0x8a, Buffer.from([0x05]));
    if (node.kind === 'df') {
      // Access mode byte: DELETE, CREATE; both NEVER.
      const acl = tlv(0xa1, tlv(0x8c, Buffer.from([0x44, 0xff, 0xff])));
      const name = node.name ? tlv(0x84, node.name) : Buffer.alloc(0);
      return tlv(0x62, Buffer.concat([tlv(0x82, Buffer.from([0x38])), fid, name, lcs, acl]));
    }
    const read = node.read === 'always' ? 0x00 : node.read === 'pin' ? 0x12 : 0xff;
    // Access mode byte: UPDATE, READ.
    const acl = tlv(0xa1, tlv(0x8c, Buffer.from([0x03, 0xff, read])));
    const size = tlv(0x80, Buffer.from([node.data.length >> 8, node.data.length & 0xff]));
    return tlv(0x62, Buffer.concat([size, tlv(0x82, Buffer.from([0x01])), fid, lcs, acl]));
  }

  private allDfs(from: Df = this.mf): Df[] {
    return [from, ...[...from.children.values()].flatMap((c) => (c.kind === 'df' ? this.allDfs(c) : []))];
  }

  private walk(start: Df, pathBytes: Buffer): Ef | Df | null {
    let node: Ef | Df = start;
    for (let i = 0; i + 1 < pathBytes.length; i += 2) {
      const fid = pathBytes.readUInt16BE(i);
      if (node.kind !== 'df') return null;
      const next: Ef | Df | undefined = node.children.get(fid);
      if (!next) return null;
      node = next;
    }
    return node;
  }

  private select(p1: number, p2: number, data: Buffer): Buffer {
    let target: Ef | Df | null = null;
    const absolute = data.length >= 2 && data.readUInt16BE(0) === 0x3f00;
    switch (p1) {
      case 0x00:
        if (data.length === 0 || (data.length === 2 && absolute)) target = this.mf;
        else if (data.length === 2) target = this.current.children.get(data.readUInt16BE(0)) ?? null;
        break;
      case 0x01:
      case 0x02: {
        if (data.length !== 2) return SW.wrongLength;
        // OpenSC's iasecc driver selects the MF this way for CPx cards (P1 = 02, FID 3F00).
        if (absolute) {
          target = this.mf;
          break;
        }
        const n = this.current.children.get(data.readUInt16BE(0));
        target = n && (p1 === 0x01 ? n.kind === 'df' : n.kind === 'ef') ? n : null;
        break;
      }
      case 0x03:
        target = this.current.parent ?? this.mf;
        break;
      case 0x04:
        target = this.allDfs().find((d) => d.name && d.name.equals(data)) ?? null;
        break;
      case 0x08:
      case 0x09:
        if (data.length < 2 || data.length % 2) return SW.wrongLength;
        // Both drivers send the path from the MF with P1 = 09 (card-iasecc.c, card-cps3.c).
        target = absolute
          ? this.walk(this.mf, data.subarray(2))
          : this.walk(p1 === 0x08 ? this.mf : this.current, data);
        break;
      default:
        return SW.wrongP1P2;
    }
    if (!target) return SW.notFound;
    if (target.kind === 'df') {
      this.current = target;
      this.currentEf = null;
    } else {
      this.current = this.parentOf(target);
      this.currentEf = target;
    }
    if ((p2 & 0x0c) === 0x0c) return OK;
    return this.respond(this.fcp(target), 256);
  }

  private parentOf(ef: Ef): Df {
    return this.allDfs().find((d) => d.children.get(ef.fid) === ef)!;
  }

  private readBinary(p1: number, p2: number, le: number): Buffer {
    let ef = this.currentEf;
    let offset: number;
    if (p1 & 0x80) {
      const sfi = p1 & 0x1f;
      const found = [...this.current.children.values(), ...this.mf.children.values()].find(
        (n): n is Ef => n.kind === 'ef' && n.sfi === sfi,
      );
      if (!found) return SW.notFound;
      ef = found;
      this.currentEf = found;
      offset = p2;
    } else {
      offset = ((p1 & 0x7f) << 8) | p2;
    }
    if (!ef) return SW.noCurrentEf;
    if (this.iface === 'contactless' && !ef.contactless) return SW.securityNotSatisfied;
    if (ef.read === 'never' || (ef.read === 'pin' && !this.verified)) return SW.securityNotSatisfied;
    if (offset > ef.data.length) return SW.offsetOutside;
    return Buffer.concat([ef.data.subarray(offset, offset + le), OK]);
  }

  // --- security objects ----------------------------------------------------------------------------------

  /** GET DATA of an SDO (IAS-ECC `4D { 70 { BF cls ref { tag… } } }`): the PIN's or a key's public data. */
  private getData(data: Buffer): Buffer {
    const outer = readTlv(data, 0);
    const tmpl = outer?.tag === 0x4d ? readTlv(outer.value, 0) : null;
    const v = tmpl?.tag === 0x70 ? tmpl.value : null;
    if (!v || v.length < 4 || v[0] !== 0xbf) return SW.wrongData;
    // BF cls ref: a three-byte tag naming the SDO; its value lists the wanted parts (tag, length 80).
    const cls = v[1]!;
    const ref = v[2]!;
    const list = v.subarray(4, 4 + v[3]!);
    if (list.length < 2 || list.length !== v[3]) return SW.wrongData;
    const wanted = list[0] === 0x7f || list[0] === 0x5f ? list.readUInt16BE(0) : list[0]!;
    const answer = (content: Buffer) => this.respond(tlv(Buffer.from([0xbf, cls, ref]), content), 256);
    if ((cls & 0x7f) === 0x01) {
      if (ref !== PIN_REF) return SW.refNotFound;
      if (wanted === 0x7f41)
        return answer(tlv(0x7f41, Buffer.concat([tlv(0x80, Buffer.from([8])), tlv(0x81, Buffer.from([4]))])));
      if (wanted !== 0xa0) return SW.wrongData;
      // DOCP: tries left, without the maximum (9A), so that neither the Cryptolib nor OpenSC can set
      // COUNT_LOW after one wrong PIN (as the Cryptolib shows a real CPS3); access modes CHANGE (PIN),
      // VERIFY (always), RESET (never).
      return answer(
        tlv(
          0xa0,
          Buffer.concat([
            tlv(0x9b, Buffer.from([this.triesLeft])),
            tlv(0xa1, tlv(0x8c, Buffer.from([0x70, 0x12, 0x00, 0xff]))),
          ]),
        ),
      );
    }
    if ((cls & 0x7f) === 0x10) {
      const key = this.keys.find((k) => (k.ref & 0x1f) === (ref & 0x1f));
      if (!key || !this.keyAvailable(key)) return SW.refNotFound;
      if (wanted !== 0xa0) return SW.wrongData; // no public part in the private key SDO
      const bitsLen = key.key.privateKey.asymmetricKeyDetails?.modulusLength ?? 2048;
      const guard = key.needsPin ? 0x12 : 0x00;
      // Access modes PSO SIGN, INTERNAL AUTHENTICATE, PSO DECIPHER (never), GENERATE (never).
      const scbs = key.use === 'sign' ? [guard, 0xff, 0xff, 0xff] : [0xff, guard, 0xff, 0xff];
      return answer(
        tlv(
          0xa0,
          Buffer.concat([
            tlv(0x80, Buffer.from([bitsLen >> 8, bitsLen & 0xff])),
            tlv(0xa1, tlv(0x8c, Buffer.from([0x78, ...scbs]))),
          ]),
        ),
      );
    }
    return SW.refNotFound;
  }

  private keyAvailable(k: RsaSdo): boolean {
    return this.iface === 'contact' ? !k.contactless : k.contactless;
  }

  private verify(p1: number, ref: number, data: Buffer): Buffer {
    if (p1 === 0xff) {
      this.verified = false;
      return OK;
    }
    if (p1 !== 0x00 || ref !== PIN_REF) return SW.refNotFound;
    if (this.iface === 'contactless') return SW.conditionsNotSatisfied;
    if (this.blocked) return SW.blocked;
    if (data.length === 0) return this.verified ? OK : sw(0x63, 0xc0 | this.triesLeft);
    this.verifyWithPin += 1;
    let end = data.length;
    while (end > 0 && data[end - 1] === 0xff) end--;
    if (data.subarray(0, end).toString('latin1') === this.pin) {
      this.triesLeft = this.maxTries;
      this.verified = true;
      return OK;
    }
    this.verified = false;
    this.triesLeft -= 1;
    return this.blocked ? SW.blocked : sw(0x63, 0xc0 | this.triesLeft);
  }

  private mse(p1: number, p2: number, data: Buffer): Buffer {
    if (p1 === 0xf3) return OK; // RESTORE: the card's default environment
    if (p1 !== 0x41 || ![0xa4, 0xb6, 0xaa].includes(p2)) return SW.wrongP1P2;
    const items = readAll(data);
    if (!items) return SW.wrongData;
    let alg: number | null = null;
    let key: RsaSdo | null = null;
    for (const t of items) {
      if (t.tag === 0x80 && t.value.length === 1) alg = t.value[0]!;
      else if ((t.tag === 0x83 || t.tag === 0x84) && t.value.length === 1) {
        key = this.keys.find((k) => k.ref === (t.value[0]! | 0x80) && this.keyAvailable(k)) ?? null;
        if (!key) return SW.refNotFound;
      } else if (t.tag !== 0x81) return SW.wrongData;
    }
    if (p2 === 0xaa) {
      if (alg !== ALG.sha256) return SW.wrongData;
      return OK; // hash template: SHA-256 is the only one here
    }
    if (!key) return SW.wrongData;
    if (p2 === 0xa4 && (key.use !== 'authenticate' || (alg !== null && alg !== ALG.rsaPkcs1))) return SW.wrongData;
    if (p2 === 0xb6 && (key.use !== 'sign' || (alg !== null && alg !== ALG.rsaSha256))) return SW.wrongData;
    this.se = { template: p2, alg, key };
    this.hashed = null;
    return OK;
  }

  private async rsaSign(key: RsaSdo, digestInfo: Buffer): Promise<Buffer | null> {
    if (this.onSign && !(await this.onSign())) return null;
    this.signCount += 1;
    return privateEncrypt({ key: key.key.privateKey, padding: constants.RSA_PKCS1_PADDING }, digestInfo);
  }

  private securityMet(key: RsaSdo): boolean {
    return !key.needsPin || this.verified;
  }

  private async internalAuthenticate(data: Buffer, le: number): Promise<Buffer> {
    const key = this.se?.template === 0xa4 ? this.se.key : null;
    if (!key) return SW.conditionsNotSatisfied;
    if (!this.securityMet(key)) return SW.securityNotSatisfied;
    const modulus = (key.key.privateKey.asymmetricKeyDetails?.modulusLength ?? 2048) / 8;
    if (data.length === 0 || data.length > modulus - 11) return SW.wrongData;
    const sig = await this.rsaSign(key, data);
    return sig ? this.respond(sig, le) : new Promise<Buffer>(() => {});
  }

  /** PSO HASH: `90 {intermediate SHA-256 state || bit count}` (or `90 00`) then `80 {last bytes}`. */
  private psoHash(data: Buffer): Buffer {
    const items = readAll(data);
    const partial = items?.find((t) => t.tag === 0x90);
    const last = items?.find((t) => t.tag === 0x80);
    if (!items || !partial || !last || last.value.length > 64) return SW.wrongData;
    if (partial.value.length === 0) {
      this.hashed = createHash('sha256').update(last.value).digest();
    } else {
      if (partial.value.length !== 40) return SW.wrongData;
      const state = partial.value.subarray(0, 32);
      const bitCount = partial.value.readBigUInt64BE(32);
      if (bitCount % 512n !== 0n) return SW.wrongData;
      this.hashed = sha256Resume(state, bitCount / 8n, last.value);
    }
    return OK;
  }

  private async computeSignature(le: number): Promise<Buffer> {
    const key = this.se?.template === 0xb6 ? this.se.key : null;
    if (!key || !this.hashed) return SW.conditionsNotSatisfied;
    if (!this.securityMet(key)) return SW.securityNotSatisfied;
    const prefix = Buffer.from('3031300d060960864801650304020105000420', 'hex');
    const sig = await this.rsaSign(key, Buffer.concat([prefix, this.hashed]));
    this.hashed = null;
    return sig ? this.respond(sig, le) : new Promise<Buffer>(() => {});
  }

  // --- APDU dispatch ---------------------------------------------------------------------------------------

  readonly handler: ApduHandler = async (apdu) => {
    if (apdu.length < 4) return SW.wrongLength;
    const [cla, ins, p1, p2] = apdu as unknown as [number, number, number, number];
    if ((cla & 0xec) !== 0x00) return SW.claNotSupported;
    let data: Buffer = Buffer.alloc(0);
    let le = 0;
    if (apdu.length === 5) {
      le = apdu[4]! || 256;
    } else if (apdu.length > 5) {
      const lc = apdu[4]!;
      if (lc === 0 || apdu.length < 5 + lc) return SW.wrongLength;
      data = apdu.subarray(5, 5 + lc);
      if (apdu.length > 5 + lc) le = apdu[5 + lc]! || 256;
    }
    if (ins === 0xc0) return this.getResponse(le || 256);
    this.pending = Buffer.alloc(0);
    if (cla & 0x10) {
      this.chain = Buffer.concat([this.chain, data]);
      return OK;
    }
    if (this.chain.length) {
      data = Buffer.concat([this.chain, data]);
      this.chain = Buffer.alloc(0);
    }
    switch (ins) {
      case 0xa4:
        return this.select(p1, p2, data);
      case 0xb0:
        return this.readBinary(p1, p2, le || 256);
      case 0xcb:
        return p1 === 0x3f && p2 === 0xff ? this.getData(data) : SW.refNotFound;
      case 0x20:
        return this.verify(p1, p2, data);
      case 0x22:
        return this.mse(p1, p2, data);
      case 0x88:
        return p1 === 0 && p2 === 0 ? this.internalAuthenticate(data, le || 256) : SW.wrongP1P2;
      case 0x2a:
        if (p1 === 0x90 && p2 === 0xa0) return this.psoHash(data);
        if (p1 === 0x9e && p2 === 0x9a) return this.computeSignature(le || 256);
        return SW.wrongP1P2;
      case 0x84:
        return p1 === 0 && p2 === 0 && le === 8 ? Buffer.concat([randomBytes(8), OK]) : SW.wrongLength;
      default:
        return SW.insNotSupported;
    }
  };

  /** Answers longer than Le go out in pieces with 61xx, fetched by GET RESPONSE. */
  private respond(body: Buffer, le: number): Buffer {
    this.pending = body;
    return this.getResponse(le);
  }

  private getResponse(le: number): Buffer {
    const part = this.pending.subarray(0, le);
    this.pending = this.pending.subarray(part.length);
    const left = this.pending.length;
    return Buffer.concat([part, left ? sw(0x61, left > 0xff ? 0x00 : left) : OK]);
  }
}
