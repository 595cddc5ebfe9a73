// Fuzzing the HID badge readers through their transport: a pcProx answering mutated feature reports
// (card data, bit count, configuration page) and a custom-report reader emitting mutated input reports.
// Nothing may escape the backend as an exception; a badge is reported only as the protocol allows
// (pcProx: UID-only, never with keyboard emulation on; custom report: only its own report ID, only a
// printable payload, exactly the configured bytes).
import { describe, expect, it } from 'vitest';
import { HidBackend } from '../../electron/core/devices/badge/hid/hid-backend';
import type { HidReaderProfile } from '../../electron/core/devices/badge/hid/hid-backend';
import type { HidDevice, HidHost } from '../../electron/core/devices/badge/hid/transport';
import type { ReaderEvent } from '../../electron/core/devices/types';
import { FUZZ_CASES, fuzz, mutateBytes } from './harness';
import type { Rng } from './harness';
import { OMNI, PCPROX } from '../../testbed/hid-readers';

function valid(code: number): Buffer {
  const b = Buffer.alloc(9);
  if (code === 0x8f) Buffer.from([0xc3, 0xb2, 0xa1]).copy(b, 1);
  if (code === 0x8e) b[1] = 24;
  if (code === 0x80) b[8] = 0x80;
  return b;
}

/** Mutated answers, by command, from valid ones; sometimes the plain valid answer. */
function answers(rng: Rng): Record<number, Buffer> {
  const out: Record<number, Buffer> = {};
  for (const code of [0x80, 0x8f, 0x8e]) out[code] = rng.chance(0.4) ? valid(code) : mutateBytes(rng, valid(code), 16);
  return out;
}

function host(dev: HidDevice, info: { usagePage?: number } = {}): HidHost {
  return { devices: () => [{ path: 'p', vendorId: 0x0c27, productId: 0x3bfa, ...info }], open: () => dev };
}

async function once(profile: HidReaderProfile, dev: HidDevice, h: HidHost, act: (b: HidBackend) => void) {
  const events: ReaderEvent[] = [];
  const b = new HidBackend({
    host: h,
    profiles: () => [profile],
    scanMs: 3_600_000,
    pollMs: 3_600_000,
    retryMs: 3_600_000,
  });
  try {
    await b.start((e) => events.push(e));
    act(b);
  } finally {
    await b.stop();
  }
  return events;
}

describe('fuzz: HID reports', () => {
  it('pcProx feature reports: 0 crashes, 0 wrong accepts', async () => {
    let read = 0;
    const report = await fuzz({
      name: 'hid-pcprox-reports',
      generate: (rng) => answers(rng),
      async run(ans) {
        let last = 0;
        const dev: HidDevice = {
          sendFeatureReport: (d) => void (last = d[1]!),
          getFeatureReport: () => Buffer.from(ans[last] ?? Buffer.alloc(0)),
          onInput: () => {},
          onError: () => {},
          close: () => {},
        };
        const events = await once(PCPROX, dev, host(dev), (b) => {
          const a = [...(b as unknown as { attached: Map<string, never> }).attached.values()][0];
          if (a) b.pollPcProx(a);
        });
        const taps = events.filter((e) => e.type === 'badge-tapped');
        read += taps.length;
        // hidapi returns 9 bytes (report ID first) or the 8 of the report: the config byte is the last.
        const page0 = ans[0x80]!;
        const data0 = page0.length === 9 ? page0.subarray(1) : page0;
        const keyboard = data0.length !== 8 || !(data0[7]! & 0x80);
        for (const t of taps) {
          if (keyboard) return { wrongAccept: 'badge read with keyboard emulation on' };
          if (t.badge.proof.kind !== 'uid-only' || !/^prox:([1-9]|[1-5]\d|6[0-4]):[0-9A-F]+$/.test(t.badge.chipId))
            return { wrongAccept: `tap ${t.badge.proof.kind} ${t.badge.chipId}` };
        }
        return {};
      },
    });
    expect(report.failures).toEqual([]);
    expect(report).toMatchObject({ cases: FUZZ_CASES, crashes: 0, wrongAccepts: 0 });
    // Valid and near-valid answers do get through: the cases reach the decoding, not only the guards.
    expect(read).toBeGreaterThan(500);
  }, 120_000);

  it('custom input reports: 0 crashes, 0 wrong accepts', async () => {
    const good = Buffer.alloc(16);
    good[0] = 2;
    good.write('CHU-000123', 2, 'latin1');
    let read = 0;
    const report = await fuzz({
      name: 'hid-custom-reports',
      generate: (rng) =>
        Array.from({ length: 1 + rng.int(4) }, () => (rng.chance(0.2) ? good : mutateBytes(rng, good, 64))),
      async run(reports) {
        let emit: (r: Buffer) => void = () => {};
        const dev: HidDevice = {
          sendFeatureReport: () => {},
          getFeatureReport: () => Buffer.alloc(0),
          onInput: (l) => void (emit = l),
          onError: () => {},
          close: () => {},
        };
        const events = await once(
          OMNI,
          dev,
          { devices: () => [{ path: 'v', vendorId: 0x076b, productId: 0x5427, usagePage: 0xff00 }], open: () => dev },
          () => reports.forEach((r) => emit(r)),
        );
        const allowed = new Set(
          reports
            .filter((r) => r[0] === 2 && r.length >= 12)
            .map((r) => r.subarray(2, 12).toString('latin1').replace(/\0+$/, ''))
            .filter((s) => /^[\x20-\x7e]+$/.test(s)),
        );
        read += events.filter((e) => e.type === 'badge-tapped').length;
        for (const e of events)
          if (e.type === 'badge-tapped' && (e.badge.proof.kind !== 'reader-verified' || !allowed.has(e.badge.chipId)))
            return { wrongAccept: `tap ${e.badge.proof.kind} ${JSON.stringify(e.badge.chipId)}` };
        return {};
      },
    });
    expect(report.failures).toEqual([]);
    expect(report).toMatchObject({ cases: FUZZ_CASES, crashes: 0, wrongAccepts: 0 });
    expect(read).toBeGreaterThan(500);
  }, 120_000);
});
