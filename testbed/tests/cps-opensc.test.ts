// CPS3 cards through a real PKCS#11 module over pcscd: OpenSC's own IAS-ECC driver drives the CPS3
// emulator (cards/cps3-card.ts: the CPS PKCS#15 layout and labels, a real 3-try counter) on vpcd, the way
// the Cryptolib (derived from OpenSC) drives a CPS3. The agent code is the production code, with its
// default (Cryptolib) object labels.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEngine } from '../../electron/core/session/engine';
import { startCps3Process } from '../cps3-process';
import { openscAgent, startOpenscBed } from '../opensc';
import type { OpenscBed } from '../opensc';
import { waitFor } from '../pcscd';
import type { PcscdHandle } from '../pcscd';
import { makeTestPki } from '../pki';
import type { IssuedCert } from '../pki';
import { proofAuthenticator } from '../proof-authenticator';

const PERSON = { idNat: '899999000029', lastName: 'BERNARD', firstName: 'Louis', profession: 'Médecin' };
let bed: OpenscBed;
let pcscd: PcscdHandle;
let cert: IssuedCert;

beforeAll(async () => {
  bed = await startOpenscBed('sillage-opensc-');
  pcscd = bed.pcscd;
  cert = makeTestPki(path.join(bed.dir, 'pki')).issue(PERSON);
});

afterAll(async () => {
  await bed?.close();
});

// One agent per test, as one agent process has one module: OpenSC keeps per-slot card state across tests.
async function rig() {
  const authenticator = proofAuthenticator();
  const agent = await openscAgent(authenticator);
  const card = startCps3Process(PERSON, { auth: cert });
  const close = async () => {
    await card.send('remove');
    await card.stop();
    await agent.stop();
  };
  return { ...agent, authenticator, card, close };
}

const pinPad = (engine: SessionEngine) => engine.getState().kind === 'pin-required';
const triesShown = (engine: SessionEngine) => {
  const st = engine.getState();
  return st.kind === 'pin-required' ? st.triesLeft : undefined;
};

describe('CPS3 (IAS-ECC) through OpenSC over pcscd + vpcd', () => {
  it('reads the identity, opens with the right PIN and a real signature, locks on removal; pulled mid-signature: nothing opens', async () => {
    const { audit, engine, authenticator, card, close } = await rig();
    try {
      await card.send('insert', pcscd.ports[0]!);
      await waitFor(() => pinPad(engine), 10000, 'PIN pad');
      const st = engine.getState();
      expect(st.kind === 'pin-required' && st.identity).toEqual(PERSON);
      expect(st.kind === 'pin-required' && st.credential.cardType).toBe('CPS3');
      expect(await engine.submitPin('1234')).toEqual({ accepted: true });
      expect(authenticator.proofs).toEqual([{ ok: true, algorithm: 'RSA-PKCS1-SHA256' }]);
      expect(engine.getState().kind).toBe('open');
      expect((await card.send('status')).signCount).toBe(1);
      await card.send('remove');
      await waitFor(() => engine.getState().kind === 'locked', 5000, 'lock on removal');
      expect(engine.getState()).toEqual({ kind: 'locked', reason: 'card-removed' });
      expect(audit.recent(100).map((r) => r.action)).toEqual(
        expect.arrayContaining(['card.identity-read', 'pin.verified', 'session.opened', 'card.removed']),
      );

      await card.send('insert', pcscd.ports[0]!);
      await waitFor(() => pinPad(engine), 10000, 'PIN pad again');
      await card.send('pull-on-sign');
      expect(await engine.submitPin('1234')).toEqual({ accepted: false });
      await waitFor(() => engine.getState().kind === 'locked', 5000, 'locked');
      expect(authenticator.proofs).toHaveLength(1);
    } finally {
      await close();
    }
  });

  it('counts 2 then 1 tries left, blocks at the third wrong PIN, and never presents a PIN to a blocked card', async () => {
    const { audit, engine, errors, card, close } = await rig();
    try {
      await card.send('insert', pcscd.ports[0]!);
      await waitFor(() => pinPad(engine), 10000, 'PIN pad');
      expect(triesShown(engine)).toBe(3);

      await engine.submitPin('0000');
      expect(triesShown(engine)).toBe(2);
      expect(errors.at(-1)).toMatchObject({ code: 'pin-wrong', params: { triesLeft: 2 } });
      await engine.submitPin('1111');
      expect(triesShown(engine)).toBe(1);
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
      await close();
    }
  });

  it("shows the tries the card has left after a wrong PIN and a reinsertion (2, not a fresh card's 3)", async () => {
    const { engine, card, close } = await rig();
    try {
      await card.send('insert', pcscd.ports[0]!);
      await waitFor(() => pinPad(engine), 10000, 'PIN pad');
      await engine.submitPin('0000');
      expect(triesShown(engine)).toBe(2);
      await card.send('remove');
      await waitFor(() => engine.getState().kind === 'locked', 5000, 'lock');

      await card.send('insert', pcscd.ports[0]!);
      await waitFor(() => pinPad(engine), 10000, 'PIN pad after reinsertion');
      expect(triesShown(engine)).toBe(2);
      expect(await card.send('status')).toMatchObject({ triesLeft: 2, verifyWithPin: 1 });
      // The right PIN resets the card's counter: the next insertion shows 3 again.
      expect(await engine.submitPin('1234')).toEqual({ accepted: true });
      await card.send('remove');
      await waitFor(() => engine.getState().kind === 'locked', 5000, 'lock');
      await card.send('insert', pcscd.ports[0]!);
      await waitFor(() => pinPad(engine), 10000, 'PIN pad, counter reset');
      expect(triesShown(engine)).toBe(3);
    } finally {
      await close();
    }
  });
});
