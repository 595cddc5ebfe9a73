// The IT encoding tool on a blank emulated DESFire EV3 through pcscd + vpcd: dry run writes nothing,
// encode personalises, the agent's own reader path then reads the number with the diversified key, and
// every card that is not blank with factory defaults is refused untouched.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diversifyAes128 } from '../../electron/core/devices/badge/desfire/crypto';
import { readBadgeCredential } from '../../electron/core/devices/badge/desfire/credential';
import { diversificationInput, LocalKeyCustody } from '../../electron/core/devices/badge/desfire/custody';
import { aidBytes, DesfireCard } from '../../electron/core/devices/badge/desfire/protocol';
import { runBadgeCli } from '../../electron/core/devices/badge-encode-cli';
import { loadKeyFile } from '../../electron/core/devices/badge/key-file';
import { DESFIRE_ATR, DesfireEmulator } from '../cards/desfire-card';
import { loadPcsc } from '../../native/pcsclite';
import { PcscMonitor } from '../../electron/core/devices/pcsc';
import { startPcscd, takeOff } from '../pcscd';
import type { PcscdHandle } from '../pcscd';
import { VirtualCard } from '../vpcd-client';

let pcscd: PcscdHandle;
let monitor: PcscMonitor;
let dir: string;
const KEYS = { 'F51230/0': '0F1E2D3C4B5A69788796A5B4C3D2E1F0', 'F51230/1': 'A1B2C3D4E5F60718293A4B5C6D7E8F90' };
const PROFILE = { name: 'chu', aid: 'F51230', keyNo: 1, fileNo: 1, length: 16, mode: 'full', systemId: '434855' };
const AID = aidBytes('F51230');

async function cli(args: string[], emu: DesfireEmulator): Promise<{ code: number; out: string[] }> {
  const card = new VirtualCard({ atr: DESFIRE_ATR, handler: emu.handler });
  await card.insert(pcscd.ports[0]!);
  const out: string[] = [];
  try {
    const code = await runBadgeCli(
      [
        ...args,
        '--profile',
        path.join(dir, 'profile.json'),
        '--keys',
        path.join(dir, 'keys.json'),
        '--reader',
        pcscd.readerNames[0]!,
        '--wait-ms',
        '5000',
      ],
      (l) => out.push(l),
    );
    return { code, out };
  } finally {
    await takeOff(card, monitor, pcscd.readerNames[0]!);
    emu.powerOn();
  }
}

beforeAll(async () => {
  pcscd = await startPcscd();
  process.env.PCSCLITE_CSOCK_NAME = pcscd.env.PCSCLITE_CSOCK_NAME;
  monitor = new PcscMonitor({ createContext: loadPcsc });
  monitor.start();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-encode-'));
  fs.writeFileSync(path.join(dir, 'profile.json'), JSON.stringify(PROFILE));
  fs.writeFileSync(path.join(dir, 'keys.json'), JSON.stringify(KEYS), { mode: 0o600 });
}, 60_000);

afterAll(async () => {
  monitor?.stop();
  await pcscd?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('badge encoding tool (npm run badge)', () => {
  it('dry run: checks the blank card and prints the plan, writes nothing', async () => {
    const emu = new DesfireEmulator();
    const r = await cli(['encode', '--number', 'CHU-000123', '--dry-run'], emu);
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(/Plan \(rien écrit\).*EV3/);
    expect(r.out.join('\n')).toMatch(/clé 0 : clé maîtresse/);
    expect(emu.apps.size).toBe(0);
    expect(emu.log.filter((c) => [0xca, 0xcd, 0x3d, 0xc4].includes(c))).toEqual([]);
  });

  it('encode, then verify and the agent read the number with the badge’s own diversified keys', async () => {
    const emu = new DesfireEmulator();
    const r = await cli(['encode', '--number', 'CHU-000123'], emu);
    expect(r.code, r.out.join('\n')).toBe(0);
    const uid = emu.uid.toString('hex').toUpperCase();
    expect(r.out).toContain(`  npm run server:admin -- badge bind LOGIN --uid ${uid} --number CHU-000123`);
    const app = emu.apps.get(AID.toString('hex'))!;
    const div = diversificationInput(emu.uid, AID, PROFILE.systemId);
    expect(app.keys[1]).toEqual(diversifyAes128(Buffer.from(KEYS['F51230/1'], 'hex'), div));
    expect(app.keys[0]).toEqual(diversifyAes128(Buffer.from(KEYS['F51230/0'], 'hex'), div));
    expect(app.keys[0]).not.toEqual(Buffer.alloc(16));
    // No key printed, master or diversified.
    const printed = r.out.join('\n').toUpperCase();
    for (const k of [...Object.values(KEYS), app.keys[0]!.toString('hex'), app.keys[1]!.toString('hex')])
      expect(printed).not.toContain(k.toUpperCase());

    const v = await cli(['verify'], emu);
    expect(v.out[0]).toMatch(/Badge authentique — CHU-000123/);
    // The agent's tap proves the key diversified for this chip's UID: the UID encode printed.
    const c = await readBadgeCredential(
      { transmit: async (a) => emu.process(a) },
      [{ ...PROFILE, mode: 'full' }],
      new LocalKeyCustody(loadKeyFile(path.join(dir, 'keys.json'))),
    );
    expect(c).toMatchObject({ uid, proof: { kind: 'local-key', uid }, strength: 'desfire-aes-diversified' });

    // Encoding it again is refused: the application is there.
    const again = await cli(['encode', '--number', 'CHU-000999'], emu);
    expect(again.code).toBe(1);
    expect(again.out[0]).toMatch(/déjà présente/);
  });

  it('refuses cards that are not blank with factory defaults, untouched', async () => {
    const locked = new DesfireEmulator();
    locked.piccKeySettings = 0x09; // creation needs the PICC master key
    let r = await cli(['encode', '--number', 'CHU-1'], locked);
    expect(r.code).toBe(1);
    expect(r.out[0]).toMatch(/non par défaut/);
    expect(locked.apps.size).toBe(0);

    const ev1 = new DesfireEmulator({ generation: 'EV1' });
    r = await cli(['encode', '--number', 'CHU-1'], ev1);
    expect(r.out[0]).toMatch(/EV2 ou EV3 requise/);

    fs.chmodSync(path.join(dir, 'keys.json'), 0o644);
    try {
      r = await cli(['encode', '--number', 'CHU-1'], new DesfireEmulator());
      expect(r.code).toBe(1);
      expect(r.out[0]).toMatch(/trop ouvert.*chmod 600/);
    } finally {
      fs.chmodSync(path.join(dir, 'keys.json'), 0o600);
    }
  });

  it('a wrong key file (other master) fails verify as not genuine', async () => {
    const emu = new DesfireEmulator();
    expect((await cli(['encode', '--number', 'CHU-000777'], emu)).code).toBe(0);
    const card = new DesfireCard({ transmit: async (a) => emu.process(a) });
    await expect(
      readBadgeCredential(
        { transmit: (a) => card.transmit(a) },
        [{ ...PROFILE, mode: 'full' }],
        new LocalKeyCustody(() => Buffer.alloc(16, 0x33)),
      ),
    ).rejects.toMatchObject({ code: 'badge-not-genuine' });
  });
});
