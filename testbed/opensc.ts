// OpenSC's PKCS#11 module as the test bed's Cryptolib stand-in: it drives the CPS3 emulator with its own
// IAS-ECC driver, the way the Cryptolib (derived from OpenSC) drives a CPS3 with its cps3 driver. With the
// set-up the CPS tests on it share: OpenSC and pcscd for this process, the agent's CPS path on them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditLog } from '../electron/core/audit/audit';
import type { Authenticator } from '../electron/core/auth/types';
import { Pkcs11Module } from '../electron/core/devices/cps/cryptolib';
import { PcscCpsBackend, PcscMonitor } from '../electron/core/devices/pcsc';
import { SessionEngine } from '../electron/core/session/engine';
import { systemClock } from '../electron/core/util/clock';
import { loadPcsc } from '../native/pcsclite';
import type { AgentError } from '../shared/contract';
import { startPcscd, waitFor } from './pcscd';
import type { PcscdHandle } from './pcscd';

export const OPENSC_MODULE = ['/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so', '/usr/lib/opensc-pkcs11.so'].find((p) =>
  fs.existsSync(p),
);

/**
 * An opensc.conf with only the iasecc driver, which knows the CPS3 contact ATR ("IAS/ECC CPx"). Its entry
 * for the contactless CPS3 reads `2B:8F:80:01…` (0.23, card-iasecc.c), an ATR no card sends (TS is 3B or
 * 3F): the real one is mapped to the same card type (SC_CARD_TYPE_IASECC_CPXCL = 25008) here.
 */
export function writeOpenscConf(dir: string): string {
  if (!OPENSC_MODULE) throw new Error('opensc-pkcs11.so missing: install the Debian package opensc');
  const file = path.join(dir, 'opensc.conf');
  fs.writeFileSync(
    file,
    `app default {
  card_drivers = iasecc;
  card_atr 3b:8f:80:01:00:31:b8:64:04:b0:ec:c1:73:94:01:80:82:90:00:0e {
    driver = "iasecc";
    type = 25008;
  }
}
`,
  );
  return file;
}

export interface OpenscBed {
  dir: string;
  pcscd: PcscdHandle;
  close(): Promise<void>;
}

/**
 * What the CPS tests on OpenSC stand on: a temp dir, OpenSC configured for the CPS3 emulator (OPENSC_CONF)
 * and a private pcscd that this process's PC/SC clients reach.
 */
export async function startOpenscBed(
  prefix: string,
  pcscdOptions?: Parameters<typeof startPcscd>[0],
): Promise<OpenscBed> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.env.OPENSC_CONF = writeOpenscConf(dir);
  const pcscd = await startPcscd(pcscdOptions);
  process.env.PCSCLITE_CSOCK_NAME = pcscd.env.PCSCLITE_CSOCK_NAME;
  return {
    dir,
    pcscd,
    async close() {
      await pcscd.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface OpenscAgent {
  mod: Pkcs11Module;
  backend: PcscCpsBackend;
  engine: SessionEngine;
  audit: AuditLog;
  errors: AgentError[];
  stop(): Promise<void>;
}

/**
 * The agent's CPS path on OpenSC, started with both readers seen: one PKCS#11 module (one agent process has
 * one, and OpenSC keeps per-slot card state), the PC/SC backend feeding a session engine on `authenticator`.
 */
export async function openscAgent(authenticator: Authenticator): Promise<OpenscAgent> {
  const mod = new Pkcs11Module(OPENSC_MODULE!);
  const backend = new PcscCpsBackend({ monitor: new PcscMonitor({ createContext: loadPcsc }), module: () => mod });
  const audit = new AuditLog();
  const engine = new SessionEngine({ authenticator, audit, clock: systemClock, inactivityMs: 0, tapDebounceMs: 0 });
  const errors: AgentError[] = [];
  engine.onError.add((e) => errors.push(e));
  await backend.start((e) => engine.handleReaderEvent(e));
  await waitFor(() => backend.readers().length === 2, 5000, 'readers');
  return {
    mod,
    backend,
    engine,
    audit,
    errors,
    async stop() {
      await backend.stop();
      mod.close();
    },
  };
}
