// The Windows/macOS policy source with the watcher's callback driven as @vscode/policy-watcher drives it
// (REG_SZ strings, REG_DWORD numbers, undefined when removed). The native watcher itself only runs on
// Windows and macOS; what is checked here is the contract around it and the ConfigStore behaviour.
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../audit/audit';
import { ManagedPolicySource, watchedPolicies } from './managed-source';
import type { CreateWatcher } from './managed-source';
import { POLICY_KEY, SCHEMA } from './schema';
import { ConfigStore } from './store';

function fakeWatcher() {
  const calls: { product: string; options: unknown; push: (u: Record<string, unknown>) => void; disposed: boolean }[] =
    [];
  const create: CreateWatcher = (product, _policies, onDidChange, options) => {
    const c = { product, options, push: onDidChange, disposed: false };
    calls.push(c);
    return { dispose: () => void (c.disposed = true) };
  };
  return { create, calls };
}

describe('managed policy source (registry / macOS managed preferences)', () => {
  it('declares every schema key with the registry type the ADMX writes', () => {
    const p = watchedPolicies();
    expect(Object.keys(p).sort()).toEqual(SCHEMA.map((s) => s.key).sort());
    expect(p.InactivityLockMinutes).toEqual({ type: 'number' });
    expect(p.AllowUidOnlyBadges).toEqual({ type: 'boolean' });
    expect(p.BadgeProfiles).toEqual({ type: 'string' });
  });

  it('watches the Windows policy key: values reach the store checked, locked; removals restore defaults', async () => {
    const w = fakeWatcher();
    const src = new ManagedPolicySource(w.create, 'win32');
    const started = src.start(5000);
    expect(w.calls[0]).toMatchObject({ product: 'Sillage', options: { registryPath: POLICY_KEY } });
    w.calls[0]!.push({
      ServerUrl: 'https://sso.chu.fr',
      InactivityLockMinutes: 5,
      BadgeProfiles: '[{"name":"chu","aid":"F51230","keyNo":1,"fileNo":1}]',
      Language: undefined,
    });
    await started;
    const audit = new AuditLog();
    const store = new ConfigStore({ policy: src, preferences: null, audit });
    store.watch();
    expect(store.get()).toMatchObject({
      ServerUrl: 'https://sso.chu.fr',
      InactivityLockMinutes: 5,
      BadgeProfiles: [{ name: 'chu', aid: 'F51230', keyNo: 1, fileNo: 1 }],
    });
    expect(store.locked()).toEqual(['BadgeProfiles', 'InactivityLockMinutes', 'ServerUrl']);

    // An administrator sets an invalid value: refused by name, the previous one stays.
    w.calls[0]!.push({ InactivityLockMinutes: 9999 });
    expect(store.value('InactivityLockMinutes')).toBe(5);
    expect(store.lastProblems()[0]!.message).toMatch(/InactivityLockMinutes/);
    // The policy is removed: the default is back and nothing is locked any more for it.
    w.calls[0]!.push({ InactivityLockMinutes: undefined });
    expect(store.value('InactivityLockMinutes')).toBe(10);
    expect(store.locked()).not.toContain('InactivityLockMinutes');
    src.close();
    expect(w.calls[0]!.disposed).toBe(true);
  });

  it('uses the managed-preferences domain on macOS and starts on defaults when nothing comes', async () => {
    const w = fakeWatcher();
    const src = new ManagedPolicySource(w.create, 'darwin');
    await src.start(50);
    expect(w.calls[0]).toMatchObject({ product: 'fr.sillage.agent', options: {} });
    expect(src.read()).toEqual({});
  });
});
