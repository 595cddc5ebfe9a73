// Every published setting has an effect: for each key of the schema (the ADMX, the policy file, the MSI
// properties), a test through the composition root (core/app/compose.ts, what the desktop app and
// headless mode both run) shows the agent behaving differently with it — not only that it parses. A new
// setting without an entry in EFFECTS fails the first test.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AgentError, DiagnosticsReport } from '../../shared/contract';
import { composeAgent } from '../../electron/core/app/compose';
import type { ComposedAgent, Platform } from '../../electron/core/app/compose';
import { developmentPlainStore } from '../../electron/core/keys/secret-store';
import type { SecretStore } from '../../electron/core/keys/secret-store';
import { safeStorageStore } from '../../electron/shell/secret-store';
import { startSwtpm } from '../../testbed/swtpm';
import type { HidDevice, HidHost } from '../../electron/core/devices/badge/hid/transport';
import { sha256Hex } from '../../electron/core/broker/broker';
import { confPreferences } from '../../electron/core/config/preferences';
import { SCHEMA } from '../../electron/core/config/schema';
import { JsonFilePolicySource } from '../../electron/core/config/store';
import { DemoPki } from '../../electron/core/demo/demo-pki';
import { ManualClock } from '../../electron/core/util/clock';
import type { Clock } from '../../electron/core/util/clock';
import { peerCredentials } from '../../native/peercred';
import { DESFIRE_ATR, hospitalBadge, TEST_BADGE } from '../../testbed/cards/desfire-card';
import { startPcscd, waitFor } from '../../testbed/pcscd';
import type { PcscdHandle } from '../../testbed/pcscd';
import { BrokerClient } from '../../testbed/reference-dpi';
import { VirtualCard } from '../../testbed/vpcd-client';
import { startTestServer } from './session-server';

let tmp: string;
let pcscd: PcscdHandle;
const running: ComposedAgent[] = [];

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-effects-'));
  pcscd = await startPcscd();
  process.env.PCSCLITE_CSOCK_NAME = pcscd.env.PCSCLITE_CSOCK_NAME;
}, 60_000);
afterEach(async () => {
  for (const a of running.splice(0)) await a.close();
});
afterAll(async () => {
  await pcscd?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Harness {
  agent: ComposedAgent;
  dir: string;
  osLocks: number;
  opened: string[];
  errors: AgentError[];
}

/** An agent composed from this machine policy, with test adapters (no real OS lock, no browser). */
async function agentWith(
  policy: Record<string, unknown>,
  opts: {
    clock?: Clock;
    pcsc?: boolean;
    hidHost?: HidHost;
    dataDir?: string;
    secretStore?: SecretStore;
    /** The OS's own TPM probe (tpm2-pkcs11, here on swtpm) instead of a PC without a TPM. */
    tpm?: boolean;
  } = {},
): Promise<Harness> {
  const dir = opts.dataDir ?? fs.mkdtempSync(path.join(tmp, 'pc-'));
  const policyFile = path.join(dir, 'policy.json');
  fs.writeFileSync(policyFile, JSON.stringify(policy));
  const h = { dir, osLocks: 0, opened: [] as string[], errors: [] as AgentError[] } as Harness;
  const platform: Platform = {
    mode: 'headless',
    packaged: true,
    hardware: { pcsc: opts.pcsc ?? false, hid: opts.hidHost !== undefined },
    canEmbedServer: false,
    embeddedServer: null,
    nodeExecutable: process.execPath,
    dataDir: dir,
    logDir: path.join(dir, 'logs'),
    secretStore: opts.secretStore ?? developmentPlainStore,
    ...(opts.tpm ? {} : { hardwareKeys: () => ({ ok: false, reason: NO_TPM }) }),
    workstationName: 'PC-effects',
    brokerSocketPath: path.join(dir, 'run', 'broker.sock'),
    identifyPeer: peerCredentials,
    openUrl: async (url) => void h.opened.push(url),
    lockOperatingSystem: async () => void h.osLocks++,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.hidHost ? { hidHost: opts.hidHost } : {}),
    ...(opts.pcsc ? { pcscReaderFilter: (n: string) => n === pcscd.readerNames[0] } : {}),
  };
  h.agent = await composeAgent(
    { policy: new JsonFilePolicySource(policyFile), preferences: confPreferences(dir) },
    platform,
  );
  h.agent.engine.onError.add((e) => h.errors.push(e));
  running.push(h.agent);
  return h;
}

const NO_TPM = 'pas de TPM sur ce banc de test';

/** A user's 2-factor login at the real server through the agent: demo badge, then the code. */
async function badgeLogin(a: ComposedAgent) {
  await tapDemo(a, 'badge-camille');
  await ui(a, 'session.submitPin', { pin: '1234' });
  await waitFor(() => a.getState().kind === 'open', 10_000, 'session open at the server');
}

const ui = (a: ComposedAgent, cmd: string, req = {}) => a.api.handle(cmd, req, { transport: 'inproc' });
const audited = (a: ComposedAgent, action: string) => a.audit.recent(200).filter((r) => r.action === action);
const DEMO = { DemoMode: 1 };
/** A session server nobody answers at (the agent treats it as down). */
const DEAD_SERVER = 'http://127.0.0.1:9';

async function cardLogin(a: ComposedAgent, cardId = 'cps-camille', pin = '1234') {
  await ui(a, 'demo.insertCard', { cardId });
  await waitFor(() => a.getState().kind === 'pin-required', 5000, 'PIN pad');
  await ui(a, 'session.submitPin', { pin });
  await waitFor(() => !['pin-required', 'authenticating'].includes(a.getState().kind), 10_000, 'PIN checked');
}

async function tapDemo(a: ComposedAgent, badgeId: string) {
  const before = a.getState();
  await ui(a, 'demo.tapBadge', { badgeId });
  await waitFor(() => a.getState().kind !== 'authenticating' && a.getState().kind !== 'presented', 5000, 'tap');
  return before;
}

/** A DESFire badge on the PC/SC reader, until the agent is done with it. */
async function tapPcsc(h: Harness, until: () => boolean) {
  // pcscd sees a vpcd card leave ~300 ms after it did: the reader must be empty before the next badge.
  const empty = () => h.agent.getReaders().some((r) => r.transport === 'pcsc' && !r.cardPresent);
  await waitFor(empty, 10_000, 'empty PC/SC reader');
  const card = new VirtualCard({ atr: DESFIRE_ATR, handler: hospitalBadge('CHU-000123').handler });
  await card.insert(pcscd.ports[0]!);
  await waitFor(until, 10_000, 'badge handled');
  await card.remove();
  await waitFor(empty, 10_000, 'badge gone');
}

function keyFile(dir: string, mode = 0o600): string {
  const f = path.join(dir, 'badge-keys.json');
  fs.writeFileSync(f, JSON.stringify({ 'F51230/1': TEST_BADGE.master.toString('hex') }), { mode });
  fs.chmodSync(f, mode);
  return f;
}

const EFFECTS: Record<string, () => Promise<void>> = {
  async ServerUrl() {
    const none = await agentWith({});
    expect(none.agent.policy().notConfigured).toEqual({ setting: 'ServerUrl', problem: null });
    expect(none.agent.getReaders()).toEqual([]);
    const srv = await startTestServer();
    try {
      const pc = await agentWith({ ServerUrl: srv.issuer, EnrolmentToken: await srv.token() });
      expect(pc.agent.policy().notConfigured).toBeUndefined();
      const exported = await ui(pc.agent, 'diagnostics.export');
      const report = JSON.parse((exported as { result: { content: string } }).result.content) as {
        server: { url: string; reachable: boolean };
      };
      expect(report.server).toMatchObject({ url: srv.issuer, reachable: true });
      expect(audited(pc.agent, 'workstation.registered')[0]!.reason).toContain(srv.issuer);
    } finally {
      await srv.close();
    }
  },

  async EnrolmentToken() {
    const srv = await startTestServer();
    try {
      const without = await agentWith({ ServerUrl: srv.issuer });
      expect(audited(without.agent, 'workstation.registered')).toMatchObject([{ outcome: 'failure' }]);
      expect(fs.existsSync(path.join(without.dir, 'workstation.sealed'))).toBe(false);
      const policy = { ServerUrl: srv.issuer, EnrolmentToken: await srv.token() };
      const pc = await agentWith(policy);
      expect(audited(pc.agent, 'workstation.registered')).toMatchObject([{ outcome: 'success' }]);
      const sealed = fs.readFileSync(path.join(pc.dir, 'workstation.sealed'));
      expect(fs.statSync(path.join(pc.dir, 'workstation.sealed')).mode & 0o777).toBe(0o600);
      // A restart with the same (now used) token: the kept key is reused, the token is not spent again.
      await pc.agent.close();
      const again = await agentWith(policy, { dataDir: pc.dir });
      expect(audited(again.agent, 'workstation.registered')).toEqual([]);
      expect(fs.readFileSync(path.join(pc.dir, 'workstation.sealed'))).toEqual(sealed);
    } finally {
      await srv.close();
    }
  },

  async AllowSoftwareWorkstationKey() {
    const srv = await startTestServer();
    const tpm = await startSwtpm();
    try {
      const diag = async (a: ComposedAgent) =>
        ((await ui(a, 'diagnostics.get')) as { result: DiagnosticsReport }).result.workstation;
      // No TPM: a software key by default, and the diagnostic says there is no TPM.
      const soft = await agentWith({ ...DEMO, ServerUrl: srv.issuer, EnrolmentToken: await srv.token() });
      expect(audited(soft.agent, 'workstation.registered')[0]!.reason).toContain('key: software');
      expect(await diag(soft.agent)).toMatchObject({ key: 'software', tpm: NO_TPM, problem: null });
      await badgeLogin(soft.agent);
      // Refused by policy: nothing registered, the token kept for a PC that has a TPM, the diagnostic says why.
      const policy = {
        ...DEMO,
        ServerUrl: srv.issuer,
        EnrolmentToken: await srv.token(),
        AllowSoftwareWorkstationKey: 0,
      };
      const refused = await agentWith(policy);
      expect(audited(refused.agent, 'workstation.registered')).toMatchObject([
        { outcome: 'failure', reason: expect.stringContaining('clé logicielle refusée') },
      ]);
      expect(await diag(refused.agent)).toMatchObject({
        key: 'none',
        tpm: NO_TPM,
        problem: expect.stringContaining(NO_TPM),
      });
      expect(fs.existsSync(path.join(refused.dir, 'workstation.sealed'))).toBe(false);
      // With a TPM (swtpm through tpm2-pkcs11, the OS's own probe) the same policy registers a TPM key, and
      // a badge login's grants are signed by it.
      process.env.TPM2_PKCS11_TCTI = tpm.tcti;
      const inTpm = await agentWith(policy, { tpm: true });
      expect(audited(inTpm.agent, 'workstation.registered')[0]!.reason).toMatch(/key: tpm — TPM 2\.0/);
      expect(await diag(inTpm.agent)).toMatchObject({ key: 'tpm', tpm: null, problem: null });
      await badgeLogin(inTpm.agent);
      const sealed = fs.readFileSync(path.join(inTpm.dir, 'workstation.sealed'), 'utf8');
      expect(JSON.parse(sealed).key).toMatchObject({ kind: 'pkcs11' });
      expect(sealed).not.toContain('"d"');
    } finally {
      delete process.env.TPM2_PKCS11_TCTI;
      for (const a of running.splice(0)) await a.close();
      await tpm.stop();
      await srv.close();
    }
  },

  async AllowBasicTextSecretStorage() {
    const srv = await startTestServer();
    // The desktop app's store on Linux, its safeStorage answering as Chromium does without a keyring.
    const basicText = safeStorageStore(
      {
        isAsyncEncryptionAvailable: async () => true,
        getSelectedStorageBackend: () => 'basic_text',
        encryptStringAsync: async (t) => Buffer.from(`basic:${t}`),
        decryptStringAsync: async (b) => ({ result: b.toString().slice(6), shouldReEncrypt: false }),
      },
      'linux',
    );
    try {
      const refused = await agentWith(
        { ServerUrl: srv.issuer, EnrolmentToken: await srv.token() },
        { secretStore: basicText },
      );
      expect(audited(refused.agent, 'workstation.registered')).toMatchObject([
        { outcome: 'failure', reason: expect.stringContaining('basic_text refusé') },
      ]);
      expect(fs.existsSync(path.join(refused.dir, 'workstation.sealed'))).toBe(false);
      const allowed = await agentWith(
        { ServerUrl: srv.issuer, EnrolmentToken: await srv.token(), AllowBasicTextSecretStorage: 1 },
        { secretStore: basicText },
      );
      expect(audited(allowed.agent, 'workstation.registered')).toMatchObject([{ outcome: 'success' }]);
      expect(fs.readFileSync(path.join(allowed.dir, 'workstation.sealed'), 'utf8')).toMatch(/^basic:/);
    } finally {
      await srv.close();
    }
  },

  async DemoMode() {
    const off = await agentWith({ ServerUrl: DEAD_SERVER });
    expect(off.agent.demoReaders).toBeNull();
    expect(await ui(off.agent, 'demo.insertCard', { cardId: 'cps-camille' })).toMatchObject({
      error: { code: 'not-allowed' },
    });
    const on = await agentWith(DEMO);
    expect(on.agent.getReaders().map((r) => r.transport)).toEqual(['demo', 'demo']);
    await cardLogin(on.agent);
    expect(on.agent.getState().kind).toBe('open');
  },

  async CryptolibPath() {
    const missing = '/opt/nowhere/libcps3_pkcs11_lux.so';
    const a = await agentWith({ ...DEMO, CryptolibPath: missing }, { pcsc: true });
    const d1 = (await ui(a.agent, 'diagnostics.get')) as { result: { cryptolib: { problem: string } } };
    expect(d1.result.cryptolib.problem).toContain(missing);
    const module = path.join(a.dir, 'libcps3_pkcs11_lux.so');
    fs.writeFileSync(module, '');
    const b = await agentWith({ ...DEMO, CryptolibPath: module }, { pcsc: true });
    const d2 = (await ui(b.agent, 'diagnostics.get')) as { result: { cryptolib: { path: string } } };
    expect(d2.result.cryptolib.path).toBe(module);
  },

  async ReaderProfiles() {
    let emit: (r: Buffer) => void = () => {};
    const device: HidDevice = {
      sendFeatureReport: () => {},
      getFeatureReport: () => Buffer.alloc(0),
      onInput: (l) => (emit = l),
      onError: () => {},
      close: () => {},
    };
    const host: HidHost = {
      devices: () => [{ path: 'hid-1', vendorId: 0x076b, productId: 0x5427, usagePage: 0xff00 }],
      open: () => device,
    };
    const none = await agentWith(DEMO, { hidHost: host });
    expect(none.agent.getReaders().filter((r) => r.transport === 'hid')).toEqual([]);
    const profile = {
      name: 'OMNIKEY 5427',
      kind: 'hid',
      vendorId: 0x076b,
      productId: 0x5427,
      driver: 'custom-report',
      reportId: 2,
      offset: 1,
      length: 13,
      encoding: 'ascii',
    };
    const a = await agentWith({ ...DEMO, ReaderProfiles: [profile] }, { hidHost: host });
    await waitFor(() => a.agent.getReaders().some((r) => r.transport === 'hid'), 10_000, 'HID reader attached');
    expect(a.agent.getReaders().find((r) => r.transport === 'hid')).toMatchObject({
      name: 'OMNIKEY 5427',
      status: 'ok',
    });
    // Its reports are badge taps, proven by the reader only: refused as the server refuses a reader's word
    // by default (--allow-badge-proof reader-verified).
    emit(Buffer.concat([Buffer.from([2, 0]), Buffer.from('DEMO-0011'.padEnd(13, '\0'))]));
    await waitFor(() => a.errors.length > 0, 5000, 'badge from the HID reader');
    expect(audited(a.agent, 'badge.tapped')).toMatchObject([{ factor: 'reader-verified', reader: 'OMNIKEY 5427' }]);
    expect(a.errors.map((e) => e.code)).toEqual(['badge-weak']);
  },

  async BadgeProfiles() {
    const dir = fs.mkdtempSync(path.join(tmp, 'keys-'));
    const base = { ...DEMO, BadgeKeyCustody: 'local', BadgeKeyFile: keyFile(dir) };
    const none = await agentWith(base, { pcsc: true });
    await tapPcsc(none, () => none.errors.length > 0);
    // No application configured: the badge is only its UID, refused.
    expect(none.errors.map((e) => e.code)).toEqual(['badge-weak']);
    await none.agent.close();
    const a = await agentWith({ ...base, BadgeProfiles: [TEST_BADGE.profile] }, { pcsc: true });
    await tapPcsc(a, () => a.errors.length > 0);
    // Read and proven with its diversified key: the badge number reaches the directory (unknown there).
    expect(a.errors.map((e) => e.code)).toEqual(['badge-unknown']);
  },

  async BadgeKeyCustody() {
    const dir = fs.mkdtempSync(path.join(tmp, 'keys-'));
    const base = { ServerUrl: DEAD_SERVER, BadgeProfiles: [TEST_BADGE.profile], BadgeKeyFile: keyFile(dir) };
    // server (default): the key steps are asked of the session server, here unreachable.
    const server = await agentWith(base, { pcsc: true });
    await tapPcsc(server, () => audited(server.agent, 'badge.refused').length > 0);
    expect(audited(server.agent, 'badge.refused')[0]!.reason).toMatch(/^badge-unreadable: serveur de clés des badges/);
    await server.agent.close();
    // local: the badge is proven on the PC with the key file, then the (unreachable) server is asked who it is.
    const local = await agentWith({ ...base, BadgeKeyCustody: 'local' }, { pcsc: true });
    await tapPcsc(local, () => local.errors.length > 0);
    expect(audited(local.agent, 'badge.refused')).toEqual([]);
    expect(audited(local.agent, 'auth.refused').length + audited(local.agent, 'badge.tapped').length).toBeGreaterThan(
      0,
    );
  },

  async BadgeKeyFile() {
    const dir = fs.mkdtempSync(path.join(tmp, 'keys-'));
    const base = { ...DEMO, BadgeProfiles: [TEST_BADGE.profile], BadgeKeyCustody: 'local' };
    const open = await agentWith({ ...base, BadgeKeyFile: keyFile(dir, 0o644) }, { pcsc: true });
    expect(audited(open.agent, 'readers.config')[0]!.reason).toContain('trop ouvert');
    await open.agent.close();
    const ok = await agentWith({ ...base, BadgeKeyFile: keyFile(dir) }, { pcsc: true });
    expect(audited(ok.agent, 'readers.config')).toEqual([]);
    await tapPcsc(ok, () => ok.errors.length > 0);
    expect(ok.errors.map((e) => e.code)).toEqual(['badge-unknown']);
  },

  async AllowUidOnlyBadges() {
    const strict = await agentWith(DEMO);
    await tapDemo(strict.agent, 'badge-clone');
    // A bare chip with a copied UID: the reader has nothing to send.
    expect(strict.errors.map((e) => e.code)).toEqual(['badge-not-encoded']);
    const lenient = await agentWith({ ...DEMO, AllowUidOnlyBadges: 1 });
    await tapDemo(lenient.agent, 'badge-clone');
    expect(lenient.agent.getState().kind).toBe('pin-required');
  },

  async MfaWindowMinutes() {
    const reopenAfter = async (policy: Record<string, unknown>, minutes: number) => {
      const clock = new ManualClock(Date.now());
      const h = await agentWith({ ...DEMO, ...policy }, { clock });
      await tapDemo(h.agent, 'badge-camille');
      await ui(h.agent, 'session.submitPin', { pin: '1234' });
      clock.advance(2000);
      await tapDemo(h.agent, 'badge-camille'); // tap-out
      expect(h.agent.getState()).toEqual({ kind: 'locked', reason: 'tap-out' });
      clock.advance(minutes * 60_000);
      await tapDemo(h.agent, 'badge-camille');
      return h.agent.getState().kind;
    };
    expect(await reopenAfter({}, 20)).toBe('open');
    expect(await reopenAfter({ MfaWindowMinutes: 15 }, 20)).toBe('pin-required');
    // With a session server (whose window is 4 h), the workstation's shorter window bounds the session.
    const srv = await startTestServer();
    try {
      const windowAt = async (policy: Record<string, unknown>) => {
        const h = await agentWith({ ...DEMO, ServerUrl: srv.issuer, EnrolmentToken: await srv.token(), ...policy });
        await tapDemo(h.agent, 'badge-camille');
        await ui(h.agent, 'session.submitPin', { pin: '1234' });
        await waitFor(() => h.agent.getState().kind === 'open', 10_000, 'session open at the server');
        const s = h.agent.getState();
        return s.kind === 'open' ? Math.round((s.session.mfaExpiresAt - s.session.authTime) / 60_000) : null;
      };
      expect(await windowAt({})).toBe(240);
      expect(await windowAt({ MfaWindowMinutes: 15 })).toBe(15);
    } finally {
      await srv.close();
    }
  },

  async InactivityLockMinutes() {
    const after = async (policy: Record<string, unknown>) => {
      const clock = new ManualClock(Date.now());
      const h = await agentWith({ ...DEMO, ...policy }, { clock });
      await cardLogin(h.agent);
      clock.advance(5 * 60_000);
      return h.agent.getState();
    };
    expect(await after({ InactivityLockMinutes: 3 })).toEqual({ kind: 'locked', reason: 'inactivity' });
    expect((await after({ InactivityLockMinutes: 0 })).kind).toBe('open');
  },

  async LockMode() {
    const overlay = await agentWith(DEMO);
    expect(overlay.agent.window.current()).toBe('cover');
    await cardLogin(overlay.agent);
    expect(overlay.agent.window.current()).toBe('release');
    await ui(overlay.agent, 'session.lock');
    expect(overlay.agent.window.current()).toBe('cover');
    expect(overlay.osLocks).toBe(0);
    const osMode = await agentWith({ ...DEMO, LockMode: 'os' });
    await cardLogin(osMode.agent);
    await ui(osMode.agent, 'session.lock');
    expect(osMode.osLocks).toBe(1);
    await waitFor(() => audited(osMode.agent, 'os.locked').length > 0, 2000, 'OS lock audited');
    expect(audited(osMode.agent, 'os.locked')[0]).toMatchObject({ outcome: 'info', reason: 'LockMode=os' });
  },

  async TapDebounceMs() {
    const secondTap = async (policy: Record<string, unknown>) => {
      const clock = new ManualClock(Date.now());
      const h = await agentWith({ ...DEMO, ...policy }, { clock });
      await tapDemo(h.agent, 'badge-camille');
      await ui(h.agent, 'session.cancel');
      clock.advance(500);
      await tapDemo(h.agent, 'badge-camille');
      return h.agent.getState().kind;
    };
    expect(await secondTap({})).toBe('locked');
    expect(await secondTap({ TapDebounceMs: 200 })).toBe('pin-required');
  },

  async DegradedCpsLogin() {
    const dir = fs.mkdtempSync(path.join(tmp, 'anchors-'));
    const anchors = path.join(dir, 'igc-sante.pem');
    const base = {
      ...DEMO,
      ServerUrl: DEAD_SERVER,
      EnrolmentToken: 'enrolment-token-0123456789',
      CpsTrustAnchorsFile: anchors,
    };
    const strict = await agentWith(base);
    fs.writeFileSync(anchors, strict.agent.demoReaders!.pki.caPem);
    await cardLogin(strict.agent);
    expect(strict.agent.getState().kind).not.toBe('open');
    expect(strict.errors.map((e) => e.code)).toContain('server-unreachable');
    const lenient = await agentWith({ ...base, DegradedCpsLogin: 1 });
    fs.writeFileSync(anchors, lenient.agent.demoReaders!.pki.caPem);
    await cardLogin(lenient.agent);
    expect(lenient.agent.getState()).toMatchObject({ kind: 'open', session: { degraded: true } });
  },

  async CpsTrustAnchorsFile() {
    const dir = fs.mkdtempSync(path.join(tmp, 'anchors-'));
    const anchors = path.join(dir, 'igc-sante.pem');
    const policy = {
      ...DEMO,
      ServerUrl: DEAD_SERVER,
      EnrolmentToken: 'enrolment-token-0123456789',
      DegradedCpsLogin: 1,
      CpsTrustAnchorsFile: anchors,
    };
    // Another authority than the cards': refused.
    fs.writeFileSync(anchors, new DemoPki().caPem);
    const other = await agentWith(policy);
    await cardLogin(other.agent);
    expect(other.agent.getState().kind).not.toBe('open');
    expect(other.errors.map((e) => e.code)).toContain('auth-refused');
    // Without the file, degraded mode is off and the start says so.
    const unset = await agentWith({ ...policy, CpsTrustAnchorsFile: '' });
    expect(unset.agent.plan.degradedCps).toBeNull();
    expect(audited(unset.agent, 'config.rejected').map((r) => r.reason)).toContain(
      'DegradedCpsLogin : CpsTrustAnchorsFile vide, mode dégradé désactivé',
    );
  },

  async BrokerApplications() {
    const app = {
      id: 'dpi',
      name: 'DPI',
      executable: fs.realpathSync(process.execPath),
      audiences: ['https://dpi.test'],
    };
    const hello = async (policy: Record<string, unknown>) => {
      const h = await agentWith({ ServerUrl: DEAD_SERVER, ...policy });
      const dpi = await BrokerClient.connect(h.agent.brokerEndpoints.socket!);
      let refused: string | null = null;
      dpi.onRefused = (e) => (refused = e.code);
      try {
        return await dpi.call('hello').catch(() => ({ refused }));
      } finally {
        dpi.close();
      }
    };
    expect(await hello({})).toEqual({ refused: 'not-registered' });
    expect(await hello({ BrokerApplications: [app] })).toMatchObject({ app: 'dpi' });
  },

  async BrokerHttpPort() {
    const off = await agentWith({ ServerUrl: DEAD_SERVER });
    expect(off.agent.brokerEndpoints.http).toBeNull();
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const secret = 'labo-secret-0123456789';
    const on = await agentWith({
      ServerUrl: DEAD_SERVER,
      BrokerHttpPort: port,
      BrokerApplications: [
        { id: 'labo', name: 'Labo', secretSha256: sha256Hex(secret), audiences: ['https://labo.test'] },
      ],
    });
    expect(on.agent.brokerEndpoints.http).toBe(`http://127.0.0.1:${port}`);
    const r = await fetch(`http://127.0.0.1:${port}/v1/token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ audience: 'https://labo.test' }),
    });
    expect(r.status).toBe(409); // known application, nobody logged in
  },

  async DmpUrlTemplate() {
    const srv = await startTestServer();
    const dpiApp = {
      id: 'dpi',
      name: 'DPI',
      executable: fs.realpathSync(process.execPath),
      audiences: ['https://dpi.test'],
      dmp: true,
    };
    const GOOD_INS = '184127645108946';
    const NIR_OID = '1.2.250.1.213.1.4.8';
    /** Demo badge + code at the real server, then the DPI asks the broker to open the patient's DMP. */
    const openDmp = async (policy: Record<string, unknown>) => {
      const h = await agentWith({
        ...DEMO,
        ServerUrl: srv.issuer,
        EnrolmentToken: await srv.token(),
        BrokerApplications: [dpiApp],
        ...policy,
      });
      await tapDemo(h.agent, 'badge-camille');
      await ui(h.agent, 'session.submitPin', { pin: '1234' });
      await waitFor(() => h.agent.getState().kind === 'open', 10_000, 'session open at the server');
      const dpi = await BrokerClient.connect(h.agent.brokerEndpoints.socket!);
      try {
        return await dpi
          .call('openDmp', { patient: { ins: GOOD_INS, oid: NIR_OID } })
          .then((r) => ({ url: r.url, opened: h.opened }))
          .catch((e: { code: string }) => ({ refused: e.code, opened: h.opened, dmp: h.agent.policy().dmp }));
      } finally {
        dpi.close();
      }
    };
    try {
      expect(await openDmp({})).toEqual({ refused: 'dmp-not-configured', opened: [], dmp: false });
      const url = `https://dmp.example/ps?ins=${GOOD_INS}&oid=${NIR_OID}`;
      expect(await openDmp({ DmpUrlTemplate: 'https://dmp.example/ps?ins={ins}&oid={oid}' })).toEqual({
        url,
        opened: [url],
      });
    } finally {
      await srv.close();
    }
  },

  async Language() {
    expect((await agentWith(DEMO)).agent.policy().lang).toBe('fr');
    expect((await agentWith({ ...DEMO, Language: 'en' })).agent.policy().lang).toBe('en');
  },

  async AllowQuit() {
    expect((await agentWith(DEMO)).agent.policy().allowQuit).toBe(false);
    expect((await agentWith({ ...DEMO, AllowQuit: 1 })).agent.policy().allowQuit).toBe(true);
  },

  async LogLevel() {
    const logged = async (policy: Record<string, unknown>) => {
      const h = await agentWith({ ...DEMO, ...policy });
      await ui(h.agent, 'demo.insertCard', { cardId: 'cps-camille' });
      await waitFor(() => h.agent.getState().kind === 'pin-required', 5000, 'PIN pad');
      return h.agent.logger.tail(100).join('\n');
    };
    expect(await logged({})).not.toContain('"msg":"state"');
    expect(await logged({ LogLevel: 'debug' })).toContain('"msg":"state","kind":"pin-required"');
  },
};

describe('every published setting has an effect', () => {
  it('each key of the schema has an effect test below (a new setting needs one)', () => {
    expect(Object.keys(EFFECTS).sort()).toEqual(SCHEMA.map((s) => s.key).sort());
  });
  for (const [key, effect] of Object.entries(EFFECTS)) it(key, effect, 60_000);
});
