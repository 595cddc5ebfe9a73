// Simulated readers for `npm start` and demos: CPS cards with their own PIN and retry counter (3 tries,
// blocked at 0, reset by a right PIN, as a real card) and badges, driven from the UI demo panel or the CLI.
// The badges are emulated DESFire cards read through the same path as on a PC/SC reader: their keys are
// diversified from the demo master, which the demo session server holds (relay), or this process for the
// local demo. A demo tap proves the card as a real one does, never on the agent's word.
import { randomBytes, sign as cryptoSign } from 'node:crypto';
import type { DemoInventory, ReaderInfo } from '../../../shared/contract';
import { ContractError } from '../../../shared/errors';
import type {
  CardHandle,
  CardSignature,
  PinResult,
  PinStatus,
  ReaderBackend,
  SignatureAlgorithm,
  ReaderEvent,
} from '../devices/types';
import { readBadge } from '../devices/badge/desfire/credential';
import { diversifyAes128 } from '../devices/badge/desfire/crypto';
import { diversificationInput, LocalKeyCustody } from '../devices/badge/desfire/custody';
import type { KeyCustody } from '../devices/badge/desfire/custody';
import { aidBytes } from '../devices/badge/desfire/protocol';
import {
  DEMO_BADGE_MASTER,
  DEMO_BADGE_PROFILE,
  DEMO_BADGES,
  DEMO_CARDS,
  DEMO_PIN,
  DEMO_READERS,
  demoPerson,
} from './data';
import type { DemoBadgeSpec, DemoCardSpec } from './data';
import { DesfireEmulator } from './desfire-card';
import type { DemoCardCredential } from './demo-pki';
import { DemoPki } from './demo-pki';

const MAX_TRIES = 3;

class DemoCard {
  triesLeft = MAX_TRIES;
  private cred: DemoCardCredential | null = null;

  constructor(
    readonly spec: DemoCardSpec,
    private readonly pki: DemoPki,
  ) {}

  get blocked(): boolean {
    return this.triesLeft === 0;
  }

  verify(pin: string): PinResult {
    if (this.blocked) return { ok: false, reason: 'blocked' };
    if (pin === DEMO_PIN) {
      this.triesLeft = MAX_TRIES;
      return { ok: true };
    }
    this.triesLeft -= 1;
    return this.blocked ? { ok: false, reason: 'blocked' } : { ok: false, reason: 'wrong', triesLeft: this.triesLeft };
  }

  /** Key and certificate, made on first use: the demo proves possession with a real signature. */
  credential(): DemoCardCredential {
    const p = demoPerson(this.spec.idNat)!.identity;
    this.cred ??= this.pki.issue(p);
    return this.cred;
  }
}

/** A handle valid while the card stays in its reader, like a PKCS#11 session. */
class DemoCardHandle implements CardHandle {
  private loggedIn = false;
  present = true;

  constructor(
    readonly reader: string,
    private readonly card: DemoCard,
  ) {}

  get cardType(): string {
    return this.card.spec.cardType;
  }

  async readIdentity() {
    this.assertPresent();
    const person = demoPerson(this.card.spec.idNat);
    if (!person) throw new Error('demo card without a person');
    return { ...person.identity };
  }

  async readCertificate(): Promise<Buffer | null> {
    this.assertPresent();
    return this.card.credential().certificate.raw;
  }

  async pinStatus(): Promise<PinStatus> {
    this.assertPresent();
    return { triesLeft: this.card.triesLeft, blocked: this.card.blocked };
  }

  async verifyPin(pin: string): Promise<PinResult> {
    if (!this.present) return { ok: false, reason: 'removed' };
    const r = this.card.verify(pin);
    this.loggedIn = r.ok;
    return r;
  }

  readonly signatureAlgorithm: SignatureAlgorithm = 'ECDSA-P256-SHA256';

  async sign(challenge: Buffer, algorithm?: SignatureAlgorithm): Promise<CardSignature> {
    this.assertPresent();
    if (algorithm && algorithm !== 'ECDSA-P256-SHA256')
      throw new ContractError('card-unknown', `demo card signs with ECDSA P-256 only, not ${algorithm}`);
    if (!this.loggedIn) throw new ContractError('reader-error', 'card not logged in');
    const { privateKey, certificate } = this.card.credential();
    return {
      // r||s (IEEE P1363), the form a JWS ES256 signature takes.
      signature: cryptoSign('sha256', challenge, { key: privateKey, dsaEncoding: 'ieee-p1363' }),
      algorithm: 'ECDSA-P256-SHA256',
      certificate: certificate.raw,
      publicKey: certificate.publicKey.export({ type: 'spki', format: 'der' }),
    };
  }

  async release(): Promise<void> {
    this.loggedIn = false;
  }

  private assertPresent() {
    if (!this.present) throw new ContractError('card-removed', 'card removed');
  }
}

/** A demo badge as the encoding tool leaves it: key 1 diversified for its UID, its number in file 1. */
function encodedDemoBadge(spec: DemoBadgeSpec): DesfireEmulator {
  const uid = Buffer.from(spec.uid, 'hex');
  const emu = new DesfireEmulator({ uid });
  if (spec.number === null) return emu;
  const aid = aidBytes(DEMO_BADGE_PROFILE.aid);
  const data = Buffer.alloc(DEMO_BADGE_PROFILE.length);
  data.write(spec.number, 'ascii');
  const key = diversifyAes128(DEMO_BADGE_MASTER, diversificationInput(uid, aid, DEMO_BADGE_PROFILE.systemId));
  emu.install(aid, { keys: [randomBytes(16), key], files: { 1: { mode: 'full', read: 1, data } } });
  return emu;
}

export interface DemoReadersOptions {
  /** AllowUidOnlyBadges: a bare chip (the UID-only copy) is sent as its UID, as a PC/SC reader would. */
  allowUidOnly?: boolean;
}

export class DemoReaders implements ReaderBackend {
  readonly name = 'demo';
  private readonly badges = new Map(DEMO_BADGES.map((b) => [b.id, encodedDemoBadge(b)]));
  /**
   * Who holds the badge keys: this process by default (local demo), the session server's relay once the
   * agent has one (a demo session server holds the demo master).
   */
  badgeCustody: KeyCustody = new LocalKeyCustody((aid, keyNo) =>
    aid.equals(aidBytes(DEMO_BADGE_PROFILE.aid)) && keyNo === DEMO_BADGE_PROFILE.keyNo ? DEMO_BADGE_MASTER : null,
  );

  constructor(private readonly opts: DemoReadersOptions = {}) {}

  private listener: (e: ReaderEvent) => void = () => {};
  /** The demo CA: the embedded demo session server trusts it (and nothing else trusts it). */
  readonly pki = new DemoPki();
  private cards = new Map(DEMO_CARDS.map((s) => [s.id, new DemoCard(s, this.pki)]));
  /** reader name → inserted card handle */
  private slots = new Map<string, { cardId: string; handle: DemoCardHandle }>();
  /** Public keys of demo cards, for the demo authenticator to check signatures against. */
  readonly publicKeys = new Map<string, Buffer>();

  async start(listener: (e: ReaderEvent) => void): Promise<void> {
    this.listener = listener;
    listener({ type: 'readers', readers: this.readers() });
  }

  async stop(): Promise<void> {
    this.listener = () => {};
  }

  readers(): ReaderInfo[] {
    return [
      {
        name: DEMO_READERS.contact,
        transport: 'demo',
        status: 'ok',
        cardPresent: this.slots.has(DEMO_READERS.contact),
        cardType:
          this.slots.get(DEMO_READERS.contact) &&
          this.cards.get(this.slots.get(DEMO_READERS.contact)!.cardId)?.spec.cardType,
      },
      { name: DEMO_READERS.contactless, transport: 'demo', status: 'ok', cardPresent: false },
    ];
  }

  inventory(): DemoInventory {
    const insertedIds = new Set([...this.slots.values()].map((s) => s.cardId));
    return {
      cards: [...this.cards.values()].map((c) => ({
        id: c.spec.id,
        label: c.spec.label,
        identity: demoPerson(c.spec.idNat)!.identity,
        cardType: c.spec.cardType,
        triesLeft: c.triesLeft,
        blocked: c.blocked,
        inserted: insertedIds.has(c.spec.id),
      })),
      badges: DEMO_BADGES.map((b) => ({ id: b.id, label: b.label, proof: b.proof, owner: b.owner })),
      readers: this.readers().map((r) => r.name),
    };
  }

  insertCard(cardId: string, reader: string = DEMO_READERS.contact): void {
    const card = this.cards.get(cardId);
    if (!card) throw new ContractError('invalid-command', `unknown demo card ${cardId}`);
    this.checkReader(reader);
    if (this.slots.has(reader)) this.removeCard(reader);
    const handle = new DemoCardHandle(reader, card);
    this.publicKeys.set(
      card.spec.idNat,
      card.credential().certificate.publicKey.export({ type: 'spki', format: 'der' }),
    );
    this.slots.set(reader, { cardId, handle });
    this.listener({ type: 'readers', readers: this.readers() });
    this.listener({ type: 'card-inserted', card: handle });
  }

  removeCard(reader: string = DEMO_READERS.contact): void {
    const slot = this.slots.get(reader);
    if (!slot) return;
    slot.handle.present = false;
    this.slots.delete(reader);
    this.listener({ type: 'readers', readers: this.readers() });
    this.listener({ type: 'card-removed', reader });
  }

  /** Resolves once the tap's outcome (the badge, or why not) went to the listener. */
  tapBadge(badgeId: string, reader: string = DEMO_READERS.contactless): Promise<void> {
    const emu = this.badges.get(badgeId);
    if (!emu) throw new ContractError('invalid-command', `unknown demo badge ${badgeId}`);
    this.checkReader(reader);
    return this.readBadge(emu, reader);
  }

  /** The tap as a PC/SC reader makes it: a new field, then the DESFire exchange with the emulated card. */
  private async readBadge(emu: DesfireEmulator, reader: string): Promise<void> {
    emu.powerOn();
    const out = await readBadge({ transmit: async (apdu) => emu.process(apdu) }, reader, 'DESFire EV3 (démo)', {
      profiles: () => [DEMO_BADGE_PROFILE],
      custody: this.badgeCustody,
      allowUidOnly: () => this.opts.allowUidOnly ?? false,
    });
    this.listener(
      out.ok
        ? { type: 'badge-tapped', badge: out.badge }
        : { type: 'badge-refused', reader, code: out.code, message: out.message },
    );
  }

  reset(): void {
    for (const reader of [...this.slots.keys()]) this.removeCard(reader);
    for (const c of this.cards.values()) c.triesLeft = MAX_TRIES;
  }

  private checkReader(reader: string) {
    if (!Object.values(DEMO_READERS).includes(reader as never)) {
      throw new ContractError('invalid-command', `unknown demo reader ${reader}`);
    }
  }
}
