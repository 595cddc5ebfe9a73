// PC/SC monitoring over pcsclite: readers appearing and disappearing, cards inserted and removed (ATR).
// What real machines do, and how we survive it:
// - any SCardGetStatusChange error stops pcsclite's monitoring for good → drop the context, make a new one;
// - pcscd restarting (or Windows stopping the smart-card service when the last reader is unplugged)
//   ends every reader and no new one comes on the old context → same: a new context, with backoff;
// - a reader reporting "unavailable" → reader status `unavailable`, card considered absent.
// No polling while readers are present: pcsclite blocks in SCardGetStatusChange. With no reader at all,
// a new context is tried every few seconds (unref'd timer), which is what brings readers back.
import { EventEmitter } from 'node:events';
import type { CardReader, PCSCLite } from '../../../native/pcsclite';
import type { ReaderStatus } from '../../../shared/contract';

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
