import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../audit/audit';
import { validateSetting, settingDef } from './schema';
import { confPreferences, migrateLegacyPreferences } from './preferences';
import { ConfigStore, JsonFilePolicySource } from './store';

let dir: string;
let policyFile: string;
let audit: AuditLog;
const writePolicy = (o: unknown) => fs.writeFileSync(policyFile, typeof o === 'string' ? o : JSON.stringify(o));
const make = () =>
  new ConfigStore({
    policy: new JsonFilePolicySource(policyFile),
    preferences: confPreferences(path.join(dir, 'profile')),
    audit,
  });

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-config-'));
  policyFile = path.join(dir, 'etc', 'policy.json');
  fs.mkdirSync(path.dirname(policyFile));
  audit = new AuditLog();
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('configuration precedence', () => {
  it('defaults < user preferences < machine policy, and a policy-set value is locked', () => {
    const c = make();
    expect(c.get()).toMatchObject({ Language: 'fr', MfaWindowMinutes: 240, LockMode: 'overlay' });
    expect(c.setPreference('Language', 'en')).toEqual({ ok: true });
    expect(c.value('Language')).toBe('en');
    writePolicy({ Language: 'fr', InactivityLockMinutes: 5 });
    c.reload();
    expect(c.value('Language')).toBe('fr');
    expect(c.value('InactivityLockMinutes')).toBe(5);
    expect(c.locked().sort()).toEqual(['InactivityLockMinutes', 'Language']);
    expect(c.setPreference('Language', 'en')).toMatchObject({
      ok: false,
      message: expect.stringContaining('réglé par votre établissement'),
    });
    // Only userSettable settings are preferences.
    expect(c.setPreference('ServerUrl', 'https://evil.example')).toMatchObject({ ok: false });
    // Policy removed: the preference applies again.
    writePolicy({});
    c.reload();
    expect(c.value('Language')).toBe('en');
    expect(c.locked()).toEqual([]);
  });

  it('rejects an invalid policy value naming the setting, keeps its last valid value, and audits it', () => {
    writePolicy({ InactivityLockMinutes: 3, ServerUrl: 'https://sso.hopital.fr' });
    const c = make();
    writePolicy({ InactivityLockMinutes: 9999, ServerUrl: 'http://sso.hopital.fr', Colour: 'blue' });
    c.reload();
    expect(c.value('InactivityLockMinutes')).toBe(3);
    expect(c.value('ServerUrl')).toBe('https://sso.hopital.fr');
    const messages = c.lastProblems().map((p) => p.message);
    expect(messages).toContain('InactivityLockMinutes : valeur refusée (entre 0 et 240)');
    expect(messages).toContain('ServerUrl : valeur refusée (HTTPS obligatoire (HTTP seulement sur 127.0.0.1))');
    expect(messages).toContain('Colour : réglage inconnu, ignoré');
    expect(
      audit
        .recent(20)
        .filter((r) => r.action === 'config.rejected')
        .map((r) => r.reason),
    ).toHaveLength(3);
    // Still locked: the hospital set it, a bad edit must not hand it to the user.
    expect(c.locked()).toContain('InactivityLockMinutes');
  });

  it('keeps the whole last valid policy when the file is unreadable', () => {
    writePolicy({ LockMode: 'os', AllowQuit: 1 });
    const c = make();
    expect(c.get()).toMatchObject({ LockMode: 'os', AllowQuit: true });
    writePolicy('{ not json');
    c.reload();
    expect(c.get()).toMatchObject({ LockMode: 'os', AllowQuit: true });
    expect(c.lastProblems()[0]!.message).toMatch(/stratégie illisible.*dernière configuration valide/);
  });

  it('follows the policy file when it is replaced, and never shows a secret', async () => {
    const c = make();
    c.watch();
    const seen: unknown[] = [];
    c.changed.add((v) => seen.push(v.LockMode));
    const tmp = `${policyFile}.new`;
    fs.writeFileSync(tmp, JSON.stringify({ LockMode: 'os', EnrolmentToken: 'tok_0123456789abcdef' }));
    fs.renameSync(tmp, policyFile);
    const until = Date.now() + 3000;
    while (!seen.length && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    c.close();
    expect(seen).toEqual(['os']);
    expect(c.masked()).toMatchObject({ LockMode: 'os', EnrolmentToken: '••••••' });
    expect(JSON.stringify(audit.recent(50))).not.toContain('tok_0123456789abcdef');
  });

  it('validates registry-shaped values: DWORD booleans and integers, JSON text', () => {
    expect(validateSetting(settingDef('AllowQuit')!, 1)).toEqual({ ok: true, value: true });
    expect(validateSetting(settingDef('MfaWindowMinutes')!, '240')).toEqual({ ok: true, value: 240 });
    expect(
      validateSetting(
        settingDef('BrokerApplications')!,
        '[{"id":"dpi","name":"DPI","executable":"C:\\\\DPI\\\\dpi.exe","audiences":["https://dpi"]}]',
      ),
    ).toMatchObject({ ok: true });
    expect(
      validateSetting(
        settingDef('BrokerApplications')!,
        '[{"id":"dpi","name":"DPI","secretSha256":"hunter2","audiences":[]}]',
      ),
    ).toMatchObject({ ok: false, message: expect.stringContaining('secretSha256') });
    expect(validateSetting(settingDef('DmpUrlTemplate')!, 'https://dmp.example/?p={patient}')).toMatchObject({
      ok: false,
      message: expect.stringContaining('patient'),
    });
  });
});

describe('overrides of a development run (flags)', () => {
  it('sit above preferences and below machine policy, are not locked, and refusals name the flag source', () => {
    const c = new ConfigStore({
      policy: new JsonFilePolicySource(policyFile),
      preferences: confPreferences(path.join(dir, 'profile')),
      overrides: { name: 'ligne de commande', values: { Language: 'en', InactivityLockMinutes: 7, LockMode: 'tv' } },
      audit,
    });
    expect(c.value('Language')).toBe('en');
    expect(c.value('InactivityLockMinutes')).toBe(7);
    expect(c.locked()).toEqual([]);
    expect(c.lastProblems()).toEqual([
      expect.objectContaining({
        key: 'LockMode',
        source: 'ligne de commande',
        message: expect.stringContaining('LockMode'),
      }),
    ]);
    writePolicy({ InactivityLockMinutes: 2 });
    c.reload();
    expect(c.value('InactivityLockMinutes')).toBe(2);
  });
});

describe('preferences (conf, electron-store in the app)', () => {
  it('keep only settings a user may choose, in settings.json, and survive a restart', () => {
    const prefs = confPreferences(path.join(dir, 'profile'));
    prefs.write({ Language: 'en', ServerUrl: 'https://evil.example', EnrolmentToken: 'x'.repeat(20) });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'profile', 'settings.json'), 'utf8'))).toEqual({ Language: 'en' });
    expect(confPreferences(path.join(dir, 'profile')).read()).toEqual({ Language: 'en' });
  });

  it('migrate the hand-written preferences.json of earlier versions once, then remove it (audited)', () => {
    const legacy = path.join(dir, 'profile', 'preferences.json');
    fs.mkdirSync(path.dirname(legacy), { recursive: true });
    fs.writeFileSync(legacy, JSON.stringify({ Language: 'en', AllowQuit: true }));
    const prefs = confPreferences(path.join(dir, 'profile'));
    migrateLegacyPreferences(legacy, prefs, audit);
    expect(prefs.read()).toEqual({ Language: 'en' });
    expect(fs.existsSync(legacy)).toBe(false);
    expect(audit.recent(5).at(-1)).toMatchObject({ action: 'config.migrated', reason: `${legacy}: Language` });
    // A value chosen since is kept over an older file's.
    prefs.write({ Language: 'fr' });
    fs.writeFileSync(legacy, JSON.stringify({ Language: 'en' }));
    migrateLegacyPreferences(legacy, prefs, audit);
    expect(prefs.read()).toEqual({ Language: 'fr' });
    // A torn file is dropped, and said so.
    fs.writeFileSync(legacy, '{"Lang');
    migrateLegacyPreferences(legacy, prefs, audit);
    expect(fs.existsSync(legacy)).toBe(false);
    expect(audit.recent(1)[0]).toMatchObject({ action: 'config.migrated', outcome: 'failure' });
  });
});
