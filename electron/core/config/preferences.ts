// User preferences kept by `conf` (headless mode) or `electron-store` (the desktop app, conf's Electron
// subclass): one interface over both, so the app and headless mode keep preferences the same way. Only
// settings a user may choose are ever written. A preference file of earlier versions (a hand-written
// preferences.json) is migrated once, then removed.
import fs from 'node:fs';
import Conf from 'conf';
import type { AuditSink } from '../audit/audit';
import { settingDef } from './schema';
import type { PreferenceStore } from './store';

/** What preferences need of conf and electron-store: the whole store, read and replaced at once. */
export interface KeyValueStore {
  store: Record<string, unknown>;
  readonly path: string;
}

/** The store file's base name (settings.json) in the profile (Electron) or state directory (headless). */
export const PREFERENCES_NAME = 'settings';

const userSettable = (values: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(values).filter(([k]) => settingDef(k)?.userSettable && !settingDef(k)?.secret));

export class KeyValuePreferences implements PreferenceStore {
  constructor(private readonly kv: KeyValueStore) {}

  get path(): string {
    return this.kv.path;
  }

  read(): Record<string, unknown> {
    return { ...this.kv.store };
  }

  write(values: Record<string, unknown>): void {
    // One assignment, one atomic write of the file (conf writes through a temporary file).
    this.kv.store = userSettable(values);
  }
}

/** Headless mode: conf in the state directory. */
export function confPreferences(dir: string): KeyValuePreferences {
  return new KeyValuePreferences(new Conf<Record<string, unknown>>({ cwd: dir, configName: PREFERENCES_NAME }));
}

/**
 * Moves the values of a hand-written preference file (earlier versions) into `prefs`, keeping any value
 * already there, then removes the old file. Audited; an unreadable old file is dropped, also audited.
 */
export function migrateLegacyPreferences(legacyFile: string, prefs: PreferenceStore, audit: AuditSink): void {
  let text: string;
  try {
    text = fs.readFileSync(legacyFile, 'utf8');
  } catch {
    return;
  }
  let old: Record<string, unknown> = {};
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) old = v as Record<string, unknown>;
  } catch {
    audit.record({ action: 'config.migrated', outcome: 'failure', reason: `${legacyFile}: unreadable, removed` });
    fs.rmSync(legacyFile, { force: true });
    return;
  }
  const kept = userSettable(old);
  prefs.write({ ...kept, ...prefs.read() });
  fs.rmSync(legacyFile, { force: true });
  audit.record({
    action: 'config.migrated',
    outcome: 'info',
    reason: `${legacyFile}: ${Object.keys(kept).join(', ') || 'no preference'}`,
  });
}
