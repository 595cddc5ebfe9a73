// Machine policy on Windows (registry HKLM\SOFTWARE\Policies\Sillage\Sillage, then HKCU where allowed)
// and macOS (managed preferences of fr.sillage.agent), read in-process and watched by
// @vscode/policy-watcher — no reg.exe (often blocked in hospitals), no polling. Values arrive typed as
// the registry holds them (REG_SZ / REG_DWORD); the ConfigStore validates them like any policy.
// Linux reads /etc/sillage/policy.json instead (JsonFilePolicySource).
import { createRequire } from 'node:module';
import { POLICY_KEY, SCHEMA } from './schema';
import type { PolicySource } from './store';

type WatchedType = 'string' | 'number' | 'boolean';
export type CreateWatcher = (
  productName: string,
  policies: Record<string, { type: WatchedType }>,
  onDidChange: (update: Record<string, unknown>) => void,
  options?: { registryPath?: string },
) => { dispose(): void };

/** The schema as the watcher declares it: DWORD for integers and booleans, strings for the rest (JSON included). */
export function watchedPolicies(): Record<string, { type: WatchedType }> {
  return Object.fromEntries(
    SCHEMA.map((s) => [s.key, { type: s.type === 'integer' ? 'number' : s.type === 'boolean' ? 'boolean' : 'string' }]),
  );
}

export const MAC_DOMAIN = 'fr.sillage.agent';

export class ManagedPolicySource implements PolicySource {
  readonly name: string;
  private values: Record<string, unknown> = {};
  private readonly listeners = new Set<() => void>();
  private watcher: { dispose(): void } | null = null;
  private first: Promise<void>;
  private gotFirst: () => void = () => {};

  constructor(
    private readonly createWatcher: CreateWatcher,
    private readonly platform: NodeJS.Platform = process.platform,
  ) {
    this.name = platform === 'darwin' ? `managed preferences ${MAC_DOMAIN}` : `HKLM\\${POLICY_KEY}`;
    this.first = new Promise((resolve) => (this.gotFirst = resolve));
  }

  /** Starts watching; resolves once the current policy is known (or after `timeoutMs`, defaults then). */
  async start(timeoutMs = 2000): Promise<void> {
    if (!this.watcher) {
      this.watcher = this.createWatcher(
        this.platform === 'darwin' ? MAC_DOMAIN : 'Sillage',
        watchedPolicies(),
        (update) => this.update(update),
        this.platform === 'win32' ? { registryPath: POLICY_KEY } : {},
      );
    }
    await Promise.race([this.first, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  private update(update: Record<string, unknown>): void {
    const next = { ...this.values };
    // The watcher sends every declared policy: undefined means removed by the administrator.
    for (const [k, v] of Object.entries(update)) {
      if (v === undefined) delete next[k];
      else next[k] = v;
    }
    this.values = next;
    this.gotFirst();
    for (const l of this.listeners) l();
  }

  read(): Record<string, unknown> {
    return { ...this.values };
  }

  watch(changed: () => void): () => void {
    this.listeners.add(changed);
    return () => this.listeners.delete(changed);
  }

  close(): void {
    this.watcher?.dispose();
    this.watcher = null;
    this.listeners.clear();
  }
}

/** @vscode/policy-watcher where it is built (Windows, macOS packages), else null. */
export function loadPolicyWatcher(): CreateWatcher | null {
  try {
    const m = createRequire(import.meta.url)('@vscode/policy-watcher') as { createWatcher: CreateWatcher };
    return m.createWatcher;
  } catch {
    return null;
  }
}
