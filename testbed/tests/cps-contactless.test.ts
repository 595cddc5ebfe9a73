// A CPS3 tapped on a contactless reader: its technical key ("Certificat Technique CPS",
// CPS_PRIV_TECH_AUT, usable without PIN) proves the card, and the session server classifies it as one
// factor: it re-opens a roaming session inside the window and nothing else. Through pcscd + vpcd (the
// CPS3 emulator's contactless face: the CPS3 contactless ATR, the contactless PKCS#15 application),
// OpenSC's IAS-ECC driver over PKCS#11, and the real server on PostgreSQL.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentError } from '../../shared/contract';
import type { AuditLog } from '../../electron/core/audit/audit';
import type { Pkcs11Module } from '../../electron/core/devices/cps/cryptolib';
import type { PcscCpsBackend } from '../../electron/core/devices/pcsc';
import type { SessionServerClient } from '../../electron/core/oidc/server-client';
import type { SessionEngine } from '../../electron/core/session/engine';
import type { SessionServer } from '../../server/src/app';
import { boundBadge, tapRead } from '../badges';
import type { DesfireEmulator } from '../cards/desfire-card';
import { startCps3Process } from '../cps3-process';
import type { Cps3Process } from '../cps3-process';
import { openscAgent, startOpenscBed } from '../opensc';
import type { OpenscAgent, OpenscBed } from '../opensc';
import { waitFor } from '../pcscd';
import type { PcscdHandle } from '../pcscd';
import { makeTestPki } from '../pki';
import { enrolWorkstation, serverAuthenticator, startServerStack } from '../stack';
import type { ServerStack } from '../stack';

const R0 = 'Virtual PCD 00 00';
const PERSON = { idNat: '899999000011', lastName: 'MARTIN', firstName: 'Camille', profession: 'Infirmière' };
let stack: ServerStack;
let bed: OpenscBed;
let pcscd: PcscdHandle;
let server: SessionServer;
let agent: OpenscAgent;
let mod: Pkcs11Module;
let card: Cps3Process;
let backend: PcscCpsBackend;
let engine: SessionEngine;
let audit: AuditLog;
let errors: AgentError[];
let client: () => Promise<SessionServerClient>;
let badge: DesfireEmulator;

async function tapCps(until: () => boolean): Promise<void> {
  await card.send('insert', pcscd.ports[0]!);
  await waitFor(until, 10_000, 'contactless CPS handled');
  await card.send('remove');
  await waitFor(() => !backend.readers().some((r) => r.cardPresent), 5000, 'card gone');
}

beforeAll(async () => {
  bed = await startOpenscBed('sillage-cps-tech-');
  pcscd = bed.pcscd;
  const pki = makeTestPki(path.join(bed.dir, 'pki'));
  card = startCps3Process(
    PERSON,
    { auth: pki.issue(PERSON), tech: pki.issue(PERSON, 'tech', { kind: 'tech' }) },
    { iface: 'contactless' },
  );
  stack = await startServerStack({
    trustAnchorsPem: [pki.root.certPem],
    intermediateCasPem: [pki.ca.certPem],
  });
  server = stack.server;
  const a = await server.directory.addAccount({ ...PERSON, adLogin: 'cmartin', secret: '4821' });
  badge = await boundBadge(server.directory, a.id, 'CHU-000123');
  client = (await enrolWorkstation(server, 'PC')).client;
  agent = await openscAgent(serverAuthenticator(client));
  ({ mod, backend, engine, audit, errors } = agent);
}, 120_000);

afterAll(async () => {
  await card?.stop();
  await agent?.stop();
  await stack?.close();
  await bed?.close();
});

describe('contactless CPS: technical key, 1 factor, re-open only', () => {
  it('without a roaming session the tap opens nothing: insert the card and type the PIN', async () => {
    const before = errors.length;
    await tapCps(() => errors.length > before);
    expect(errors.at(-1)).toMatchObject({ code: 'mfa-required', params: { credential: 'cps' } });
    expect(engine.getState()).toEqual({ kind: 'locked', reason: 'auth-failed' });
    const rows = await server.audit.query({ action: 'reopen.cps' });
    expect(rows.map((r) => r.outcome)).toEqual(['refused']);
  });

  it('inside the window it re-opens the session of the 2-factor login, without PIN; the same tap again locks', async () => {
    engine.handleReaderEvent({ type: 'badge-tapped', badge: await tapRead(client, badge) });
    await waitFor(() => engine.getState().kind === 'pin-required', 5000, 'PIN pad');
    expect(await engine.submitPin('4821')).toEqual({ accepted: true });
    const first = engine.getState();
    if (first.kind !== 'open') throw new Error('not open');
    engine.lock('user-lock');

    await tapCps(() => engine.getState().kind === 'open');
    const st = engine.getState();
    expect(st.kind === 'open' && st.session).toMatchObject({
      assurance: 're-open',
      factors: ['card-contactless'],
      authTime: first.session.authTime,
      user: { idNat: PERSON.idNat },
      credential: { kind: 'cps-card', cardType: 'CPS3 (sans contact)' },
    });
    const rows = await server.audit.query({ action: 'reopen.cps' });
    expect(rows.map((r) => r.outcome).sort()).toEqual(['ok', 'refused']);
    expect(audit.recent(50).map((r) => r.action)).toEqual(
      expect.arrayContaining(['cps.contactless', 'session.reopened']),
    );

    await tapCps(() => engine.getState().kind === 'locked');
    expect(engine.getState()).toEqual({ kind: 'locked', reason: 'tap-out' });
  });

  it('the technical key signs without login, the authentication key does not', async () => {
    await card.send('insert', pcscd.ports[0]!);
    try {
      let slot: ReturnType<Pkcs11Module['slotHolding']> = null;
      await waitFor(
        () => (slot = mod.slotHolding(mod.slotsForReader(R0), 'Certificat Technique CPS')) !== null,
        10_000,
        'technical certificate',
      );
      const tech = mod.openCard(slot!, { reader: R0, cardType: 'CPS3', keyKind: 'tech' });
      const auth = mod.openCard(slot!, { reader: R0, cardType: 'CPS3' });
      try {
        const proof = await tech.sign(Buffer.from('challenge'));
        expect(proof.signature.length).toBe(256);
        expect((await card.send('status')).signCount).toBeGreaterThan(0);
        await expect(auth.sign(Buffer.from('challenge'))).rejects.toThrow(/not logged in/);
      } finally {
        await tech.release();
        await auth.release();
      }
    } finally {
      await card.send('remove');
    }
  });
});
