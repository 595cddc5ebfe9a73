// A virtual card on vpcd, seen through the real pcscd and the real pcsclite module: insertion with the
// exact ATR, an APDU exchange in SHARED mode, removal, and a pcscd restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPcsc } from '../../native/pcsclite';
import type { CardReader, PCSCLite, ReaderStatus } from '../../native/pcsclite';
import { ATR } from '../cards/atrs';
import { ECHO_SERIAL, echoCard } from '../cards/echo-card';
import { startPcscd } from '../pcscd';
import type { PcscdHandle } from '../pcscd';
import { VirtualCard } from '../vpcd-client';

let pcscd: PcscdHandle;
let pcsc: PCSCLite;
const readers = new Map<string, CardReader>();
const statuses: { reader: string; status: ReaderStatus }[] = [];

function watch(ctx: PCSCLite) {
  ctx.on('reader', (r) => {
    readers.set(r.name, r);
    r.on('status', (status) => statuses.push({ reader: r.name, status }));
    r.on('error', () => {});
  });
  ctx.on('error', () => {});
}

async function until<T>(fn: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function closeAll(ctx: PCSCLite) {
  for (const r of Object.values(ctx.readers)) r.close();
  ctx.close();
}

beforeAll(async () => {
  pcscd = await startPcscd();
  process.env.PCSCLITE_CSOCK_NAME = pcscd.env.PCSCLITE_CSOCK_NAME;
  pcsc = loadPcsc();
  watch(pcsc);
});

afterAll(async () => {
  closeAll(pcsc);
  await pcscd.stop();
});

describe('vpcd virtual card through pcscd and pcsclite', () => {
  const card = new VirtualCard({ atr: ATR.CPS3_CONTACT, handler: echoCard });
  const name = 'Virtual PCD 00 00';

  it('sees both virtual readers', async () => {
    await until(() => readers.size >= 2 || undefined);
    expect([...readers.keys()].sort()).toEqual(pcscd.readerNames);
  });

  it('reports the insertion with the exact CPS3 ATR', async () => {
    const reader = readers.get(name)!;
    await card.insert(pcscd.ports[0]!);
    const st = await until(() =>
      statuses.find((s) => s.reader === name && s.status.state & reader.SCARD_STATE_PRESENT && s.status.atr?.length),
    );
    expect(st.status.atr!.toString('hex')).toBe(ATR.CPS3_CONTACT.toString('hex'));
  });

  it('exchanges APDUs in SHARED mode', async () => {
    const reader = readers.get(name)!;
    const protocol = await new Promise<number>((resolve, reject) =>
      reader.connect({ share_mode: reader.SCARD_SHARE_SHARED }, (err, p) => (err ? reject(err) : resolve(p))),
    );
    const tx = (apdu: string) =>
      new Promise<Buffer>((resolve, reject) =>
        reader.transmit(Buffer.from(apdu, 'hex'), 258, protocol, (err, d) => (err ? reject(err) : resolve(d))),
      );
    expect((await tx('00CA010000')).toString('hex')).toBe(ECHO_SERIAL.toString('hex') + '9000');
    expect((await tx('00EE000003AABBCC')).toString('hex')).toBe('aabbcc9000');
    expect((await tx('00FF000000')).toString('hex')).toBe('6d00');
    expect(card.apduCount).toBeGreaterThanOrEqual(3);
    await new Promise<void>((resolve) => reader.disconnect(reader.SCARD_LEAVE_CARD, () => resolve()));
  });

  it('reports the removal', async () => {
    const reader = readers.get(name)!;
    const before = statuses.length;
    await card.remove();
    await until(() =>
      statuses.slice(before).find((s) => s.reader === name && s.status.state & reader.SCARD_STATE_EMPTY),
    );
    expect(card.inserted).toBe(false);
  });

  it('finds the readers again after pcscd restarts, with a new context', async () => {
    closeAll(pcsc);
    readers.clear();
    await pcscd.restart();
    pcsc = loadPcsc();
    watch(pcsc);
    await until(() => readers.size >= 2 || undefined);
    expect(readers.has(name)).toBe(true);
  });
});
