// DESFire badges through the real stack: the badge emulator on vpcd, pcscd, pcsclite (PcscMonitor), the
// agent's PC/SC backend authenticating the badge with the keys the session server holds (relay), and its
// session engine sending the card's answer to the server (PostgreSQL), which checks it and says whose
// badge it is. A genuine badge gets to the code pad and, with the code, a session; a clone, a forged
// answer, a truncated frame and a badge pulled mid-authentication each end in a clear error, nothing
// opened, and an audit record; a random-UID badge proves the key of its real UID.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentError } from '../../shared/contract';
import { AuditLog } from '../../electron/core/audit/audit';
import { diversificationInput, LocalKeyCustody } from '../../electron/core/devices/badge/desfire/custody';
import type { KeyCustody } from '../../electron/core/devices/badge/desfire/custody';
import { diversifyAes128 } from '../../electron/core/devices/badge/desfire/crypto';
import { RelayKeyCustody } from '../../electron/core/oidc/relay-custody';
import { aidBytes } from '../../electron/core/devices/badge/desfire/protocol';
import { PcscCpsBackend, PcscMonitor } from '../../electron/core/devices/pcsc';
import { workstationAssertion } from '../../electron/core/oidc/server-client';
import type { SessionEngine } from '../../electron/core/session/engine';
import { loadPcsc } from '../../native/pcsclite';
import type { SessionServer } from '../../server/src/app';
import { DESFIRE_ATR, DesfireEmulator, hospitalBadge, TEST_BADGE } from '../cards/desfire-card';
import { keyCard } from '../key-card';
import { makeTestPki } from '../pki';
import type { TestPki } from '../pki';
import { startPcscd, takeOff, waitFor } from '../pcscd';
import type { PcscdHandle } from '../pcscd';
import { enrolWorkstation, serverEngine, STAFF, startServerStack } from '../stack';
import type { ServerStack } from '../stack';
import { VirtualCard } from '../vpcd-client';
import type { ApduHandler } from '../vpcd-client';
import type { BadgeProfile } from '../../electron/core/config/badge-profile';

const MASTER = TEST_BADGE.master;
const AID = aidBytes(TEST_BADGE.aid);
const UID = Buffer.from('04A1B2C3D4E5F6', 'hex');
const PROFILE: BadgeProfile = TEST_BADGE.profile;
const RANDOM_UID_REAL = Buffer.from('04C0FFEE123456', 'hex');

let pcscd: PcscdHandle;
let stack: ServerStack;
let server: SessionServer;
let monitor: PcscMonitor;
let backend: PcscCpsBackend;
let engine: SessionEngine;
const audit = new AuditLog();
const errors: AgentError[] = [];
const UID_KEY = Buffer.from('0F1E2D3C4B5A69788796A5B4C3D2E1F0', 'hex');
const local = new LocalKeyCustody((aid, keyNo) => (aid.equals(AID) && keyNo === 1 ? MASTER : null));
let relay: RelayKeyCustody;
/** The custody the backend uses for the next tap: the server relay (the default), or keys on the PC. */
let custody: KeyCustody;
const switchable: KeyCustody = {
  kind: 'server-relay',
  begin: (r) => custody.begin(r),
  finish: (h, c) => custody.finish(h, c),
  proof: (h, c, ref) => custody.proof(h, c, ref),
  abort: (h) => custody.abort(h),
};
let profiles: BadgeProfile[] = [PROFILE];
let accountId: string;
let requests = 0;
let pki: TestPki;
let dir: string;

function encodedBadge(number: string, master = MASTER, uid?: Buffer): DesfireEmulator {
  return hospitalBadge(number, { master, ...(uid ? { uid } : {}) });
}

/** Puts the badge on the reader, waits for the agent to finish with it, takes it away. */
async function tap(handler: ApduHandler, until: () => boolean, holdMs = 0): Promise<VirtualCard> {
  const card = new VirtualCard({ atr: DESFIRE_ATR, handler });
  await card.insert(pcscd.ports[0]!);
  await waitFor(until, 8000, 'tap handled');
  // A badge left on the reader is read once, not again at each status change of the reader.
  if (holdMs) await new Promise((r) => setTimeout(r, holdMs));
  await takeOff(card, monitor, pcscd.readerNames[0]!);
  return card;
}

const audited = (action: string) => audit.recent(200).filter((r) => r.action === action);

beforeAll(async () => {
  pcscd = await startPcscd();
  process.env.PCSCLITE_CSOCK_NAME = pcscd.env.PCSCLITE_CSOCK_NAME;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-desfire-'));
  pki = makeTestPki(path.join(dir, 'pki'));
  stack = await startServerStack({
    // Camille's CPS card, for the badge enrolment that follows a card + PIN login.
    trustAnchorsPem: [pki.root.certPem],
    intermediateCasPem: [pki.ca.certPem],
    desfireKeys: { 'F51230/1': MASTER.toString('hex'), 'F51230/2': UID_KEY.toString('hex') },
  });
  server = stack.server;
  const a = await server.directory.addAccount(STAFF.camille);
  accountId = a.id;
  await server.directory.bindBadge({ uid: UID.toString('hex'), number: 'CHU-000123' }, a.id);
  await server.directory.bindBadge({ uid: RANDOM_UID_REAL.toString('hex') }, a.id);
  // Every HTTP request the agent makes to the server goes through here (a tap's round trips are counted).
  const counting: typeof fetch = (input, init) => {
    requests += 1;
    return fetch(input, init);
  };
  const { client } = await enrolWorkstation(server, 'PC-B1', { fetch: counting });
  await client();
  relay = new RelayKeyCustody(client);
  custody = relay;
  engine = serverEngine(client, audit);
  engine.onError.add((e) => errors.push(e));
  monitor = new PcscMonitor({ createContext: loadPcsc });
  backend = new PcscCpsBackend({
    monitor,
    module: () => null,
    badges: { profiles: () => profiles, custody: switchable, allowUidOnly: () => false },
  });
  await backend.start((e) => engine.handleReaderEvent(e));
  await waitFor(() => monitor.list().length >= 2, 5000, 'virtual readers');
}, 120_000);

afterAll(async () => {
  await backend?.stop();
  await stack?.close();
  await pcscd?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A random-UID badge: anticollision shows 08xxxxxx, GetCardUID (after the shared key 2) the real UID. */
function randomUidBadge(): DesfireEmulator {
  const emu = new DesfireEmulator({ uid: RANDOM_UID_REAL, randomUid: true });
  const key = diversifyAes128(MASTER, diversificationInput(RANDOM_UID_REAL, AID, TEST_BADGE.systemId));
  emu.install(AID, { keys: [Buffer.alloc(16, 0x5a), key, UID_KEY] });
  return emu;
}

describe('DESFire badge through pcscd + vpcd + the session server (relay)', () => {
  it('a genuine badge: 4 APDUs and 2 requests to the server, its owner on the code pad, the code opens', async () => {
    const emu = encodedBadge('CHU-000123', MASTER, UID);
    requests = 0;
    const card = await tap(emu.handler, () => engine.getState().kind === 'pin-required', 1500);
    // The relay's challenge, then the grant carrying the card's answer.
    expect(requests).toBe(2);
    expect(engine.getState()).toMatchObject({
      kind: 'pin-required',
      secondFactor: 'session-code',
      identity: { lastName: 'MARTIN' },
      credential: { badgeProof: 'desfire-aes-diversified' },
    });
    // UID, select, EV2First (2 frames): the whole tap; no key and no file ever reach the PC.
    expect(card.apduCount).toBe(4);
    expect(audited('badge.tapped').at(-1)).toMatchObject({ factor: 'desfire-aes-diversified', outcome: 'info' });
    expect(await engine.submitPin('4821')).toEqual({ accepted: true });
    const st = engine.getState();
    expect(st.kind === 'open' && st.session.assurance).toBe('mfa');
    const uid = UID.toString('hex').toUpperCase();
    expect((await server.audit.query({ action: 'reopen.badge' })).at(-1)).toMatchObject({
      outcome: 'refused',
      reason: 'mfa_required',
      details: { proof: 'desfire', uid, key: 'F51230/1' },
    });
    expect((await server.audit.query({ action: 'login.badge' })).at(-1)).toMatchObject({
      outcome: 'ok',
      factor: 'hwk+pin',
      details: expect.objectContaining({ proof: 'desfire', uid }),
    });
    engine.lock('user-lock');
    // The next tests start from the first tap of a shift again.
    await server.sessions.endAllForAccount(accountId, 'test');
  });

  const refusals: [string, () => ApduHandler, AgentError['code'], string, RegExp][] = [
    [
      'a clone (same UID, wrong key): the card refuses the server’s challenge',
      () => encodedBadge('CHU-000123', Buffer.alloc(16, 0x77), UID).handler,
      'badge-not-genuine',
      'badge.refused',
      /non authentique/,
    ],
    [
      'a forged card that accepts anything and answers noise: the server’s check refuses it',
      () => {
        const emu = encodedBadge('CHU-000123', MASTER, UID);
        return (apdu) =>
          apdu[1] === 0xaf ? Buffer.concat([Buffer.alloc(32, 0x42), Buffer.from([0x91, 0x00])]) : emu.process(apdu);
      },
      'badge-not-genuine',
      'auth.refused',
      /badge_not_genuine/,
    ],
    [
      'a truncated frame',
      () => {
        const emu = encodedBadge('CHU-000123');
        return (apdu) => {
          const r = emu.process(apdu);
          return apdu[1] === 0xaf ? Buffer.concat([r.subarray(0, 7), r.subarray(r.length - 2)]) : r;
        };
      },
      'badge-unreadable',
      'badge.refused',
      /octets/,
    ],
  ];

  for (const [what, handler, code, action, reason] of refusals) {
    it(`${what} → ${code}, nothing opened, audited`, async () => {
      const before = errors.length;
      await tap(handler(), () => errors.length > before);
      expect(errors.at(-1)).toMatchObject({ code });
      expect(engine.getState().kind).toBe('locked');
      const rec = audited(action).at(-1)!;
      expect(rec.outcome).toBe('failure');
      expect(rec.reason).toMatch(reason);
    });
  }

  it('a badge pulled in the middle of the authentication → unreadable, nothing opened, audited', async () => {
    const emu = encodedBadge('CHU-000123');
    let card: VirtualCard | null = null;
    const before = errors.length;
    const opened = audited('session.opened').length;
    const handler: ApduHandler = (apdu) => {
      if (apdu[1] === 0xaf) {
        void card!.remove();
        return new Promise<Buffer>(() => {}); // never answered: the badge left the field
      }
      return emu.process(apdu);
    };
    card = new VirtualCard({ atr: DESFIRE_ATR, handler });
    await card.insert(pcscd.ports[0]!);
    await waitFor(() => errors.length > before, 8000, 'refusal');
    expect(errors.at(-1)).toMatchObject({ code: 'badge-unreadable' });
    expect(audited('badge.refused').at(-1)!.reason).toMatch(/retiré|perdu/);
    expect(engine.getState().kind).toBe('locked');
    expect(audited('session.opened')).toHaveLength(opened);
    await waitFor(() => !monitor.list().some((r) => r.atr), 5000, 'badge gone');
  });

  it('a badge without the hospital application is refused as not encoded (UID-only not allowed)', async () => {
    const before = errors.length;
    await tap(new DesfireEmulator().handler, () => errors.length > before);
    expect(errors.at(-1)).toMatchObject({ code: 'badge-not-encoded' });
    expect(audited('badge.refused').at(-1)!.reason).toMatch(/encoder/);
  });

  it('a random-UID badge: the shared key reads its real UID, then it proves the key diversified for that UID', async () => {
    profiles = [{ ...PROFILE, uidKeyNo: 2 }];
    try {
      const emu = randomUidBadge();
      const card = await tap(emu.handler, () => engine.getState().kind === 'pin-required');
      expect(engine.getState()).toMatchObject({ kind: 'pin-required', identity: { lastName: 'MARTIN' } });
      // UID, select, EV2First with key 2 (2), GetCardUID, EV2First with key 1 (2).
      expect(card.apduCount).toBe(7);
      const tapped = await server.audit.query({ action: 'reopen.badge' });
      expect(tapped.at(-1)!.details).toMatchObject({ uid: RANDOM_UID_REAL.toString('hex').toUpperCase() });
      expect((await server.audit.query({ action: 'badge.relay-auth' })).at(-1)).toMatchObject({
        outcome: 'ok',
        details: { key: 'F51230/2' },
      });
      engine.cancel();
    } finally {
      profiles = [PROFILE];
    }
  });

  it("keys on the workstation (local custody): the server does not take the workstation's word by default", async () => {
    custody = local;
    try {
      const before = errors.length;
      await tap(encodedBadge('CHU-000123', MASTER, UID).handler, () => errors.length > before);
      expect(errors.at(-1)).toMatchObject({ code: 'badge-weak' });
      expect(engine.getState().kind).toBe('locked');
      const rows = await server.audit.query({ action: 'badge.tap' });
      expect(rows.at(-1)).toMatchObject({ outcome: 'refused', reason: 'badge_weak', factor: 'badge-ws' });
    } finally {
      custody = relay;
    }
  });
});

describe('server custody: the session server holds the badge keys (relay)', () => {
  it('a revoked workstation gets no relay: the tap says the key server refused, nothing opens', async () => {
    const { creds, client } = await enrolWorkstation(server, 'PC-X');
    await server.directory.revokeWorkstation(creds.clientId);
    const revoked = new RelayKeyCustody(client);
    await expect(
      revoked.begin({
        scheme: 'ev2',
        ref: { aid: AID, keyNo: 1, uid: UID, systemId: Buffer.alloc(0) },
        encRndB: Buffer.alloc(16),
      }),
    ).rejects.toThrow(/unknown or revoked workstation/);
  });

  it('a workstation revoked after its relay calls went through gets no more of them', async () => {
    const { creds, client } = await enrolWorkstation(server, 'PC-Y');
    const custodyOf = new RelayKeyCustody(client);
    const begin = () =>
      custodyOf.begin({
        scheme: 'ev2',
        ref: { aid: AID, keyNo: 1, uid: UID, systemId: Buffer.alloc(0) },
        encRndB: Buffer.alloc(16),
      });
    // This instance has seen the workstation's key: the next calls are checked against its status only.
    await begin();
    await begin();
    await server.directory.revokeWorkstation(creds.clientId);
    await expect(begin()).rejects.toThrow(/unknown or revoked workstation/);
    const [refusal] = await server.audit.query({ action: 'badge.relay-auth', limit: 1 });
    expect(refusal).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/revoked workstation/) });
  });

  it('a relay call is signed by the workstation and single-use: a replayed assertion is refused', async () => {
    const { creds } = await enrolWorkstation(server, 'PC-R');
    const assertion = await workstationAssertion(creds.key, creds.clientId, server.issuer);
    const body = {
      client_assertion: assertion,
      scheme: 'ev2',
      aid: AID.toString('base64url'),
      keyNo: 1,
      uid: UID.toString('base64url'),
      encRndB: Buffer.alloc(16).toString('base64url'),
    };
    const post = () =>
      fetch(`${server.issuer}/sillage/desfire/auth/begin`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post()).status).toBe(200);
    const again = await post();
    expect(again.status).toBe(401);
    expect(await again.json()).toMatchObject({
      error: 'invalid_client',
      error_description: 'client_assertion replayed',
    });
  });
});

describe('badge self-enrolment: after a CPS card + PIN login, the next tap on this workstation', () => {
  it('binds a new badge by its own proof, refuses someone else’s, and the new badge then re-opens the session', async () => {
    const louis = await server.directory.addAccount({ ...STAFF.louis, secret: '1357' });
    const LOUIS_UID = Buffer.from('04B0B0B0000029', 'hex');
    await server.directory.bindBadge({ uid: LOUIS_UID.toString('hex'), number: 'CHU-000456' }, louis.id);
    const NEW_UID = Buffer.from('04E7E7E7000011', 'hex');
    const fresh = encodedBadge('CHU-000789', MASTER, NEW_UID);
    expect(await server.directory.badgeOwner({ uid: NEW_UID.toString('hex').toUpperCase() })).toEqual({
      refused: 'unknown',
    });
    const camille = pki.issue({
      idNat: '899999000011',
      lastName: 'MARTIN',
      firstName: 'Camille',
      profession: 'Infirmière',
    });
    const card = keyCard(camille.certPem, camille.keyPem);
    const enrolment = () => {
      const st = engine.getState();
      return st.kind === 'open' ? (st.enrolment?.status ?? 'none') : st.kind;
    };
    try {
      engine.handleReaderEvent({ type: 'card-inserted', card });
      await waitFor(() => engine.getState().kind === 'pin-required', 5000, 'CPS PIN pad');
      expect(await engine.submitPin('1234')).toEqual({ accepted: true });
      expect(engine.getState()).toMatchObject({
        kind: 'open',
        session: { assurance: 'mfa' },
        enrolment: { status: 'offered' },
      });

      // "Associer un badge", then the new badge through pcscd + vpcd: the server checks its relay proof.
      expect(engine.enrolBadge()).toMatchObject({ kind: 'open', enrolment: { status: 'waiting' } });
      await tap(fresh.handler, () => ['bound', 'refused'].includes(enrolment()));
      expect(engine.getState()).toMatchObject({
        kind: 'open',
        session: { user: { lastName: 'MARTIN' } },
        enrolment: { status: 'bound' },
      });
      expect(await server.directory.badgeOwner({ uid: NEW_UID.toString('hex').toUpperCase() })).toMatchObject({
        account: { id: accountId },
      });
      expect((await server.audit.query({ action: 'badge.enrol' })).at(-1)).toMatchObject({
        outcome: 'ok',
        accountId,
      });
      expect(audited('badge.enrolled').at(-1)).toMatchObject({ outcome: 'success', idNat: '899999000011' });

      // Louis's badge: someone else's. Camille's session stays open, the screen says why.
      engine.enrolBadge();
      await tap(encodedBadge('CHU-000456', MASTER, LOUIS_UID).handler, () =>
        ['bound', 'refused'].includes(enrolment()),
      );
      expect(engine.getState()).toMatchObject({
        kind: 'open',
        session: { user: { lastName: 'MARTIN' } },
        enrolment: { status: 'refused', code: 'badge-taken' },
      });
      expect(audited('badge.enrol').at(-1)).toMatchObject({
        outcome: 'failure',
        reason: expect.stringMatching(/^badge-taken/),
      });
      expect(await server.directory.badgeOwner({ uid: LOUIS_UID.toString('hex').toUpperCase() })).toMatchObject({
        account: { id: louis.id },
      });

      // Cancelled: back to the offer.
      engine.enrolBadge();
      expect(engine.cancel()).toMatchObject({ kind: 'open', enrolment: { status: 'offered' } });

      // The card out, the new badge re-opens Camille's roaming session with a tap (1 factor): no enrolment.
      engine.handleReaderEvent({ type: 'card-removed', reader: card.reader });
      expect(engine.getState()).toMatchObject({ kind: 'locked', reason: 'card-removed' });
      await tap(fresh.handler, () => engine.getState().kind === 'open');
      const st = engine.getState();
      expect(st).toMatchObject({ kind: 'open', session: { assurance: 're-open', user: { lastName: 'MARTIN' } } });
      expect(st.kind === 'open' && st.enrolment).toBeUndefined();
      expect(() => engine.enrolBadge()).toThrow(/no badge enrolment/);
    } finally {
      engine.lock('user-lock');
      await server.sessions.endAllForAccount(accountId, 'test');
    }
  });
});
