// PKCS#11 access to the CPS card through the ANS Cryptolib CPS (or any PKCS#11 module in tests: SoftHSM,
// OpenSC). The PIN is passed to C_Login and dropped; it is never stored, logged or put in an error.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import pkcs11js from 'pkcs11js';
import type { Identity } from '../../../../shared/contract';
import { ContractError } from '../../../../shared/errors';
import type { AgentErrorCode } from '../../../../shared/errors';
import type { CardHandle, CardSignature, PinResult, PinStatus, SignatureAlgorithm } from '../types';
import { checkValidity, parseCpsCertificate } from './identity';
import type { CpsCertificateInfo } from './identity';
import type { CardPinStatus } from './retry-counter';
import { describesReader } from './slot-names';

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

/**
 * CPS4 support of a PKCS#11 module, from what it reports in C_GetInfo. Its libraryVersion is the module's
 * own version, not the package's (5.2.x): the Cryptolib's release notes (dops-cryptolib,
 * ANS_NP_ReleaseNote-Cryptolib_*) list libcps3_pkcs11_lux.so 3.00 in package 5.2.0, the first "compatible
 * CPS3/CPS4", and 3.01 in 5.2.1 and 5.2.2; libcps3_pkcs11_osx.dylib 3.1 in 5.2.1; cps3_pkcs11_w32/w64.dll
 * 3.3.0 in 5.2.1, 3.4.0 in 5.2.2 and 1.9.0 in 5.0.6. `supported` is true from the first documented
 * CPS4-capable module, false up to a documented older one, null where the notes say nothing (another
 * module, or a version between): the card is then tried, and what the module does is reported.
 */
export function cps4Support(info: {
  description: string;
  manufacturer: string;
  version: { major: number; minor: number };
}): {
  supported: boolean | null;
  packageVersion: string | null;
} {
  const cryptolib = /^(ANS|ASIP)/i.test(info.manufacturer) || /^CPS3 PKCS#11/i.test(info.description);
  const platform = /LINUX/i.test(info.description)
    ? 'linux'
    : /MACOSX/i.test(info.description)
      ? 'macos'
      : /\bWIN\b/i.test(info.description)
        ? 'windows'
        : null;
  if (!cryptolib || !platform) return { supported: null, packageVersion: null };
  const v = info.version.major * 100 + info.version.minor;
  const known: Record<typeof platform, { packages: Record<number, string>; firstCps4: number; lastWithout: number }> = {
    linux: { packages: { 300: '5.2.0', 301: '5.2.1 / 5.2.2' }, firstCps4: 300, lastWithout: -1 },
    macos: { packages: { 301: '5.2.1' }, firstCps4: 301, lastWithout: -1 },
    windows: { packages: { 109: '5.0.6', 303: '5.2.1', 304: '5.2.2' }, firstCps4: 303, lastWithout: 109 },
  };
  // Notes write minor versions as 01 or 1 alike (3.01 and 3.1 are the same module, C_GetInfo says 3.1).
  const k = known[platform];
  return {
    supported: v >= k.firstCps4 ? true : v <= k.lastWithout ? false : null,
    packageVersion: k.packages[v] ?? null,
  };
}

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
  /** C_GetInfo's libraryVersion: the module's version (Cryptolib 5.2.2: 3.1 on Linux, 3.4 on Windows). */
  version: { major: number; minor: number };
  /** See cps4Support: null when not established from the module's version (the card is tried). */
  supportsCps4: boolean | null;
  /** The Cryptolib package this module version ships in, per its release notes; null when not listed. */
  packageVersion: string | null;
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
  /**
   * The PIN's status as the card keeps it (VERIFY without data over PC/SC), preferred to the module's
   * token flags; null when the card or the reader gives none.
   */
  cardPinStatus?: () => Promise<CardPinStatus | null>;
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

export const PKCS11_FAILURES = {
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

/** What a PKCS#11 failure says of the card, by its CKR_ name: removed, PIN locked, PIN wrong, or another. */
type Pkcs11Failure = keyof typeof PKCS11_FAILURES | 'other';
const pkcs11Failure = (e: unknown): Pkcs11Failure =>
  (Object.keys(PKCS11_FAILURES) as (keyof typeof PKCS11_FAILURES)[]).find((k) => isErr(e, PKCS11_FAILURES[k])) ??
  'other';

/** The card → engine boundary: each PKCS#11 failure kind as the contract's code the user reads. */
const CARD_CODE: Record<Pkcs11Failure, AgentErrorCode> = {
  removed: 'card-removed',
  locked: 'card-blocked',
  wrong: 'pin-wrong',
  other: 'reader-error',
};

export const cardCodeOf = (e: unknown): AgentErrorCode => CARD_CODE[pkcs11Failure(e)];

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
    const base = {
      description: i.libraryDescription.trim(),
      manufacturer: i.manufacturerID.trim(),
      version: { major: i.libraryVersion.major, minor: i.libraryVersion.minor },
    };
    const cps4 = cps4Support(base);
    this.info = { path, ...base, supportsCps4: cps4.supported, packageVersion: cps4.packageVersion };
  }

  /** The module's slots; one it cannot describe right now (a card coming or going) is left out. */
  slots(): SlotInfo[] {
    const out: SlotInfo[] = [];
    for (const slot of this.p11.C_GetSlotList(false)) {
      let s: pkcs11js.SlotInfo;
      try {
        s = this.p11.C_GetSlotInfo(slot);
      } catch {
        continue;
      }
      const tokenPresent = (s.flags & CKF_TOKEN_PRESENT) !== 0;
      let tokenLabel: string | null = null;
      if (tokenPresent) {
        try {
          tokenLabel = this.p11.C_GetTokenInfo(slot).label.trim();
        } catch {
          tokenLabel = null;
        }
      }
      out.push({ slot, description: s.slotDescription.trimEnd(), tokenPresent, tokenLabel });
    }
    return out;
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
   * The slots with a token for a PC/SC reader: OpenSC-derived modules (the Cryptolib) name their slots after
   * the reader (slot-names.ts), and OpenSC gives a card one slot per PKCS#15 application. `tokenLabels` maps
   * a reader to a token label for modules without readers (SoftHSM in tests).
   */
  slotsForReader(reader: string, tokenLabels: Record<string, string> = {}): SlotInfo[] {
    const slots = this.slots().filter((s) => s.tokenPresent);
    const label = tokenLabels[reader];
    if (label) return slots.filter((s) => s.tokenLabel === label);
    return slots.filter((s) => describesReader(s.description, reader));
  }

  /** The first of `slots` whose token holds a certificate labelled `label`. */
  slotHolding(slots: SlotInfo[], label: string): SlotInfo | null {
    for (const s of slots) {
      let session: Buffer | null = null;
      try {
        session = this.p11.C_OpenSession(s.slot, pkcs11js.CKF_SERIAL_SESSION);
        this.p11.C_FindObjectsInit(session, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_CERTIFICATE },
          { type: pkcs11js.CKA_LABEL, value: label },
        ]);
        const found = this.p11.C_FindObjects(session);
        this.p11.C_FindObjectsFinal(session);
        if (found) return s;
      } catch {
        // A token that cannot be read is not the card's (or the card left: the caller sees it next).
      } finally {
        if (session)
          try {
            this.p11.C_CloseSession(session);
          } catch {
            // Gone with the card.
          }
      }
    }
    return null;
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
  /** The card's first answer, asked for when the handle is made (the backend starts it sooner still). */
  private cardStatusAhead: Promise<CardPinStatus | null> | null;
  /** What the card said last (its counter only moves with PIN attempts, which re-read it). */
  private lastCardStatus: CardPinStatus | null = null;

  constructor(
    private readonly p11: pkcs11js.PKCS11,
    private readonly slot: Buffer,
    private readonly opts: CardOptions,
  ) {
    this.reader = opts.reader;
    this.cardType = opts.cardType;
    this.cardStatusAhead = this.askCard();
  }

  private askCard(): Promise<CardPinStatus | null> {
    return this.opts.cardPinStatus ? this.opts.cardPinStatus().catch(() => null) : Promise.resolve(null);
  }

  private open(): Buffer {
    if (!this.session) {
      this.session = this.guard(() => this.p11.C_OpenSession(this.slot, pkcs11js.CKF_SERIAL_SESSION));
    }
    return this.session;
  }

  /** PKCS#11 calls: the card's own refusals (no key, an unusable certificate) pass, a module's failure by its kind. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof ContractError) throw e;
      const code = cardCodeOf(e);
      if (code === 'card-removed') {
        this.session = null;
        this.loggedIn = false;
      }
      throw new ContractError(code, errName(e).split(':')[0] || 'PKCS#11 error');
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
    return objectLabels(this.opts)[what];
  }

  get contactless(): boolean {
    return this.opts.keyKind === 'tech';
  }

  certificate(): { der: Buffer; info: CpsCertificateInfo } {
    if (this.cert) return this.cert;
    const h = this.find(pkcs11js.CKO_CERTIFICATE, this.label('cert'));
    if (!h)
      throw new ContractError(
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

  /**
   * The card's own counter when it answers (then the module is not asked: its C_GetTokenInfo costs the
   * Cryptolib and OpenSC several APDUs), else the module's flags (`extraFlags` added to them).
   */
  private async status(extraFlags = 0): Promise<PinStatus> {
    const ahead = this.cardStatusAhead;
    this.cardStatusAhead = null;
    const card = await (ahead ?? this.askCard());
    if (card) {
      this.lastCardStatus = card;
      return fromCard(card, this.opts.maxTries ?? 3);
    }
    return pinStatusFromFlags((await this.readFlags()) | extraFlags, this.opts.maxTries ?? 3);
  }

  async pinStatus(): Promise<PinStatus> {
    return this.status();
  }

  async verifyPin(pin: string): Promise<PinResult> {
    // Never present a PIN to a blocked card: what the card said last (its counter only moves with PIN
    // attempts, which re-read it), else the module's flags. A read still in flight is taken now: after
    // this attempt it would be stale.
    const ahead = this.cardStatusAhead;
    this.cardStatusAhead = null;
    this.lastCardStatus = (await ahead) ?? this.lastCardStatus;
    const blocked = this.lastCardStatus
      ? fromCard(this.lastCardStatus, this.opts.maxTries ?? 3).blocked
      : ((await this.readFlags().catch(() => 0)) & pkcs11js.CKF_USER_PIN_LOCKED) !== 0;
    if (blocked) return { ok: false, reason: 'blocked' };
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
      const kind = pkcs11Failure(e);
      if (kind === 'locked') return { ok: false, reason: 'blocked' };
      if (kind === 'removed') {
        this.session = null;
        return { ok: false, reason: 'removed' };
      }
      if (kind === 'wrong') {
        // A wrong PIN *is* COUNT_LOW by the PKCS#11 definition ("an incorrect PIN has been entered at
        // least once since the last successful authentication"), even where a module forgets to set it.
        const after = await this.status(pkcs11js.CKF_USER_PIN_COUNT_LOW).catch(() => null);
        if (after?.blocked) return { ok: false, reason: 'blocked' };
        return { ok: false, reason: 'wrong', triesLeft: after?.triesLeft ?? null };
      }
      throw new ContractError(cardCodeOf(e), errName(e).split(':')[0] || 'login failed');
    }
  }

  async sign(challenge: Buffer, algorithm?: SignatureAlgorithm): Promise<CardSignature> {
    // The technical key is the one usable without PIN (that is what makes it 1 factor).
    if (!this.loggedIn && !this.contactless) throw new ContractError('reader-error', 'card not logged in');
    const key = this.find(pkcs11js.CKO_PRIVATE_KEY, this.label('key'));
    if (!key)
      throw new ContractError(
        'card-unknown',
        this.contactless ? 'no CPS technical key (contactless)' : 'no CPS authentication key',
      );
    const s = this.open();
    if (algorithm === 'ECDSA-P256-SHA256') throw new ContractError('card-unknown', 'CPS keys are RSA');
    const pssAvailable = this.hasMechanism(pkcs11js.CKM_SHA256_RSA_PKCS_PSS);
    if (algorithm === 'RSA-PSS-SHA256' && !pssAvailable)
      throw new ContractError('card-unknown', 'this card does not offer RSA-PSS');
    const pss = (algorithm ?? this.signatureAlgorithm) === 'RSA-PSS-SHA256';
    // PKCS#1 v1.5: the DigestInfo is built here and signed with CKM_RSA_PKCS, the one mechanism CPS3
    // authentication keys sign with (the Cryptolib's cps3 path refuses CKM_SHA256_RSA_PKCS with a key that
    // is not non-repudiation, and OpenSC's iasecc driver has no hash-and-sign for it); same signature.
    const [mechanism, input]: [pkcs11js.Mechanism, Buffer] = pss
      ? [
          {
            mechanism: pkcs11js.CKM_SHA256_RSA_PKCS_PSS,
            parameter: {
              type: pkcs11js.CK_PARAMS_RSA_PSS,
              hashAlg: pkcs11js.CKM_SHA256,
              mgf: pkcs11js.CKG_MGF1_SHA256,
              saltLen: 32,
            } as pkcs11js.RsaPSS,
          },
          challenge,
        ]
      : this.hasMechanism(pkcs11js.CKM_RSA_PKCS)
        ? [{ mechanism: pkcs11js.CKM_RSA_PKCS }, sha256DigestInfo(challenge)]
        : [{ mechanism: pkcs11js.CKM_SHA256_RSA_PKCS }, challenge];
    const signature = this.guard(() => {
      this.p11.C_SignInit(s, mechanism, key);
      return Buffer.from(this.p11.C_Sign(s, input, Buffer.alloc(512)));
    });
    return { signature, algorithm: pss ? 'RSA-PSS-SHA256' : 'RSA-PKCS1-SHA256', certificate: this.certificate().der };
  }

  /** RSA-PSS where the card is asked to prefer it (CPS4) and its module offers it, else PKCS#1 v1.5. */
  get signatureAlgorithm(): SignatureAlgorithm {
    return this.opts.preferPss && this.hasMechanism(pkcs11js.CKM_SHA256_RSA_PKCS_PSS)
      ? 'RSA-PSS-SHA256'
      : 'RSA-PKCS1-SHA256';
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

/** The labels of the key and certificate a card handle uses. */
export function objectLabels(opts: Pick<CardOptions, 'labels' | 'keyKind'>): { key: string; cert: string } {
  const l = { ...CPS_OBJECTS, ...(opts.labels ?? {}) };
  return opts.keyKind === 'tech' ? { key: l.techKey, cert: l.techCert } : { key: l.authKey, cert: l.authCert };
}

/** DER DigestInfo for SHA-256 (RFC 8017 §9.2) over `data`. */
export function sha256DigestInfo(data: Buffer): Buffer {
  const prefix = Buffer.from('3031300d060960864801650304020105000420', 'hex');
  return Buffer.concat([prefix, createHash('sha256').update(data).digest()]);
}

function fromCard(card: CardPinStatus, maxTries: number): PinStatus {
  if (card === 'verified') return { triesLeft: maxTries, blocked: false };
  return { triesLeft: card.triesLeft, blocked: card.triesLeft === 0 };
}

/** Tries left from the token flags: FINAL_TRY = 1, COUNT_LOW = fewer than a fresh card, LOCKED = 0. */
export function pinStatusFromFlags(flags: number, maxTries: number): PinStatus {
  if (flags & pkcs11js.CKF_USER_PIN_LOCKED) return { triesLeft: 0, blocked: true };
  if (flags & pkcs11js.CKF_USER_PIN_FINAL_TRY) return { triesLeft: 1, blocked: false };
  if (flags & pkcs11js.CKF_USER_PIN_COUNT_LOW) return { triesLeft: Math.max(1, maxTries - 1), blocked: false };
  return { triesLeft: maxTries, blocked: false };
}
