// DESFire badges through the real stack: the badge emulator on vpcd, pcscd, pcsclite (PcscMonitor), the
// agent's PC/SC backend reading the credential with a diversified key, and its session engine asking the
// real session server (PostgreSQL) who the badge belongs to. A genuine badge gets to the code pad; a
// clone, a flipped MAC byte, a truncated frame and a badge pulled mid-authentication each end in a clear
// error, nothing opened, and an audit record.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentError } from '../../shared/contract';
import { AuditLog } from '../../electron/core/audit/audit';
import { ServerAuthenticator } from '../../electron/core/auth/server-authenticator';
import type { BadgeProfile } from '../../electron/core/badge/desfire/credential';
import { LocalKeyCustody } from '../../electron/core/badge/desfire/custody';
import type { KeyCustody } from '../../electron/core/badge/desfire/custody';
import { RelayKeyCustody } from '../../electron/core/badge/desfire/relay-custody';
import { aidBytes } from '../../electron/core/badge/desfire/protocol';
import { PcscCpsBackend } from '../../electron/core/cps/pcsc-cps-backend';
import { lazyClient, registerWorkstation, workstationAssertion } from '../../electron/core/oidc/server-client';
import { PcscMonitor } from '../../electron/core/readers/pcsc/monitor';
import { SessionEngine } from '../../electron/core/session/engine';
import { systemClock } from '../../electron/core/util/clock';
import { loadPcsc } from '../../native/pcsclite';
import { startServer } from '../../server/src/app';
import type { SessionServer } from '../../server/src/app';
import { postgresDb } from '../../server/src/db';
import type { Db } from '../../server/src/db';
import { jsonLog } from '../../server/src/log';
import { DESFIRE_ATR, DesfireEmulator, hospitalBadge, TEST_BADGE } from '../cards/desfire-card';
import { startPcscd, waitFor } from '../pcscd';
import type { PcscdHandle } from '../pcscd';
import { startPostgres } from '../postgres';
import type { PostgresHandle } from '../postgres';
import { VirtualCard } from '../vpcd-client';
import type { ApduHandler } from '../vpcd-client';

const MASTER = TEST_BADGE.master;
const AID = aidBytes(TEST_BADGE.aid);
const UID = Buffer.from('04A1B2C3D4E5F6', 'hex');
const PROFILE: BadgeProfile = TEST_BADGE.profile;

let pcscd: PcscdHandle;
let pg: PostgresHandle;
let db: Db;
let server: SessionServer;
let monitor: PcscMonitor;
let backend: PcscCpsBackend;
let engine: SessionEngine;
const audit = new AuditLog();
const errors: AgentError[] = [];
const local = new LocalKeyCustody((aid, keyNo) => (aid.equals(AID) && keyNo === 1 ? MASTER : null));
let relay: RelayKeyCustody;
/** The custody the backend uses for the next tap (local first, then the server relay). */
let custody: KeyCustody = local;
const switchable: KeyCustody = {
  kind: 'local',
  begin: (r) => custody.begin(r),
  finish: (h, c) => custody.finish(h, c),
  abort: (h) => custody.abort(h),
};

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
  await card.remove();
  await waitFor(() => !monitor.list().some((r) => r.atr), 5000, 'badge gone');
  return card;
}

const audited = (action: string) => audit.recent(200).filter((r) => r.action === action);

beforeAll(async () => {
  pcscd = await startPcscd();
  process.env.PCSCLITE_CSOCK_NAME = pcscd.env.PCSCLITE_CSOCK_NAME;
  pg = await startPostgres();
  pg.createDatabase('sillage');
  db = postgresDb(pg.url('sillage'));
  server = await startServer({
    db,
    port: 0,
    trustAnchorsPem: [],
    desfireKeys: { 'F51230/1': MASTER.toString('hex') },
    log: jsonLog(() => {}, 'silent'),
  });
  const a = await server.directory.addAccount({
    idNat: '899999000011',
    adLogin: 'cmartin',
    lastName: 'MARTIN',
    firstName: 'Camille',
    profession: 'Infirmière',
    secret: '4821',
  });
  await server.directory.bindBadge('CHU-000123', a.id);
  const creds = await registerWorkstation(server.issuer, await server.directory.createEnrolmentToken('PC-B1'), 'PC-B1');
  const client = lazyClient(server.issuer, async () => creds, { allowHttp: true, timeoutMs: 3000 });
  relay = new RelayKeyCustody(client);
  const auth = new ServerAuthenticator({ client, clock: systemClock, pollMs: 60_000 });
  engine = new SessionEngine({ authenticator: auth, audit, clock: systemClock, inactivityMs: 0, tapDebounceMs: 0 });
  engine.onError.add((e) => errors.push(e));
  monitor = new PcscMonitor({ createContext: loadPcsc });
  backend = new PcscCpsBackend({
    monitor,
    module: () => null,
    badges: { profiles: () => [PROFILE], custody: switchable, allowUidOnly: () => false },
  });
  await backend.start((e) => engine.handleReaderEvent(e));
  await waitFor(() => monitor.list().length >= 2, 5000, 'virtual readers');
}, 120_000);

afterAll(async () => {
  await backend?.stop();
  await server?.close();
  await db?.close();
  await pg?.stop();
  await pcscd?.stop();
});

describe('DESFire badge through pcscd + vpcd + the session server', () => {
  it('a genuine badge yields its credential: the server knows its owner, the code is asked', async () => {
    const emu = encodedBadge('CHU-000123', MASTER, UID);
    const card = await tap(emu.handler, () => engine.getState().kind === 'pin-required', 1500);
    expect(engine.getState()).toMatchObject({
      kind: 'pin-required',
      secondFactor: 'session-code',
      identity: { lastName: 'MARTIN' },
      credential: { badgeProof: 'desfire-aes-diversified' },
    });
    // UID, select, EV2First (2 frames), ReadData: the whole tap.
    expect(card.apduCount).toBe(5);
    expect(audited('badge.tapped').at(-1)).toMatchObject({ factor: 'desfire-aes-diversified', outcome: 'info' });
    engine.cancel();
  });

  const refusals: [string, () => ApduHandler, AgentError['code'], RegExp][] = [
    [
      'a clone (same UID, wrong key)',
      () => encodedBadge('CHU-000123', Buffer.alloc(16, 0x77), UID).handler,
      'badge-not-genuine',
      /non authentique/,
    ],
    [
      'a flipped MAC byte',
      () => {
        const emu = encodedBadge('CHU-000123');
        return (apdu) => {
          const r = emu.process(apdu);
          if (apdu[1] === 0xbd) r[r.length - 3]! ^= 0x40;
          return r;
        };
      },
      'badge-unreadable',
      /MAC/,
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
      /octets/,
    ],
  ];

  for (const [what, handler, code, reason] of refusals) {
    it(`${what} → ${code}, nothing opened, audited`, async () => {
      const before = errors.length;
      await tap(handler(), () => errors.length > before);
      expect(errors.at(-1)).toMatchObject({ code });
      expect(engine.getState().kind).toBe('locked');
      const rec = audited('badge.refused').at(-1)!;
      expect(rec.outcome).toBe('failure');
      expect(rec.reason).toMatch(reason);
      expect(audited('badge.tapped').length).toBe(1);
    });
  }

  it('a badge pulled in the middle of the authentication → unreadable, nothing opened, audited', async () => {
    const emu = encodedBadge('CHU-000123');
    let card: VirtualCard | null = null;
    const before = errors.length;
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
    expect(audited('session.opened')).toHaveLength(0);
    await waitFor(() => !monitor.list().some((r) => r.atr), 5000, 'badge gone');
  });

  it('a badge without the hospital application is refused as not encoded (UID-only not allowed)', async () => {
    const before = errors.length;
    await tap(new DesfireEmulator().handler, () => errors.length > before);
    expect(errors.at(-1)).toMatchObject({ code: 'badge-not-encoded' });
    expect(audited('badge.refused').at(-1)!.reason).toMatch(/encoder/);
  });
});

describe('server custody: the session server holds the badge keys (relay)', () => {
  it('a genuine badge authenticates with keys only the server holds; a clone and a forged answer are refused, audited', async () => {
    custody = relay;
    try {
      const emu = encodedBadge('CHU-000123', MASTER, UID);
      await tap(emu.handler, () => engine.getState().kind === 'pin-required');
      expect(engine.getState()).toMatchObject({
        kind: 'pin-required',
        identity: { lastName: 'MARTIN' },
        credential: { badgeProof: 'desfire-aes-diversified' },
      });
      engine.cancel();
      // A clone fails on the card itself (the server's answer was made with the genuine key).
      let before = errors.length;
      await tap(encodedBadge('CHU-000123', Buffer.alloc(16, 0x77), UID).handler, () => errors.length > before);
      expect(errors.at(-1)).toMatchObject({ code: 'badge-not-genuine' });
      // A forged card that "accepts" anything and answers noise is caught by the server's check.
      const forged = encodedBadge('CHU-000123', MASTER, UID);
      before = errors.length;
      await tap(
        (apdu) =>
          apdu[1] === 0xaf ? Buffer.concat([Buffer.alloc(32, 0x42), Buffer.from([0x91, 0x00])]) : forged.process(apdu),
        () => errors.length > before,
      );
      expect(errors.at(-1)).toMatchObject({ code: 'badge-not-genuine' });
      const rows = (await server.audit.query({ action: 'badge.relay-auth' })) as {
        outcome: string;
        reason: string | null;
      }[];
      expect(rows.map((r) => r.outcome).sort()).toEqual(['ok', 'refused']);
      expect(rows.find((r) => r.outcome === 'refused')!.reason).toMatch(/not genuine/);
    } finally {
      custody = local;
    }
  });

  it('a revoked workstation gets no relay: the tap says the key server refused, nothing opens', async () => {
    const creds = await registerWorkstation(server.issuer, await server.directory.createEnrolmentToken('PC-X'), 'PC-X');
    await server.directory.revokeWorkstation(creds.clientId);
    const revoked = new RelayKeyCustody(
      lazyClient(server.issuer, async () => creds, { allowHttp: true, timeoutMs: 3000 }),
    );
    await expect(
      revoked.begin({
        scheme: 'ev2',
        ref: { aid: AID, keyNo: 1, divInput: Buffer.alloc(7) },
        encRndB: Buffer.alloc(16),
      }),
    ).rejects.toThrow(/unknown or revoked workstation/);
  });

  it('a relay call is signed by the workstation and single-use: a replayed assertion is refused', async () => {
    const creds = await registerWorkstation(server.issuer, await server.directory.createEnrolmentToken('PC-R'), 'PC-R');
    const assertion = await workstationAssertion(creds.key, creds.clientId, server.issuer);
    const body = {
      client_assertion: assertion,
      scheme: 'ev2',
      aid: AID.toString('base64url'),
      keyNo: 1,
      divInput: Buffer.alloc(7).toString('base64url'),
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
