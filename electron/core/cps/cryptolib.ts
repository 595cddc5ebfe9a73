// PKCS#11 access to the CPS card through the ANS Cryptolib CPS (or any PKCS#11 module in tests: SoftHSM,
// OpenSC). The PIN is passed to C_Login and dropped; it is never stored, logged or put in an error.
import fs from 'node:fs';
import pkcs11js from 'pkcs11js';
import type { Identity } from '../../../shared/contract';
import type { CardHandle, CardSignature, PinResult, PinStatus, SignatureAlgorithm } from '../readers/types';
import { CertificateError, checkValidity, parseCpsCertificate } from './identity';
import type { CpsCertificateInfo } from './identity';

/** PKCS#11 slot flag (absent from pkcs11js's typings). */
const CKF_TOKEN_PRESENT = 0x1;

/** ANS install locations (shared/domain.md §2); configuration and policy may override. */
export const CRYPTOLIB_PATHS: Record<string, string[]> = {
  win32: [
    'C:\\Windows\\System32\\cps3_pkcs11_w64.dll',
    'C:\\Program Files\\santesocial\\CPS\\cps3_pkcs11_w64.dll',
    'C:\\Windows\\SysWOW64\\cps3_pkcs11_w32.dll',
  ],
  linux: [
    '/opt/santesocial/CPS/lib/libcps3_pkcs11_lux.so',
    '/usr/lib64/libcps3_pkcs11_lux.so',
    '/usr/lib/libcps3_pkcs11_lux.so',
  ],
  darwin: ['/usr/local/lib/libcps3_pkcs11_osx.dylib'],
};

/** CPS4 needs Cryptolib 5.2 or newer. */
export const CPS4_MIN_VERSION = { major: 5, minor: 2 };

export const CPS_OBJECTS = {
  authKey: 'CPS_PRIV_AUT',
  authCert: "Certificat d'Authentification CPS",
  techKey: 'CPS_PRIV_TECH_AUT',
  techCert: 'Certificat Technique CPS',
} as const;

export type CryptolibProblem =
  { code: 'missing'; searched: string[] } | { code: 'load-failed'; path: string; message: string };

export function findCryptolib(override?: string, platform = process.platform): { path: string } | CryptolibProblem {
  const candidates = override ? [override] : (CRYPTOLIB_PATHS[platform] ?? []);
  const found = candidates.find((p) => fs.existsSync(p));
  return found ? { path: found } : { code: 'missing', searched: candidates };
}

export interface ModuleInfo {
  path: string;
  description: string;
  manufacturer: string;
  version: { major: number; minor: number };
  /** False when the module is too old for CPS4 (Cryptolib < 5.2). Only meaningful for the Cryptolib. */
  supportsCps4: boolean;
}

export interface SlotInfo {
  slot: Buffer;
  description: string;
  tokenPresent: boolean;
  tokenLabel: string | null;
}

export interface CardOptions {
  reader: string;
  cardType: string;
  /** Tries a fresh card has (CPS: 3). */
  maxTries?: number;
  now?: () => number;
  /** Prefer RSA-PSS when the module offers it (CPS4 does). */
  preferPss?: boolean;
  /** Object labels; the Cryptolib's by default (other modules, e.g. OpenSC's PIV emulation in tests, differ). */
  labels?: { authKey: string; authCert: string; techKey?: string; techCert?: string };
  /**
   * 'tech': the card seen contactless, whose technical key (CPS_PRIV_TECH_AUT) signs without PIN — a
   * 1-factor proof for re-opening a roaming session. 'auth' (default): the PIN-protected key.
   */
  keyKind?: 'auth' | 'tech';
}

const ERR = {
  removed: [
    'CKR_DEVICE_REMOVED',
    'CKR_TOKEN_NOT_PRESENT',
    'CKR_SESSION_HANDLE_INVALID',
    'CKR_SESSION_CLOSED',
    'CKR_DEVICE_ERROR',
    'CKR_TOKEN_NOT_RECOGNIZED',
  ],
  locked: ['CKR_PIN_LOCKED'],
  wrong: ['CKR_PIN_INCORRECT', 'CKR_PIN_INVALID', 'CKR_PIN_LEN_RANGE'],
};

const errName = (e: unknown) => (e as Error)?.message ?? '';
const isErr = (e: unknown, names: string[]) => names.some((n) => errName(e).startsWith(n));

/** A card error as the session engine understands it (its `code` is an AgentErrorCode). */
export class CardError extends Error {
  constructor(
    readonly code: 'card-removed' | 'card-unknown' | 'card-expired' | 'card-blocked' | 'reader-error',
    message: string,
  ) {
    super(message);
  }
}

export class Pkcs11Module {
  private readonly p11 = new pkcs11js.PKCS11();
  readonly info: ModuleInfo;

  constructor(readonly path: string) {
    this.p11.load(path);
    try {
      this.p11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (e) {
      if (!isErr(e, ['CKR_CRYPTOKI_ALREADY_INITIALIZED'])) throw e;
    }
    const i = this.p11.C_GetInfo();
    const version = { major: i.libraryVersion.major, minor: i.libraryVersion.minor };
    this.info = {
      path,
      description: i.libraryDescription.trim(),
      manufacturer: i.manufacturerID.trim(),
      version,
      supportsCps4:
        version.major > CPS4_MIN_VERSION.major ||
        (version.major === CPS4_MIN_VERSION.major && version.minor >= CPS4_MIN_VERSION.minor),
    };
  }

  slots(): SlotInfo[] {
    return this.p11.C_GetSlotList(false).map((slot) => {
      const s = this.p11.C_GetSlotInfo(slot);
      const tokenPresent = (s.flags & CKF_TOKEN_PRESENT) !== 0;
      let tokenLabel: string | null = null;
      if (tokenPresent) {
        try {
          tokenLabel = this.p11.C_GetTokenInfo(slot).label.trim();
        } catch {
          tokenLabel = null;
        }
      }
      return { slot, description: s.slotDescription.trim(), tokenPresent, tokenLabel };
    });
  }

  /** A slot scan: OpenSC-derived modules detect card removals and insertions during it. */
  rescan(): void {
    try {
      this.p11.C_GetSlotList(false);
    } catch {
      // Diagnostics will show the module error on the next real call.
    }
  }

  /**
   * The slot of a PC/SC reader: OpenSC-derived modules (the Cryptolib) name their slots after the reader.
   * `tokenLabels` maps a reader to a token label for modules without readers (SoftHSM in tests).
   */
  slotForReader(reader: string, tokenLabels: Record<string, string> = {}): SlotInfo | null {
    const slots = this.slots().filter((s) => s.tokenPresent);
    const label = tokenLabels[reader];
    if (label) return slots.find((s) => s.tokenLabel === label) ?? null;
    return slots.find((s) => s.description === reader) ?? slots.find((s) => s.description.startsWith(reader)) ?? null;
  }

  openCard(slot: SlotInfo, opts: CardOptions): Pkcs11Card {
    return new Pkcs11Card(this.p11, slot.slot, opts);
  }

  close(): void {
    try {
      this.p11.C_Finalize();
    } finally {
      this.p11.close();
    }
  }
}

/** One card in one reader, as a CardHandle for the session engine. */
export class Pkcs11Card implements CardHandle {
  readonly reader: string;
  readonly cardType: string;
  private session: Buffer | null = null;
  private loggedIn = false;
  private cert: { der: Buffer; info: CpsCertificateInfo } | null = null;

  constructor(
    private readonly p11: pkcs11js.PKCS11,
    private readonly slot: Buffer,
    private readonly opts: CardOptions,
  ) {
    this.reader = opts.reader;
    this.cardType = opts.cardType;
  }

  private open(): Buffer {
    if (!this.session) {
      this.session = this.guard(() => this.p11.C_OpenSession(this.slot, pkcs11js.CKF_SERIAL_SESSION));
    }
    return this.session;
  }

  /** Map PKCS#11 failures of a removed card to `card-removed`; anything else to a reader error. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (isErr(e, ERR.removed)) {
        this.session = null;
        this.loggedIn = false;
        throw new CardError('card-removed', 'card removed');
      }
      if (e instanceof CardError || e instanceof CertificateError) throw e;
      throw new CardError('reader-error', errName(e).split(':')[0] || 'PKCS#11 error');
    }
  }

  private find(cls: number, label: string): Buffer | null {
    const s = this.open();
    return this.guard(() => {
      this.p11.C_FindObjectsInit(s, [
        { type: pkcs11js.CKA_CLASS, value: cls },
        { type: pkcs11js.CKA_LABEL, value: label },
      ]);
      try {
        return this.p11.C_FindObjects(s) ?? null;
      } finally {
        this.p11.C_FindObjectsFinal(s);
      }
    });
  }

  private label(what: 'key' | 'cert'): string {
    const l = { ...CPS_OBJECTS, ...(this.opts.labels ?? {}) };
    if (this.opts.keyKind === 'tech') return what === 'key' ? l.techKey : l.techCert;
    return what === 'key' ? l.authKey : l.authCert;
  }

  get contactless(): boolean {
    return this.opts.keyKind === 'tech';
  }

  certificate(): { der: Buffer; info: CpsCertificateInfo } {
    if (this.cert) return this.cert;
    const h = this.find(pkcs11js.CKO_CERTIFICATE, this.label('cert'));
    if (!h)
      throw new CardError(
        'card-unknown',
        this.contactless ? 'no CPS technical certificate on the card' : 'no CPS authentication certificate on the card',
      );
    const [v] = this.guard(() => this.p11.C_GetAttributeValue(this.open(), h, [{ type: pkcs11js.CKA_VALUE }]));
    const der = Buffer.from(v!.value as Buffer);
    this.cert = { der, info: parseCpsCertificate(der) };
    return this.cert;
  }

  async readIdentity(): Promise<Identity> {
    const { info } = this.certificate();
    checkValidity(info, (this.opts.now ?? Date.now)());
    return info.identity;
  }

  async readCertificate(): Promise<Buffer | null> {
    return this.certificate().der;
  }

  private async readFlags(): Promise<number> {
    return this.guard(() => this.p11.C_GetTokenInfo(this.slot).flags);
  }

  async pinStatus(): Promise<PinStatus> {
    return pinStatusFromFlags(await this.readFlags(), this.opts.maxTries ?? 3);
  }

  async verifyPin(pin: string): Promise<PinResult> {
    const before = await this.pinStatus().catch(() => null);
    if (before?.blocked) return { ok: false, reason: 'blocked' };
    const s = this.open();
    try {
      this.p11.C_Login(s, pkcs11js.CKU_USER, pin);
      this.loggedIn = true;
      return { ok: true };
    } catch (e) {
      if (isErr(e, ['CKR_USER_ALREADY_LOGGED_IN'])) {
        this.loggedIn = true;
        return { ok: true };
      }
      if (isErr(e, ERR.locked)) return { ok: false, reason: 'blocked' };
      if (isErr(e, ERR.removed)) {
        this.session = null;
        return { ok: false, reason: 'removed' };
      }
      if (isErr(e, ERR.wrong)) {
        // A wrong PIN *is* COUNT_LOW by the PKCS#11 definition ("an incorrect PIN has been entered at
        // least once since the last successful authentication"), even where a module forgets to set it.
        const after = await this.readFlags()
          .then((f) => pinStatusFromFlags(f | pkcs11js.CKF_USER_PIN_COUNT_LOW, this.opts.maxTries ?? 3))
          .catch(() => null);
        if (after?.blocked) return { ok: false, reason: 'blocked' };
        return { ok: false, reason: 'wrong', triesLeft: after?.triesLeft ?? null };
      }
      throw new CardError('reader-error', errName(e).split(':')[0] || 'login failed');
    }
  }

  async sign(challenge: Buffer, algorithm?: SignatureAlgorithm): Promise<CardSignature> {
    // The technical key is the one usable without PIN (that is what makes it 1 factor).
    if (!this.loggedIn && !this.contactless) throw new CardError('reader-error', 'card not logged in');
    const key = this.find(pkcs11js.CKO_PRIVATE_KEY, this.label('key'));
    if (!key)
      throw new CardError(
        'card-unknown',
        this.contactless ? 'no CPS technical key (contactless)' : 'no CPS authentication key',
      );
    const s = this.open();
    if (algorithm === 'ECDSA-P256-SHA256') throw new CardError('card-unknown', 'CPS keys are RSA');
    const pssAvailable = this.hasMechanism(pkcs11js.CKM_SHA256_RSA_PKCS_PSS);
    if (algorithm === 'RSA-PSS-SHA256' && !pssAvailable)
      throw new CardError('card-unknown', 'this card does not offer RSA-PSS');
    const pss = algorithm ? algorithm === 'RSA-PSS-SHA256' : this.opts.preferPss && pssAvailable;
    const mechanism: pkcs11js.Mechanism = pss
      ? {
          mechanism: pkcs11js.CKM_SHA256_RSA_PKCS_PSS,
          parameter: {
            type: pkcs11js.CK_PARAMS_RSA_PSS,
            hashAlg: pkcs11js.CKM_SHA256,
            mgf: pkcs11js.CKG_MGF1_SHA256,
            saltLen: 32,
          } as pkcs11js.RsaPSS,
        }
      : { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS };
    const signature = this.guard(() => {
      this.p11.C_SignInit(s, mechanism, key);
      return Buffer.from(this.p11.C_Sign(s, challenge, Buffer.alloc(512)));
    });
    return { signature, algorithm: pss ? 'RSA-PSS-SHA256' : 'RSA-PKCS1-SHA256', certificate: this.certificate().der };
  }

  private hasMechanism(m: number): boolean {
    try {
      return this.p11.C_GetMechanismList(this.slot).includes(m);
    } catch {
      return false;
    }
  }

  async release(): Promise<void> {
    const s = this.session;
    this.session = null;
    if (!s) return;
    try {
      if (this.loggedIn) this.p11.C_Logout(s);
    } catch {
      // The card may be gone already; the session dies with it.
    }
    this.loggedIn = false;
    try {
      this.p11.C_CloseSession(s);
    } catch {
      // Same.
    }
  }
}

/** Tries left from the token flags: FINAL_TRY = 1, COUNT_LOW = fewer than a fresh card, LOCKED = 0. */
export function pinStatusFromFlags(flags: number, maxTries: number): PinStatus {
  if (flags & pkcs11js.CKF_USER_PIN_LOCKED) return { triesLeft: 0, blocked: true };
  if (flags & pkcs11js.CKF_USER_PIN_FINAL_TRY) return { triesLeft: 1, blocked: false };
  if (flags & pkcs11js.CKF_USER_PIN_COUNT_LOW) return { triesLeft: Math.max(1, maxTries - 1), blocked: false };
  return { triesLeft: maxTries, blocked: false };
}
