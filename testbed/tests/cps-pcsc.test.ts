// CPS cards through the real stack: vpcd virtual cards with the real CPS3/CPS4 ATRs seen by pcscd and
// pcsclite (PcscMonitor), classified, then identity, PIN and proof through PKCS#11 (SoftHSM holding the
// card's key and certificate, mapped to the reader), and the session engine on top.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPcsc } from '../../native/pcsclite';
import { AuditLog } from '../../electron/core/audit/audit';
import { Pkcs11Module } from '../../electron/core/devices/cps/cryptolib';
import { PcscCpsBackend, classifyAtr, PcscMonitor } from '../../electron/core/devices/pcsc';
import type { ReaderEvent } from '../../electron/core/devices/types';
import { SessionEngine } from '../../electron/core/session/engine';
import { systemClock } from '../../electron/core/util/clock';
import { ATR } from '../cards/atrs';
import { echoCard } from '../cards/echo-card';
import { startPcscd, waitFor } from '../pcscd';
import type { PcscdHandle } from '../pcscd';
import { makeTestPki } from '../pki';
import { proofAuthenticator } from '../proof-authenticator';
import { provisionSoftHsm } from '../softhsm';
import { VirtualCard } from '../vpcd-client';

let pcscd: PcscdHandle;
let dir: string;
let mod: Pkcs11Module;
const R0 = 'Virtual PCD 00 00';
const R1 = 'Virtual PCD 00 01';

beforeAll(async () => {
  pcscd = await startPcscd();
  process.env.PCSCLITE_CSOCK_NAME = pcscd.env.PCSCLITE_CSOCK_NAME;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-cps-'));
  const pki = makeTestPki(path.join(dir, 'pki'));
  const cert = pki.issue({ idNat: '899999000011', lastName: 'MARTIN', firstName: 'Camille', profession: 'Infirmière' });
  const token = provisionSoftHsm(path.join(dir, 'hsm'), cert, { tokenLabel: 'CPS CAMILLE' });
  process.env.SOFTHSM2_CONF = token.env.SOFTHSM2_CONF;
  mod = new Pkcs11Module(token.modulePath);
});

afterAll(async () => {
  mod?.close();
  await pcscd.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('PcscMonitor over pcscd + vpcd', () => {
  it('recognises CPS3 and CPS4 by ATR, sees removals, and survives a pcscd restart', async () => {
    const monitor = new PcscMonitor({ createContext: loadPcsc, retryMs: 200, maxRetryMs: 1000 });
    const present: { reader: string; cls: string }[] = [];
    const absent: string[] = [];
    monitor.on('card-present', ({ reader, atr }) => present.push({ reader, cls: classifyAtr(atr) }));
    monitor.on('card-absent', ({ reader }) => absent.push(reader));
    monitor.start();
    try {
      await waitFor(() => monitor.list().length === 2, 5000, 'readers');
      const cps3 = new VirtualCard({ atr: ATR.CPS3_CONTACT, handler: echoCard });
      const cps4 = new VirtualCard({ atr: ATR.CPS4_VARIANT_2, handler: echoCard });
      await cps3.insert(pcscd.ports[0]!);
      await cps4.insert(pcscd.ports[1]!);
      await waitFor(() => present.length === 2, 5000, 'insertions');
      expect(present).toEqual(
        expect.arrayContaining([
          { reader: R0, cls: 'cps3-contact' },
          { reader: R1, cls: 'cps4' },
        ]),
      );
      await cps3.remove();
      await waitFor(() => absent.includes(R0), 5000, 'removal');

      // pcscd dies and comes back: the monitor makes a new context by itself.
      await pcscd.restart();
      await waitFor(() => absent.includes(R1), 5000, 'card gone with pcscd');
      await waitFor(() => monitor.list().length === 2, 10000, 'readers after restart');
      // Its connection went with the old pcscd: on again, it is a new insertion.
      expect(cps4.inserted).toBe(false);
      await cps4.insert(pcscd.ports[1]!);
      await waitFor(() => present.filter((p) => p.reader === R1).length === 2, 5000, 'card after restart');
      await cps4.remove();
    } finally {
      monitor.stop();
    }
  });
});

describe('CPS card through PKCS#11 and the session engine', () => {
  it('reads the identity, counts a wrong PIN, proves possession and locks on removal', async () => {
    const monitor = new PcscMonitor({ createContext: loadPcsc });
    const backend = new PcscCpsBackend({ monitor, module: () => mod, tokenLabels: { [R0]: 'CPS CAMILLE' } });
    const audit = new AuditLog();
    const authenticator = proofAuthenticator();
    const engine = new SessionEngine({ authenticator, audit, clock: systemClock, inactivityMs: 0, tapDebounceMs: 0 });
    const events: ReaderEvent['type'][] = [];
    await backend.start((e) => {
      events.push(e.type);
      engine.handleReaderEvent(e);
    });
    const card = new VirtualCard({ atr: ATR.CPS3_CONTACT, handler: echoCard });
    try {
      await waitFor(() => backend.readers().length === 2, 5000, 'readers');
      await card.insert(pcscd.ports[0]!);
      await waitFor(() => engine.getState().kind === 'pin-required', 5000, 'PIN pad');
      const st = engine.getState();
      expect(st.kind === 'pin-required' && st.identity).toEqual({
        idNat: '899999000011',
        lastName: 'MARTIN',
        firstName: 'Camille',
        profession: 'Infirmière',
      });
      expect(st.kind === 'pin-required' && st.credential.cardType).toBe('CPS3');

      expect(await engine.submitPin('0000')).toEqual({ accepted: false });
      expect(engine.getState().kind).toBe('pin-required');
      expect(await engine.submitPin('1234')).toEqual({ accepted: true });
      expect(authenticator.proofs).toEqual([{ ok: true, algorithm: 'RSA-PKCS1-SHA256' }]);
      expect(engine.getState().kind).toBe('open');

      await card.remove();
      await waitFor(() => engine.getState().kind === 'locked', 5000, 'lock on removal');
      expect(engine.getState()).toEqual({ kind: 'locked', reason: 'card-removed' });
      expect(events).toEqual(expect.arrayContaining(['card-inserted', 'card-removed']));
      const actions = audit.recent(100).map((r) => r.action);
      expect(actions).toEqual(
        expect.arrayContaining(['card.identity-read', 'pin.wrong', 'pin.verified', 'session.opened', 'card.removed']),
      );
    } finally {
      await backend.stop();
    }
  });

  it('reports a card it does not know as unknown, without opening anything', async () => {
    const monitor = new PcscMonitor({ createContext: loadPcsc });
    const backend = new PcscCpsBackend({ monitor, module: () => mod });
    const events: ReaderEvent[] = [];
    await backend.start((e) => events.push(e));
    const card = new VirtualCard({ atr: Buffer.from('3B021450', 'hex'), handler: echoCard });
    try {
      await waitFor(() => backend.readers().length === 2, 5000, 'readers');
      await card.insert(pcscd.ports[1]!);
      await waitFor(() => events.some((e) => e.type === 'card-unknown'), 5000, 'unknown card');
      expect(events.some((e) => e.type === 'card-inserted')).toBe(false);
      await card.remove();
    } finally {
      await backend.stop();
    }
  });
});
