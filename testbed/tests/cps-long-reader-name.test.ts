// PC/SC reader names longer than a PKCS#11 slot description (64 bytes): an OMNIKEY 5422 on Linux names its
// interfaces "HID Global OMNIKEY 5422 Smartcard Reader [OMNIKEY 5422 Smartcard Reader] 00 00" (78
// characters) and "… 00 01". vpcd takes the same name, OpenSC truncates both to the same 64 bytes: the
// CPS3 emulator must still be found in its reader, and two CPS cards its slots cannot tell apart are refused.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCps3Process } from '../cps3-process';
import { openscAgent, startOpenscBed } from '../opensc';
import type { OpenscBed } from '../opensc';
import { waitFor } from '../pcscd';
import type { PcscdHandle } from '../pcscd';
import { makeTestPki } from '../pki';
import type { TestPki } from '../pki';
import { proofAuthenticator } from '../proof-authenticator';

const OMNIKEY = 'HID Global OMNIKEY 5422 Smartcard Reader [OMNIKEY 5422 Smartcard Reader]';
const LOUIS = { idNat: '899999000029', lastName: 'BERNARD', firstName: 'Louis', profession: 'Médecin' };
const NINA = { idNat: '899999000052', lastName: 'LEFEVRE', firstName: 'Nina', profession: 'Infirmière' };
let bed: OpenscBed;
let pcscd: PcscdHandle;
let pki: TestPki;

beforeAll(async () => {
  bed = await startOpenscBed('sillage-longname-', { friendlyName: OMNIKEY });
  pcscd = bed.pcscd;
  pki = makeTestPki(path.join(bed.dir, 'pki'));
});

afterAll(async () => {
  await bed?.close();
});

describe('a 78-character PC/SC reader name', () => {
  it('finds the CPS in its slot though OpenSC names both readers alike, and refuses a second CPS it could confuse', async () => {
    const [r0, r1] = pcscd.readerNames as [string, string];
    expect(r1).toHaveLength(78);
    const authenticator = proofAuthenticator();
    const { mod, engine, audit, errors, stop } = await openscAgent(authenticator);
    const louis = startCps3Process(LOUIS, { auth: pki.issue(LOUIS) });
    const nina = startCps3Process(NINA, { auth: pki.issue(NINA) }, { serial: '87654321' });
    try {
      // What OpenSC makes of them: the first 61 bytes and "...", the same for both readers.
      const descriptions = [...new Set(mod.slots().map((s) => s.description))];
      expect(descriptions).toEqual([`${r0.slice(0, 61)}...`]);

      await louis.send('insert', pcscd.ports[1]!);
      await waitFor(() => engine.getState().kind === 'pin-required', 10000, 'PIN pad');
      const st = engine.getState();
      expect(st.kind === 'pin-required' && st.identity?.lastName).toBe('BERNARD');
      expect(st.kind === 'pin-required' && st.credential.reader).toBe(r1);
      expect(await engine.submitPin('1234')).toEqual({ accepted: true });
      expect(authenticator.proofs).toEqual([{ ok: true, algorithm: 'RSA-PKCS1-SHA256' }]);

      // A second CPS in the other interface: both slots say the same, so neither card may be guessed.
      await nina.send('insert', pcscd.ports[0]!);
      await waitFor(() => errors.some((e) => e.code === 'reader-error'), 10000, 'second CPS refused');
      const refusal = audit.recent(50).find((r) => r.action === 'reader.error');
      expect(refusal?.reason).toMatch(/share one PKCS#11 slot name/);
      expect(engine.getState().kind).toBe('open');
      expect(authenticator.proofs).toHaveLength(1);
    } finally {
      await louis.send('remove');
      await nina.send('remove');
      await louis.stop();
      await nina.stop();
      await stop();
    }
  });
});
