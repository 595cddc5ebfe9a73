// Shared set-up of the CPS benchmarks: pcscd + vpcd with a CPS3-ATR card, SoftHSM holding the CPS objects
// (mapped to that reader), the agent's PC/SC backend and session engine with a proof-checking
// authenticator, and raw pkcs11js access to the same token for the floors.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pkcs11js from 'pkcs11js';
import { AuditLog } from '../electron/core/audit/audit';
import { Pkcs11Module } from '../electron/core/devices/cps/cryptolib';
import { PcscCpsBackend, PcscMonitor } from '../electron/core/devices/pcsc';
import { SessionEngine } from '../electron/core/session/engine';
import { systemClock } from '../electron/core/util/clock';
import { loadPcsc } from '../native/pcsclite';
import { ATR } from '../testbed/cards/atrs';
import { echoCard } from '../testbed/cards/echo-card';
import { startPcscd, waitFor } from '../testbed/pcscd';
import { makeTestPki } from '../testbed/pki';
import { proofAuthenticator } from '../testbed/proof-authenticator';
import { CPS_LABELS, openToken, provisionSoftHsm } from '../testbed/softhsm';
import { VirtualCard } from '../testbed/vpcd-client';

export async function cpsRig() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-bench-cps-'));
  const pki = makeTestPki(path.join(dir, 'pki'));
  const token = provisionSoftHsm(
    path.join(dir, 'hsm'),
    pki.issue({ idNat: '899999000011', lastName: 'MARTIN', firstName: 'Camille', profession: 'Infirmière' }),
    { tokenLabel: 'CPS BENCH' },
  );
  process.env.SOFTHSM2_CONF = token.env.SOFTHSM2_CONF;
  const mod = new Pkcs11Module(token.modulePath);
  const pcscd = await startPcscd();
  process.env.PCSCLITE_CSOCK_NAME = pcscd.env.PCSCLITE_CSOCK_NAME;
  const reader = pcscd.readerNames[0]!;
  const monitor = new PcscMonitor({ createContext: loadPcsc });
  const backend = new PcscCpsBackend({
    monitor,
    module: () => mod,
    tokenLabels: { [reader]: 'CPS BENCH' },
    labels: CPS_LABELS,
  });
  const engine = new SessionEngine({
    authenticator: proofAuthenticator(),
    audit: new AuditLog(),
    clock: systemClock,
    inactivityMs: 0,
    tapDebounceMs: 0,
  });
  await backend.start((e) => engine.handleReaderEvent(e));
  await waitFor(() => monitor.list().length >= 2, 5000, 'readers');
  const card = new VirtualCard({ atr: ATR.CPS3_CONTACT, handler: echoCard });

  // Raw PKCS#11 on the same token: what any middleware pays, without the agent.
  const { p11, slot } = openToken(token.modulePath, 'CPS BENCH');
  const find = (s: Buffer, cls: number, label: string) => {
    p11.C_FindObjectsInit(s, [
      { type: pkcs11js.CKA_CLASS, value: cls },
      { type: pkcs11js.CKA_LABEL, value: label },
    ]);
    const h = p11.C_FindObjects(s);
    p11.C_FindObjectsFinal(s);
    return h!;
  };
  const raw = {
    readCertificate() {
      const s = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      p11.C_GetAttributeValue(s, find(s, pkcs11js.CKO_CERTIFICATE, CPS_LABELS.authCert), [
        { type: pkcs11js.CKA_VALUE },
      ]);
      p11.C_CloseSession(s);
    },
    loginAndSign(pin: string) {
      const s = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      p11.C_Login(s, pkcs11js.CKU_USER, pin);
      p11.C_SignInit(
        s,
        { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS },
        find(s, pkcs11js.CKO_PRIVATE_KEY, CPS_LABELS.authKey),
      );
      p11.C_Sign(s, Buffer.alloc(32, 1), Buffer.alloc(512));
      p11.C_Logout(s);
      p11.C_CloseSession(s);
    },
  };

  return {
    engine,
    monitor,
    card,
    port: pcscd.ports[0]!,
    raw,
    pin: token.pin,
    async close() {
      await card.remove();
      await backend.stop();
      mod.close();
      await pcscd.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
