// Effective configuration: built-in defaults < user preferences (only settings marked userSettable)
// < overrides of a development run (command-line flags: a flag is a preference for this run, any
// setting) < machine policy. A policy value that does not validate is rejected with a message naming the
// setting, and that setting keeps its last valid value; an unreadable policy source keeps the whole
// last valid policy. Every change and every rejection goes to the audit trail.
import fs from 'node:fs';
import path from 'node:path';
import type { AuditSink } from '../audit/audit';
import { Listeners } from '../util/emitter';
import { defaults, SCHEMA, settingDef, validateSetting } from './schema';
import type { ConfigValues } from './schema';

/** A source of machine policy: /etc/sillage/policy.json, the Windows registry, macOS managed preferences. */
export interface PolicySource {
  readonly name: string;
  /** Raw values by setting key; {} when no policy is set; throws when the source cannot be read. */
  read(): Record<string, unknown>;
  /** Calls back when the policy may have changed; returns the stop function. */
  watch(changed: () => void): () => void;
}

/** User preferences (the few userSettable settings), kept in the user's profile. */
export interface PreferenceStore {
  read(): Record<string, unknown>;
  write(values: Record<string, unknown>): void;
}

/** Settings given for one run (command-line flags of a development run); never read in a packaged app. */
export interface SettingOverrides {
  readonly name: string;
  readonly values: Record<string, unknown>;
}

export interface ConfigProblem {
  key: string | null;
  source: string;
  message: string;
}

export class ConfigStore {
  readonly changed = new Listeners<ConfigValues>();
  private values: ConfigValues = defaults();
  private lockedKeys = new Set<string>();
  private lastValidPolicy: ConfigValues = {};
  private problems: ConfigProblem[] = [];
  private stopWatch: (() => void) | null = null;

  constructor(
    private readonly opts: {
      policy: PolicySource | null;
      preferences: PreferenceStore | null;
      overrides?: SettingOverrides | null;
      audit: AuditSink;
    },
  ) {
    this.reload();
  }

  get(): Readonly<ConfigValues> {
    return this.values;
  }

  value<T extends ConfigValues[string]>(key: string): T {
    return this.values[key] as T;
  }

  /** Settings set by machine policy: shown as locked in the UI, refused as preferences. */
  locked(): string[] {
    return [...this.lockedKeys].sort();
  }

  /** Problems of the last reload (for the UI and the diagnostic export). */
  lastProblems(): ConfigProblem[] {
    return [...this.problems];
  }

  watch(): void {
    this.stopWatch ??= this.opts.policy?.watch(() => this.reload()) ?? null;
  }

  close(): void {
    this.stopWatch?.();
    this.stopWatch = null;
  }

  setPreference(key: string, raw: unknown): { ok: true } | { ok: false; message: string } {
    const def = settingDef(key);
    if (!def || !def.userSettable)
      return { ok: false, message: `${key} : ce réglage n’est modifiable que par l’informatique` };
    if (this.lockedKeys.has(key)) return { ok: false, message: `${key} : réglé par votre établissement (stratégie)` };
    const v = validateSetting(def, raw);
    if (!v.ok) return v;
    const prefs = this.readPreferences();
    this.opts.preferences?.write({ ...prefs, [key]: v.value });
    this.reload();
    return { ok: true };
  }

  reload(): void {
    const problems: ConfigProblem[] = [];
    let policy: ConfigValues = {};
    const source = this.opts.policy;
    if (source) {
      try {
        const raw = source.read();
        for (const [key, value] of Object.entries(raw)) {
          const def = settingDef(key);
          if (!def) {
            problems.push({ key, source: source.name, message: `${key} : réglage inconnu, ignoré` });
            continue;
          }
          const v = validateSetting(def, value);
          if (v.ok) policy[key] = v.value;
          else {
            problems.push({ key, source: source.name, message: v.message });
            // The setting keeps the last valid policy value it had (if any): no silent fallback to a default.
            if (key in this.lastValidPolicy) policy[key] = this.lastValidPolicy[key]!;
          }
        }
      } catch (e) {
        problems.push({
          key: null,
          source: source.name,
          message: `stratégie illisible (${(e as Error).message}) : la dernière configuration valide reste en vigueur`,
        });
        policy = { ...this.lastValidPolicy };
      }
    }
    const prefs: ConfigValues = {};
    for (const [key, value] of Object.entries(this.readPreferences())) {
      const def = settingDef(key);
      if (!def?.userSettable) continue;
      const v = validateSetting(def, value);
      if (v.ok) prefs[key] = v.value;
    }
    const overrides: ConfigValues = {};
    const given = this.opts.overrides;
    for (const [key, value] of Object.entries(given?.values ?? {})) {
      const def = settingDef(key);
      const v = def ? validateSetting(def, value) : { ok: false as const, message: `${key} : réglage inconnu, ignoré` };
      if (v.ok) overrides[key] = v.value;
      else problems.push({ key, source: given!.name, message: v.message });
    }
    const next: ConfigValues = { ...defaults(), ...prefs, ...overrides, ...policy };
    const changedKeys = SCHEMA.map((s) => s.key).filter(
      (k) => JSON.stringify(next[k]) !== JSON.stringify(this.values[k]),
    );
    const newProblems = problems.filter((p) => !this.problems.some((q) => q.message === p.message));
    for (const p of newProblems)
      this.opts.audit.record({ action: 'config.rejected', outcome: 'failure', reason: `${p.source}: ${p.message}` });
    this.problems = problems;
    this.lastValidPolicy = policy;
    const locked = new Set(Object.keys(policy));
    const lockChanged = locked.size !== this.lockedKeys.size || [...locked].some((k) => !this.lockedKeys.has(k));
    this.lockedKeys = locked;
    if (changedKeys.length || lockChanged) {
      this.values = next;
      // Names only: values may be secrets (enrolment token).
      if (changedKeys.length)
        this.opts.audit.record({ action: 'config.changed', outcome: 'info', reason: changedKeys.join(', ') });
      this.changed.emit(next);
    }
  }

  /** Configuration for the diagnostic export: secrets masked. */
  masked(): Record<string, unknown> {
    return Object.fromEntries(
      SCHEMA.map((s) => [s.key, s.secret && this.values[s.key] !== '' ? '••••••' : this.values[s.key]]),
    );
  }

  private readPreferences(): Record<string, unknown> {
    try {
      return this.opts.preferences?.read() ?? {};
    } catch {
      return {};
    }
  }
}

/** Linux machine policy: /etc/sillage/policy.json (root-owned), watched for changes. */
export class JsonFilePolicySource implements PolicySource {
  readonly name: string;

  constructor(private readonly file: string) {
    this.name = file;
  }

  read(): Record<string, unknown> {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw e;
    }
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('objet JSON attendu');
    return v as Record<string, unknown>;
  }

  watch(changed: () => void): () => void {
    // Watch the directory: editors and configuration tools replace the file rather than rewrite it.
    const dir = path.dirname(this.file);
    if (!fs.existsSync(dir)) return () => {};
    let timer: NodeJS.Timeout | null = null;
    const w = fs.watch(dir, (_event, name) => {
      if (name && name !== path.basename(this.file)) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(changed, 100);
    });
    return () => {
      if (timer) clearTimeout(timer);
      w.close();
    };
  }
}
