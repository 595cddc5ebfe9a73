// HID readers through their transport: a pcProx that answers feature reports as the protocol notes
// describe (micolous/pcprox protocol.md), a "custom report" reader emitting vendor input reports, and
// keyboard-wedge readers. The real node-hid host is loaded and enumerated too (no HID device here).
import { afterEach, describe, expect, it } from 'vitest';
import type { ReaderEvent } from '../../types';
import { HidBackend, pcproxCardId } from './hid-backend';
import type { HidReaderProfile } from './hid-backend';
import { nodeHidHost } from './transport';
import type { HidDevice, HidDeviceInfo, HidHost } from './transport';
import { OMNI, PCPROX } from '../../../../../testbed/hid-readers';

/** pcProx as described: write 8 bytes (after report ID 0), read 8 bytes back for 0x8F / 0x8E / 0x80. */
class FakePcProx implements HidDevice {
  card: { data: number[]; bits: number } | null = null;
  haltKbSend = true;
  private last = 0;
  writes: Buffer[] = [];
  sendFeatureReport(data: Buffer) {
    if (data.length !== 9 || data[0] !== 0) throw new Error('pcProx: 8-byte feature report with report ID 0');
    this.writes.push(Buffer.from(data));
    this.last = data[1]!;
  }
  getFeatureReport(id: number, len: number) {
    expect([id, len]).toEqual([0, 9]);
    const out = Buffer.alloc(9);
    if (this.last === 0x8f && this.card) Buffer.from(this.card.data).copy(out, 1);
    if (this.last === 0x8e && this.card) out[1] = out[2] = this.card.bits;
    if (this.last === 0x80) out[8] = this.haltKbSend ? 0x80 : 0x00;
    return out;
  }
  onInput() {}
  onError() {}
  close() {}
}

class FakeCustom implements HidDevice {
  private l: (r: Buffer) => void = () => {};
  emit(r: Buffer) {
    this.l(r);
  }
  sendFeatureReport() {}
  getFeatureReport() {
    return Buffer.alloc(0);
  }
  onInput(l: (r: Buffer) => void) {
    this.l = l;
  }
  onError() {}
  close() {}
}

function host(devs: HidDeviceInfo[], open: (p: string) => HidDevice): HidHost & { devs: HidDeviceInfo[] } {
  const h = { devs, devices: () => h.devs, open };
  return h;
}

let backend: HidBackend | null = null;
afterEach(async () => backend?.stop());

function run(h: HidHost, profiles: HidReaderProfile[], opts: { retryMs?: number } = {}) {
  const events: ReaderEvent[] = [];
  const waiters: (() => void)[] = [];
  backend = new HidBackend({ host: h, profiles: () => profiles, scanMs: 3_600_000, pollMs: 3_600_000, ...opts });
  /** Resolves when an event matching `pred` has come since index `from` (now or later). */
  const until = (pred: (e: ReaderEvent) => boolean, from: number) =>
    new Promise<void>((resolve) => {
      const check = () => (events.slice(from).some(pred) ? (resolve(), true) : false);
      if (!check()) waiters.push(() => void check());
    });
  const push = (e: ReaderEvent) => {
    events.push(e);
    for (const w of waiters.splice(0)) w();
  };
  return { events, until, start: () => backend!.start(push) };
}

describe('pcProx (feature reports)', () => {
  it('decodes the card buffer as the notes describe: 26-bit H10301 minus parity = 24 bits', () => {
    // card_number 0xB2C3 (LE uint16), facility 0xA1
    expect(pcproxCardId(Buffer.from([0xc3, 0xb2, 0xa1, 0, 0, 0, 0, 0]), 24)).toBe('prox:24:A1B2C3');
    expect(pcproxCardId(Buffer.alloc(8), 0)).toBeNull();
    expect(() => pcproxCardId(Buffer.alloc(8), 80)).toThrow(/bits/);
  });

  it('a card on the reader is one tap (UID-only, weak); its removal and a new card are seen by polling', async () => {
    const dev = new FakePcProx();
    const h = host(
      [{ path: '/dev/hidraw3', vendorId: 0x0c27, productId: 0x3bfa, usagePage: 1, usage: 6, product: 'pcProx' }],
      () => dev,
    );
    const r = run(h, [PCPROX]);
    await r.start();
    expect(backend!.readers()).toMatchObject([{ name: 'pcProx (pcProx)', transport: 'hid', status: 'ok' }]);
    const a = () => [...(backend as unknown as { attached: Map<string, never> }).attached.values()][0]!;
    dev.card = { data: [0xc3, 0xb2, 0xa1], bits: 24 };
    backend!.pollPcProx(a());
    backend!.pollPcProx(a()); // still there: no second tap
    dev.card = null;
    backend!.pollPcProx(a());
    dev.card = { data: [0xc3, 0xb2, 0xa1], bits: 24 };
    backend!.pollPcProx(a());
    const taps = r.events.filter((e) => e.type === 'badge-tapped');
    expect(taps).toHaveLength(2);
    expect(taps[0]).toMatchObject({
      badge: { chipId: 'prox:24:A1B2C3', strength: 'uid-only', proof: { kind: 'uid-only', uid: 'prox:24:A1B2C3' } },
    });
    expect(dev.writes.map((w) => w[1])).toEqual([0x80, 0x8f, 0x8e, 0x8f, 0x8e, 0x8f, 0x8e, 0x8f, 0x8e]);
  });

  it('recovers from a transport glitch: closed, opened again after a backoff, and the next tap is read', async () => {
    const devs: FakePcProx[] = [];
    let glitches = 0;
    const h = host([{ path: '/dev/hidraw3', vendorId: 0x0c27, productId: 0x3bfa }], () => {
      const d = new FakePcProx();
      devs.push(d);
      return d;
    });
    const r = run(h, [PCPROX], { retryMs: 5 });
    await r.start();
    const a = () => [...(backend as unknown as { attached: Map<string, never> }).attached.values()][0]!;
    // The first exchange after the badge is laid fails (USB hiccup, EPIPE from hidraw).
    devs[0]!.getFeatureReport = () => {
      glitches++;
      throw new Error('could not get feature report from device');
    };
    const from = r.events.length;
    backend!.pollPcProx(a());
    expect(backend!.readers()[0]).toMatchObject({ status: 'error' });
    expect(r.events.filter((e) => e.type === 'reader-error')).toHaveLength(1);
    // Opened again as at plug-in (a fresh handle), without anything from the user or IT.
    await r.until((e) => e.type === 'readers' && e.readers[0]?.status === 'ok', from);
    expect(devs).toHaveLength(2);
    devs[1]!.card = { data: [0xc3, 0xb2, 0xa1], bits: 24 };
    backend!.pollPcProx(a());
    expect(r.events.filter((e) => e.type === 'badge-tapped')).toMatchObject([
      { badge: { chipId: 'prox:24:A1B2C3', proof: { kind: 'uid-only', uid: 'prox:24:A1B2C3' } } },
    ]);
    expect(glitches).toBe(1);
  });

  it('a reader that keeps failing is retried with a growing delay, told once, and dropped when unplugged', async () => {
    let opens = 0;
    const h = host([{ path: 'p', vendorId: 0x0c27, productId: 0x3bfa }], () => {
      opens++;
      throw new Error('Permission denied');
    });
    const r = run(h, [PCPROX], { retryMs: 5 });
    await r.start();
    await new Promise<void>((resolve) => {
      const t = setInterval(() => opens >= 4 && (clearInterval(t), resolve()), 2);
    });
    expect(r.events.filter((e) => e.type === 'reader-error')).toHaveLength(1);
    h.devs = [];
    backend!.scan();
    expect(backend!.readers()).toEqual([]);
  });

  it('keyboard emulation still on → reported with what to change, never polled', async () => {
    const dev = new FakePcProx();
    dev.haltKbSend = false;
    const r = run(
      host([{ path: 'p', vendorId: 0x0c27, productId: 0x3bfa, usagePage: 1, usage: 6 }], () => dev),
      [PCPROX],
    );
    await r.start();
    expect(r.events.find((e) => e.type === 'reader-error')).toMatchObject({
      message: expect.stringMatching(/mode clavier.*Halt KB Send/),
    });
    expect(backend!.readers()[0]).toMatchObject({ status: 'error', problem: expect.stringMatching(/mode clavier/) });
    expect(dev.writes.map((w) => w[1])).toEqual([0x80]);
  });

  it('a short answer is an error, not a card', async () => {
    const dev = new FakePcProx();
    dev.getFeatureReport = () => Buffer.alloc(4);
    const r = run(
      host([{ path: 'p', vendorId: 0x0c27, productId: 0x3bfa }], () => dev),
      [PCPROX],
    );
    await r.start();
    expect(r.events.find((e) => e.type === 'reader-error')).toMatchObject({
      message: expect.stringMatching(/4 octets/),
    });
    expect(r.events.some((e) => e.type === 'badge-tapped')).toBe(false);
  });
});

describe('custom report readers (reader-verified DESFire file)', () => {
  it('reads the configured bytes of the configured report; ignores others; empty report = card gone', async () => {
    const dev = new FakeCustom();
    const r = run(
      host(
        [
          { path: 'v', vendorId: 0x076b, productId: 0x5427, usagePage: 0xff00, usage: 1, product: '5427CK' },
          { path: 'k', vendorId: 0x076b, productId: 0x5427, usagePage: 1, usage: 6 },
        ],
        () => dev,
      ),
      [OMNI],
    );
    await r.start();
    const report = Buffer.alloc(16);
    report[0] = 2;
    report.write('CHU-000123', 2, 'latin1');
    dev.emit(Buffer.from([1, 9, 9, 9])); // status report of the reader
    dev.emit(report);
    dev.emit(report); // repeated while the card stays
    const taps = r.events.filter((e) => e.type === 'badge-tapped');
    expect(taps).toEqual([
      {
        type: 'badge-tapped',
        badge: {
          reader: 'OMNIKEY (5427CK)',
          chipId: 'CHU-000123',
          strength: 'reader-verified',
          proof: { kind: 'reader-verified', number: 'CHU-000123' },
          cardType: 'Badge (lecteur HID)',
        },
      },
    ]);
    dev.emit(Buffer.from([2, ...Array(15).fill(0)]));
    expect(backend!.readers()[0]!.cardPresent).toBe(false);
    dev.emit(Buffer.from([2, 0, 0x41]));
    expect(r.events.at(-1)).toMatchObject({ type: 'reader-error', message: expect.stringMatching(/tronqué/) });
  });

  it('only a keyboard interface (wedge mode) → reported, the device is never opened', async () => {
    let opened = false;
    const r = run(
      host(
        [{ path: 'k', vendorId: 0x076b, productId: 0x5427, usagePage: 1, usage: 6 }],
        () => ((opened = true), new FakeCustom()),
      ),
      [OMNI],
    );
    await r.start();
    expect(opened).toBe(false);
    expect(r.events.find((e) => e.type === 'reader-error')).toMatchObject({
      message: expect.stringMatching(/mode clavier.*custom report/),
    });
  });

  it('with no HID reader configured, the USB bus is not enumerated at all', async () => {
    let enumerations = 0;
    const h: HidHost = { devices: () => (enumerations++, []), open: () => new FakeCustom() };
    const r = run(h, []);
    await r.start();
    backend!.scan();
    expect(enumerations).toBe(0);
    expect(backend!.readers()).toEqual([]);
  });

  it('hotplug: a reader appearing then unplugged', async () => {
    const h = host([], () => new FakeCustom());
    const r = run(h, [OMNI]);
    await r.start();
    expect(backend!.readers()).toEqual([]);
    h.devs = [{ path: 'v', vendorId: 0x076b, productId: 0x5427, usagePage: 0xff00 }];
    backend!.scan();
    expect(backend!.readers()).toHaveLength(1);
    h.devs = [];
    backend!.scan();
    expect(backend!.readers()).toEqual([]);
    expect(r.events.filter((e) => e.type === 'readers')).toHaveLength(2);
  });
});

describe('node-hid host', () => {
  it('loads the native module and enumerates (no reader attached on this machine)', () => {
    const list = nodeHidHost().devices();
    expect(Array.isArray(list)).toBe(true);
    for (const d of list) expect(typeof d.vendorId).toBe('number');
  });
});
