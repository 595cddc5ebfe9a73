// Readers backend for CPS cards: PC/SC presence and ATR (PcscMonitor), classification, then PKCS#11
// (Cryptolib) for identity, PIN and proof. Contactless DESFire badges seen here are left to the badge
// backend; unknown cards are reported so the user hears "carte non reconnue".
import type { ReaderInfo } from '../../../shared/contract';
import type { PcscMonitor } from './pcsc-monitor';
import { cardTypeLabel, classifyAtr, isCps } from './atr';
import type { CardClass } from './atr';
import type { CardHandle, ReaderBackend, ReaderEvent } from './types';
import { objectLabels } from './cps/cryptolib';
import type { CardOptions, Pkcs11Module, SlotInfo } from './cps/cryptolib';
import { HOLDER_PIN_REFERENCE, readPinStatus } from './cps/retry-counter';
import type { CardPinStatus } from './cps/retry-counter';
import { lookAlike } from './cps/slot-names';
import { readPcscBadge, withSharedTransport } from './badge/pcsc-badge';
import type { BadgeReading } from './badge/badge-reading';

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
        message: `Cryptolib module ${v.major}.${v.minor} (package ${packageVersion ?? 'before 5.2'}) reads no CPS4: install Cryptolib CPS 5.2 or newer`,
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
          ? `no PKCS#11 token for this CPS4: "${mod.info.description}" ${v.major}.${v.minor} may not read CPS4 (Cryptolib CPS 5.2 or newer does)`
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
