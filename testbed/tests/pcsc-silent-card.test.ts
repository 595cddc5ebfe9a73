// A card that stops answering in the middle of a read (a badge half out of the field, a faulty chip),
// emulated on vpcd: pcscd and pcsclite would wait for it as long as it stays. The agent's read gives up
// after its transmit timeout with a clear refusal while the card is still there, and the reader serves
// the next badge once that one has gone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalKeyCustody } from '../../electron/core/devices/badge/desfire/custody';
import { aidBytes } from '../../electron/core/devices/badge/desfire/protocol';
import { PcscCpsBackend, PcscMonitor } from '../../electron/core/devices/pcsc';
import type { ReaderEvent } from '../../electron/core/devices/types';
import { loadPcsc } from '../../native/pcsclite';
import { DESFIRE_ATR, hospitalBadge, TEST_BADGE } from '../cards/desfire-card';
import { startPcscd, waitFor } from '../pcscd';
import type { PcscdHandle } from '../pcscd';
import { VirtualCard } from '../vpcd-client';
import type { ApduHandler } from '../vpcd-client';

const AID = aidBytes(TEST_BADGE.aid);
let pcscd: PcscdHandle;
let monitor: PcscMonitor;
let backend: PcscCpsBackend;
const events: ReaderEvent[] = [];

beforeAll(async () => {
  pcscd = await startPcscd();
  process.env.PCSCLITE_CSOCK_NAME = pcscd.env.PCSCLITE_CSOCK_NAME;
  monitor = new PcscMonitor({ createContext: loadPcsc });
  backend = new PcscCpsBackend({
    monitor,
    module: () => null,
    badges: {
      profiles: () => [TEST_BADGE.profile],
      custody: new LocalKeyCustody((aid, keyNo) => (aid.equals(AID) && keyNo === 1 ? TEST_BADGE.master : null)),
      allowUidOnly: () => false,
      transmitTimeoutMs: 1000,
    },
  });
  await backend.start((e) => events.push(e));
  await waitFor(() => monitor.list().length >= 2, 5000, 'virtual readers');
}, 60_000);

afterAll(async () => {
  await backend?.stop();
  await pcscd?.stop();
});

describe('PC/SC transmit timeout', () => {
  it('a badge that stops answering is refused while it stays on the reader, and the reader reads the next one', async () => {
    const good = hospitalBadge('CHU-000123', { master: TEST_BADGE.master });
    let answered = 0;
    // Answers the UID and the application selection, then never again (as long as it is in the field).
    const silent: ApduHandler = (apdu) => (++answered <= 2 ? good.handler(apdu) : new Promise<Buffer>(() => {}));
    const card = new VirtualCard({ atr: DESFIRE_ATR, handler: silent });
    const from = events.length;
    await card.insert(pcscd.ports[0]!);
    try {
      await waitFor(
        () => events.slice(from).some((e) => e.type === 'badge-refused'),
        10_000,
        'refusal of the silent badge',
      );
      expect(card.inserted).toBe(true);
      expect(events.slice(from).find((e) => e.type === 'badge-refused')).toMatchObject({
        code: 'badge-unreadable',
        message: expect.stringMatching(/ne répond plus/),
      });
      expect(events.slice(from).some((e) => e.type === 'badge-tapped')).toBe(false);
    } finally {
      // Taken away whatever happened: pcscd would otherwise hold the reader (and this process) for it.
      await card.remove();
    }
    await waitFor(() => !monitor.list().some((r) => r.atr), 5000, 'silent badge gone');

    const nextBadge = hospitalBadge('CHU-000456', { master: TEST_BADGE.master });
    const next = new VirtualCard({ atr: DESFIRE_ATR, handler: nextBadge.handler });
    const from2 = events.length;
    await next.insert(pcscd.ports[0]!);
    await waitFor(
      () => events.slice(from2).some((e) => e.type === 'badge-tapped' || e.type === 'badge-refused'),
      10_000,
      'next badge read',
    );
    expect(events.slice(from2).find((e) => e.type === 'badge-tapped' || e.type === 'badge-refused')).toMatchObject({
      type: 'badge-tapped',
      badge: { chipId: nextBadge.uid.toString('hex').toUpperCase(), strength: 'desfire-aes-diversified' },
    });
    await next.remove();
  }, 40_000);
});
