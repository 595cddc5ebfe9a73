// The PC/SC entry point: every card on a PC/SC reader comes in here. pcsclite reports readers and cards
// (the monitor), the ATR tells a CPS from a DESFire badge, and the card is handed off: a CPS to the
// Cryptolib (PKCS#11) for identity, PIN and proof, a badge to the badge reading over one SHARED
// connection. Unknown cards are reported so the user hears "carte non reconnue". The CPS and badge code
// below never import this file: what they share with it is in types.ts.
import { EventEmitter } from 'node:events';
import type { CardReader, PCSCLite } from '../../../native/pcsclite';
import type { ReaderInfo, ReaderStatus } from '../../../shared/contract';
import type { ApduTransport, CardClass, CardHandle, ReaderBackend, ReaderEvent } from './types';
import { objectLabels } from './cps/cryptolib';
import type { CardOptions, Pkcs11Module, SlotInfo } from './cps/cryptolib';
import { HOLDER_PIN_REFERENCE, readPinStatus } from './cps/retry-counter';
import type { CardPinStatus } from './cps/retry-counter';
import { lookAlike } from './cps/slot-names';
import { readBadge } from './badge/desfire/credential';
import type { BadgeOutcome, BadgeReading } from './badge/desfire/credential';
import { DesfireError } from './badge/desfire/errors';

// --- Readers and cards (the monitor) ---
// What real machines do, and how we survive it:
// - any SCardGetStatusChange error stops pcsclite's monitoring for good → drop the context, make a new one;
// - pcscd restarting (or Windows stopping the smart-card service when the last reader is unplugged)
//   ends every reader and no new one comes on the old context → same: a new context, with backoff;
// - a reader reporting "unavailable" → reader status `unavailable`, card considered absent.
// No polling while readers are present: pcsclite blocks in SCardGetStatusChange. With no reader at all,
// a new context is tried every few seconds (unref'd timer), which is what brings readers back.

export interface PcscReaderState {
  name: string;
  status: ReaderStatus;
  atr: Buffer | null;
}

export interface MonitorEvents {
  readers: [PcscReaderState[]];
  'card-present': [{ reader: string; atr: Buffer }];
  'card-absent': [{ reader: string }];
  'context-lost': [{ message: string }];
}

export interface PcscMonitorOptions {
  /** Creates a new PC/SC context (pcsclite instance). */
  createContext: () => PCSCLite;
  /** Delay before trying a new context after a loss, doubled up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Readers this agent uses (all by default); others are left alone (another agent's, in tests). */
  readerFilter?: (name: string) => boolean;
}

const SCARD_STATE_UNAVAILABLE = 0x8;

export class PcscMonitor extends EventEmitter<MonitorEvents> {
  private ctx: PCSCLite | null = null;
  private readers = new Map<string, { reader: CardReader; state: PcscReaderState }>();
  private retry: NodeJS.Timeout | null = null;
  private delay: number;
  private stopped = false;

  constructor(private readonly opts: PcscMonitorOptions) {
    super();
    this.delay = opts.retryMs ?? 500;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  list(): PcscReaderState[] {
    return [...this.readers.values()].map((r) => ({ ...r.state }));
  }

  reader(name: string): CardReader | undefined {
    return this.readers.get(name)?.reader;
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.dropContext();
  }

  private open(): void {
    if (this.stopped) return;
    let ctx: PCSCLite;
    try {
      ctx = this.opts.createContext();
    } catch (e) {
      this.lost(`cannot create a PC/SC context: ${(e as Error).message}`);
      return;
    }
    this.ctx = ctx;
    ctx.on('reader', (reader) => this.addReader(ctx, reader));
    ctx.on('error', (err) => {
      if (this.ctx === ctx) this.lost(err.message);
    });
    // A context that never sees a reader may be on a dead pcscd: check again later.
    this.scheduleRetryIfEmpty();
  }

  private addReader(ctx: PCSCLite, reader: CardReader): void {
    if (this.ctx !== ctx || (this.opts.readerFilter && !this.opts.readerFilter(reader.name))) {
      // A reader of a dropped context, or another agent's: not watched here, and its late errors (pcscd
      // going away) must not be unhandled.
      reader.on('error', () => {});
      reader.close();
      return;
    }
    const state: PcscReaderState = { name: reader.name, status: 'ok', atr: null };
    // pcsc-lite counts card insertions/removals in the upper 16 bits of the event state: a badge taken
    // away and the next one (same ATR: every DESFire has it) put down between two status reads is
    // still two cards.
    let events: number | null = null;
    this.readers.set(reader.name, { reader, state });
    this.delay = this.opts.retryMs ?? 500;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.emit('readers', this.list());

    reader.on('error', () => {
      // Reader-level errors precede its end; the card in it can no longer be trusted to be there.
      if (state.atr) this.absent(state);
    });
    reader.on('end', () => {
      if (this.ctx !== ctx) return;
      if (state.atr) this.absent(state);
      this.readers.delete(reader.name);
      this.emit('readers', this.list());
      this.scheduleRetryIfEmpty();
    });
    reader.on('status', (s) => {
      if (this.ctx !== ctx) return;
      const unavailable = (s.state & SCARD_STATE_UNAVAILABLE) !== 0;
      const present = (s.state & reader.SCARD_STATE_PRESENT) !== 0 && !unavailable && !!s.atr && s.atr.length > 0;
      const status: ReaderStatus = unavailable ? 'unavailable' : 'ok';
      if (status !== state.status) {
        state.status = status;
        this.emit('readers', this.list());
      }
      const counter = s.state >>> 16;
      const replaced = events !== null && counter !== events && state.atr !== null;
      events = counter;
      if (present && (!state.atr || !state.atr.equals(s.atr!) || replaced)) {
        if (state.atr) this.absent(state);
        state.atr = Buffer.from(s.atr!);
        this.emit('card-present', { reader: reader.name, atr: state.atr });
      } else if (!present && state.atr) {
        this.absent(state);
      }
    });
  }

  private absent(state: PcscReaderState) {
    state.atr = null;
    this.emit('card-absent', { reader: state.name });
  }

  private lost(message: string): void {
    this.emit('context-lost', { message });
    this.dropContext();
    this.emit('readers', []);
    this.scheduleRetry();
  }

  private dropContext(): void {
    const ctx = this.ctx;
    this.ctx = null;
    for (const { reader, state } of this.readers.values()) {
      if (state.atr) this.absent(state);
      try {
        reader.close();
      } catch {
        // Already gone with pcscd.
      }
    }
    this.readers.clear();
    if (ctx) {
      try {
        ctx.close();
      } catch {
        // A dead context cannot be closed twice; nothing to release.
      }
    }
  }

  private scheduleRetryIfEmpty(): void {
    if (this.readers.size === 0) this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      if (this.readers.size > 0) return;
      this.dropContext();
      this.open();
    }, this.delay);
    this.retry.unref();
    this.delay = Math.min(this.delay * 2, this.opts.maxRetryMs ?? 5000);
  }
}

// --- The card's class from its ATR ---
// ANS Cryptolib card list (shared/domain.md §2); PC/SC part 3 for contactless cards.

const hex = (s: string) => s.replace(/\s+/g, '').toUpperCase();

const KNOWN: Record<string, CardClass> = {
  [hex('3B AC 00 40 2A 00 12 25 00 64 80 00 03 10 00 90 00')]: 'cps3-contact',
  [hex('3B 8F 80 01 00 31 B8 64 04 B0 EC C1 73 94 01 80 82 90 00 0E')]: 'cps3-contactless',
  [hex('3B 9B 18 80 01 00 12 25 00 64 80 04 01 00 00 90 44')]: 'cps4',
  [hex('3B 9B 18 80 01 00 12 25 00 64 80 00 04 01 00 90 44')]: 'cps4',
  [hex('3B DC 18 FF 00 00 12 25 00 64 80 00 04 01 00 90 00')]: 'cps4',
};

/** Bytes common to the CPS family's historical bytes. */
const CPS_FAMILY = hex('00 12 25 00 64 80');

export function classifyAtr(atr: Buffer): CardClass {
  const h = atr.toString('hex').toUpperCase();
  const known = KNOWN[h];
  if (known) return known;
  // PC/SC part 3 ATR of an ISO 14443-4 card: 3B 8n 80 01 + historical bytes + TCK.
  if (atr.length >= 5 && atr[0] === 0x3b && (atr[1]! & 0xf0) === 0x80 && atr[2] === 0x80 && atr[3] === 0x01) {
    const hist = atr.subarray(4, 4 + (atr[1]! & 0x0f));
    // DESFire EV1/EV2/EV3 answer with historical byte 0x80 (ATS without historical bytes) on most readers.
    if (hist.length === 1 && hist[0] === 0x80) return 'desfire';
    return 'other-contactless';
  }
  // A CPS we do not list yet (new variant): still a CPS, routed to the Cryptolib which knows it.
  if (h.includes(CPS_FAMILY)) return h.startsWith('3B9B') || h.startsWith('3BDC') ? 'cps4' : 'cps3-contact';
  return 'unknown';
}

function cardTypeLabel(c: CardClass): string {
  return {
    'cps3-contact': 'CPS3',
    'cps3-contactless': 'CPS3 (sans contact)',
    cps4: 'CPS4',
    desfire: 'DESFire',
    'other-contactless': 'Carte sans contact',
    unknown: 'Carte non reconnue',
  }[c];
}

const isCps = (c: CardClass) => c === 'cps3-contact' || c === 'cps4' || c === 'cps3-contactless';

// --- The hand-off: CPS to PKCS#11, badges to the badge reading ---

const isCpsType = (label: string) => label.startsWith('CPS');

export interface PcscCpsBackendOptions {
  monitor: PcscMonitor;
  /** The PKCS#11 module (Cryptolib), loaded on first use; null when missing (diagnostic says why). */
  module: () => Pkcs11Module | null;
  /** Reader → token label, for modules whose slots are not named after readers (SoftHSM in tests). */
  tokenLabels?: Record<string, string>;
  /** The PKCS#11 module learns of a new token through its own PC/SC polling: how long to wait for it. */
  slotWaitMs?: number;
  preferPss?: boolean;
  labels?: { authKey: string; authCert: string; techKey?: string; techCert?: string };
  /** DESFire badges on the same PC/SC readers (contactless): profiles and key custody. */
  badges?: BadgeReading;
}

export class PcscCpsBackend implements ReaderBackend {
  readonly name = 'pcsc';
  private listener: (e: ReaderEvent) => void = () => {};
  private cards = new Map<string, { handle: CardHandle | null; cardType: string }>();
  private offs: (() => void)[] = [];

  constructor(private readonly opts: PcscCpsBackendOptions) {}

  async start(listener: (e: ReaderEvent) => void): Promise<void> {
    this.listener = listener;
    const m = this.opts.monitor;
    const on = <E extends 'readers' | 'card-present' | 'card-absent'>(ev: E, fn: (...a: never[]) => void) => {
      m.on(ev, fn as never);
      this.offs.push(() => m.off(ev, fn as never));
    };
    on('readers', () => this.listener({ type: 'readers', readers: this.readers() }));
    on('card-present', ({ reader, atr }: { reader: string; atr: Buffer }) => {
      // A module failing while the card comes or goes is a reader error, never an unhandled rejection.
      this.present(reader, atr).catch((e: unknown) =>
        this.listener({ type: 'reader-error', reader, message: `PKCS#11: ${(e as Error).message.split(':')[0]}` }),
      );
    });
    on('card-absent', ({ reader }: { reader: string }) => this.absent(reader));
    m.start();
  }

  readers(): ReaderInfo[] {
    return this.opts.monitor.list().map((r) => ({
      name: r.name,
      transport: 'pcsc' as const,
      status: r.status,
      cardPresent: r.atr !== null,
      ...(this.cards.get(r.name) ? { cardType: this.cards.get(r.name)!.cardType } : {}),
    }));
  }

  private async present(reader: string, atr: Buffer): Promise<void> {
    const cls = classifyAtr(atr);
    const cardType = cardTypeLabel(cls);
    this.cards.set(reader, { handle: null, cardType });
    if (cls === 'desfire' || cls === 'other-contactless') {
      if (this.opts.badges) await this.tap(reader, cardType);
      return;
    }
    if (!isCps(cls)) {
      this.listener({ type: 'card-unknown', reader, atr: atr.toString('hex').toUpperCase() });
      return;
    }
    const mod = this.opts.module();
    if (!mod) {
      this.listener({ type: 'reader-error', reader, message: 'Cryptolib CPS not found' });
      return;
    }
    const { version: v, packageVersion, supportsCps4 } = mod.info;
    if (cls === 'cps4' && supportsCps4 === false) {
      this.listener({
        type: 'reader-error',
        reader,
        message:
          `Cryptolib module ${v.major}.${v.minor} (package ${packageVersion ?? 'before 5.2'}) reads no CPS4: ` +
          `install Cryptolib CPS 5.2 or newer`,
      });
      return;
    }
    if (this.refuseTwin(reader)) return;
    const contactless = cls === 'cps3-contactless';
    const cardOptions: CardOptions = {
      reader,
      cardType,
      preferPss: this.opts.preferPss ?? cls === 'cps4',
      ...(this.opts.labels ? { labels: this.opts.labels } : {}),
      ...(contactless ? { keyKind: 'tech' as const } : {}),
      // A token mapped by label is not the card in the reader (SoftHSM in tests): its counter is not there.
      ...(this.opts.tokenLabels?.[reader] ? {} : this.cardPinStatus(reader, cls)),
    };
    const slot = await this.waitForSlot(mod, reader, objectLabels(cardOptions).cert);
    const current = this.cards.get(reader);
    if (!current || current.cardType !== cardType || current.handle) return; // removed or replaced meanwhile
    if (slot && this.refuseTwin(reader)) return; // a look-alike came in while the module took this card
    if (!slot) {
      const message =
        cls === 'cps4' && supportsCps4 === null
          ? `no PKCS#11 token for this CPS4: "${mod.info.description}" ${v.major}.${v.minor} may not read CPS4 ` +
            `(Cryptolib CPS 5.2 or newer does)`
          : 'no PKCS#11 token for this reader';
      this.listener({ type: 'reader-error', reader, message });
      return;
    }
    const handle = mod.openCard(slot, cardOptions);
    current.handle = handle;
    this.listener({ type: 'readers', readers: this.readers() });
    this.listener(contactless ? { type: 'cps-tapped', card: handle } : { type: 'card-inserted', card: handle });
  }

  private async tap(reader: string, cardType: string): Promise<void> {
    const r = this.opts.monitor.reader(reader);
    if (!r || !this.opts.badges) return;
    const out = await readPcscBadge(r, cardType, this.opts.badges);
    if (out.ok) this.listener({ type: 'badge-tapped', badge: out.badge });
    else this.listener({ type: 'badge-refused', reader, code: out.code, message: out.message });
  }

  /**
   * Two readers whose slots a module may name alike (one reader's contact and contactless interfaces) both
   * holding a CPS: no slot could be told from the other, and the wrong card must never be used.
   */
  private refuseTwin(reader: string): boolean {
    const twin = [...this.cards.entries()].find(
      ([r, c]) => r !== reader && isCpsType(c.cardType) && lookAlike(r, reader),
    );
    if (!twin) return false;
    this.listener({
      type: 'reader-error',
      reader,
      message: `readers "${reader}" and "${twin[0]}" share one PKCS#11 slot name and both hold a CPS: remove one`,
    });
    return true;
  }

  /**
   * The card's own PIN counter, read over a SHARED PC/SC connection beside the module's. The first read
   * starts now, while the module takes the card in, and is what the first call gets.
   */
  private cardPinStatus(reader: string, cls: CardClass): Pick<CardOptions, 'cardPinStatus'> {
    const ref = HOLDER_PIN_REFERENCE[cls];
    const r = this.opts.monitor.reader(reader);
    if (ref === undefined || !r) return {};
    const read = () => withSharedTransport(r, (t) => readPinStatus(t, ref));
    let first: Promise<CardPinStatus | null> | null = read().catch(() => null);
    return {
      cardPinStatus: () => {
        const p = first ?? read();
        first = null;
        return p;
      },
    };
  }

  /** The slot holding the card's certificate (OpenSC shows one slot per PKCS#15 application). */
  private async waitForSlot(mod: Pkcs11Module, reader: string, certLabel: string): Promise<SlotInfo | null> {
    const end = Date.now() + (this.opts.slotWaitMs ?? 3000);
    for (;;) {
      let slot: SlotInfo | null = null;
      try {
        slot = mod.slotHolding(mod.slotsForReader(reader, this.opts.tokenLabels), certLabel);
      } catch {
        // The module is still taking the card in: try again until the deadline.
      }
      if (slot || Date.now() > end || !this.cards.has(reader)) return slot;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private absent(reader: string): void {
    const c = this.cards.get(reader);
    this.cards.delete(reader);
    if (c?.handle) void c.handle.release().catch(() => {});
    // Let the PKCS#11 module see the removal now: OpenSC-derived modules only notice it on their next
    // slot scan, and a quick remove-then-insert would otherwise reach them through a stale card handle.
    if (c && isCpsType(c.cardType)) this.opts.module()?.rescan();
    this.listener({ type: 'readers', readers: this.readers() });
    // A contactless CPS leaving the field is the end of a tap, not a card removal (nothing to lock).
    if (c?.handle && !c.handle.contactless) this.listener({ type: 'card-removed', reader });
  }

  async stop(): Promise<void> {
    for (const off of this.offs) off();
    this.offs = [];
    for (const c of this.cards.values()) await c.handle?.release().catch(() => {});
    this.cards.clear();
    this.opts.monitor.stop();
  }
}

// --- One SHARED connection to a card (a badge's tap, a CPS's PIN counter) ---
// Other software may use the reader: the connection is shared, then left (the badge stays in the field; a
// later tap is a new presence). Errors become typed refusals, never a half-read badge. A card that stops
// answering (a badge half out of the field, a faulty chip) holds the exchange in pcscd and in pcsclite
// (its worker thread and the reader's lock) until it leaves: each APDU gets a bounded time, the read then
// fails as any lost badge, and nothing more is queued on that reader (no disconnect, no new connection)
// until the held exchange ends.

function connect(reader: CardReader): Promise<number> {
  return new Promise((resolve, reject) =>
    reader.connect(
      { share_mode: reader.SCARD_SHARE_SHARED, protocol: reader.SCARD_PROTOCOL_T1 | reader.SCARD_PROTOCOL_T0 },
      (err, p) => (err ? reject(err) : resolve(p)),
    ),
  );
}

/** How long one APDU may take before the card counts as gone (DESFire answers in milliseconds). */
const TRANSMIT_TIMEOUT_MS = 2000;

/** Per reader: an exchange still held by a card that stopped answering; settles when it ends. */
const held = new WeakMap<CardReader, Promise<void>>();

function disconnect(reader: CardReader): Promise<void> {
  const h = held.get(reader);
  // Queued behind a held exchange it would only take another worker thread: leave it for then.
  if (h) {
    void h.then(() => disconnect(reader));
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    if (!reader.connected) return resolve();
    reader.disconnect(reader.SCARD_LEAVE_CARD, () => resolve());
  });
}

function pcscTransport(reader: CardReader, protocol: number, timeoutMs: number): ApduTransport {
  return {
    transmit: (apdu) =>
      new Promise((resolve, reject) => {
        let timer: NodeJS.Timeout | null = null;
        const ended = new Promise<void>((settle) =>
          reader.transmit(apdu, 258, protocol, (err, data) => {
            settle();
            if (timer) clearTimeout(timer);
            if (err) reject(new DesfireError('removed', `badge retiré ou lecteur perdu (${err.message})`));
            else resolve(data);
          }),
        );
        timer = setTimeout(() => {
          const h = ended.then(() => void (held.get(reader) === h && held.delete(reader)));
          held.set(reader, h);
          reject(new DesfireError('removed', `le badge ne répond plus (pas de réponse en ${timeoutMs} ms)`));
        }, timeoutMs);
      }),
  };
}

/**
 * A SHARED connection to the card on `reader` for the length of `fn`, then left (LEAVE_CARD). Rejects only
 * when the connection cannot be made; what `fn` throws passes through after the disconnection.
 */
export async function withSharedTransport<T>(
  reader: CardReader,
  fn: (t: ApduTransport) => Promise<T>,
  timeoutMs = TRANSMIT_TIMEOUT_MS,
): Promise<T> {
  if (held.has(reader)) throw new Error('lecteur encore occupé par un badge qui ne répond plus : retirez-le');
  const protocol = await connect(reader);
  try {
    return await fn(pcscTransport(reader, protocol, timeoutMs));
  } finally {
    await disconnect(reader);
  }
}

/** One tap on a PC/SC reader → a proven badge, or why not. */
export async function readPcscBadge(reader: CardReader, cardType: string, how: BadgeReading): Promise<BadgeOutcome> {
  try {
    return await withSharedTransport(reader, (t) => readBadge(t, reader.name, cardType, how), how.transmitTimeoutMs);
  } catch (e) {
    return { ok: false, code: 'badge-unreadable', message: `connexion au badge impossible : ${(e as Error).message}` };
  }
}
