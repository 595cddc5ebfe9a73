// PIN retry counter, blocking and removal mid-signature through a real PKCS#11 module over pcscd:
// OpenSC's module drives an emulated card (PIV-style, real 3-try counter) on vpcd with a CPS3 ATR,
// the way the Cryptolib (derived from OpenSC) drives a CPS card. The agent code is the production code.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPcsc } from '../../native/pcsclite';
import { AuditLog } from '../../electron/core/audit/audit';
import { Pkcs11Module } from '../../electron/core/cps/cryptolib';
import { PcscCpsBackend } from '../../electron/core/cps/pcsc-cps-backend';
import { PcscMonitor } from '../../electron/core/readers/pcsc/monitor';
import { SessionEngine } from '../../electron/core/session/engine';
import { systemClock } from '../../electron/core/util/clock';
import type { AgentError } from '../../shared/contract';
import { ATR } from '../cards/atrs';
import { startPcscd, waitFor } from '../pcscd';
import type { PcscdHandle } from '../pcscd';
import { startPivProcess } from '../piv-process';
import { makeTestPki } from '../pki';
import type { IssuedCert } from '../pki';
import { proofAuthenticator } from '../proof-authenticator';

const OPENSC = ['/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so', '/usr/lib/opensc-pkcs11.so'].find((p) =>
  fs.existsSync(p),
);
const PIV_LABELS = { authKey: 'PIV AUTH key', authCert: 'Certificate for PIV Authentication' };

let pcscd: PcscdHandle;
let dir: string;
let cert: IssuedCert;

beforeAll(async () => {
  if (!OPENSC) throw new Error('opensc-pkcs11.so missing: install the Debian package opensc');
  pcscd = await startPcscd();
  process.env.PCSCLITE_CSOCK_NAME = pcscd.env.PCSCLITE_CSOCK_NAME;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-opensc-'));
  // Only OpenSC's PIV driver: other drivers know the CPS ATR (IAS-ECC) and would claim the card.
  fs.writeFileSync(path.join(dir, 'opensc.conf'), 'app default {\n  card_drivers = PIV-II;\n}\n');
  process.env.OPENSC_CONF = path.join(dir, 'opensc.conf');
  cert = makeTestPki(path.join(dir, 'pki')).issue({
    idNat: '899999000029',
    lastName: 'BERNARD',
    firstName: 'Louis',
    profession: 'Médecin',
  });
});

afterAll(async () => {
  await pcscd?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// One module per test, as one agent process has one: OpenSC keeps per-slot card state across tests.
async function rig() {
  const mod = new Pkcs11Module(OPENSC!);
  const monitor = new PcscMonitor({ createContext: loadPcsc });
  const backend = new PcscCpsBackend({ monitor, module: () => mod, labels: PIV_LABELS, preferPss: false });
  const audit = new AuditLog();
  const authenticator = proofAuthenticator();
  const engine = new SessionEngine({ authenticator, audit, clock: systemClock, inactivityMs: 0, tapDebounceMs: 0 });
  const errors: AgentError[] = [];
  engine.onError.add((e) => errors.push(e));
  await backend.start((e) => engine.handleReaderEvent(e));
  await waitFor(() => backend.readers().length === 2, 5000, 'readers');
  const card = startPivProcess(cert.certFile, cert.keyFile, ATR.CPS3_CONTACT);
  return { backend, audit, authenticator, engine, errors, card, mod };
}

describe('CPS PIN handling through OpenSC over pcscd + vpcd', () => {
  it('counts 2 then 1 tries left, blocks at the third wrong PIN, and never presents a PIN to a blocked card', async () => {
    const { backend, audit, engine, errors, card, mod } = await rig();
    try {
      await card.send('insert', pcscd.ports[0]!);
      await waitFor(() => engine.getState().kind === 'pin-required', 10000, 'PIN pad');
      let st = engine.getState();
      expect(st.kind === 'pin-required' && st.identity?.lastName).toBe('BERNARD');
      expect(st.kind === 'pin-required' && st.triesLeft).toBe(3);

      await engine.submitPin('0000');
      st = engine.getState();
      expect(st.kind === 'pin-required' && st.triesLeft).toBe(2);
      expect(errors.at(-1)).toMatchObject({ code: 'pin-wrong', params: { triesLeft: 2 } });
      await engine.submitPin('1111');
      st = engine.getState();
      expect(st.kind === 'pin-required' && st.triesLeft).toBe(1);
      await engine.submitPin('2222');
      expect(engine.getState().kind).toBe('card-blocked');
      expect(errors.at(-1)?.code).toBe('card-blocked');
      let status = await card.send('status');
      expect(status).toMatchObject({ triesLeft: 0, blocked: true, verifyWithPin: 3 });

      // Pulled and inserted again: blocked screen at once, no PIN sent to the card.
      await card.send('remove');
      await waitFor(() => engine.getState().kind === 'locked', 5000, 'lock');
      await card.send('insert', pcscd.ports[0]!);
      await waitFor(() => engine.getState().kind === 'card-blocked', 10000, 'blocked screen');
      await expect(engine.submitPin('1234')).rejects.toMatchObject({ code: 'not-allowed' });
      status = await card.send('status');
      expect(status.verifyWithPin).toBe(3);
      expect(audit.recent(100).filter((r) => r.action === 'card.blocked')).toHaveLength(2);
    } finally {
      await card.send('remove');
      await card.stop();
      await backend.stop();
      mod.close();
    }
  });

  it('opens with the right PIN and a real signature; a card pulled mid-signature ends locked with no session', async () => {
    const { backend, engine, authenticator, card, mod } = await rig();
    try {
      await card.send('insert', pcscd.ports[0]!);
      await waitFor(() => engine.getState().kind === 'pin-required', 10000, 'PIN pad');
      expect(await engine.submitPin('1234')).toEqual({ accepted: true });
      expect(authenticator.proofs).toEqual([{ ok: true, algorithm: 'RSA-PKCS1-SHA256' }]);
      expect(engine.getState().kind).toBe('open');
      await card.send('remove');
      await waitFor(() => engine.getState().kind === 'locked', 5000, 'lock on removal');

      await card.send('insert', pcscd.ports[0]!);
      await waitFor(() => engine.getState().kind === 'pin-required', 10000, 'PIN pad again');
      await card.send('pull-on-sign');
      expect(await engine.submitPin('1234')).toEqual({ accepted: false });
      await waitFor(() => engine.getState().kind === 'locked', 5000, 'locked');
      expect(engine.getState()).toMatchObject({ kind: 'locked' });
      expect(authenticator.proofs).toHaveLength(1);
    } finally {
      await card.stop();
      await backend.stop();
      mod.close();
    }
  });
});
