// Command-line flags of a development run (headless mode, or the desktop app started from the
// repository): each setting flag is a preference override for this run, below machine policy. A packaged
// app never reads them (a ward PC's user must not turn demo mode on from a shortcut).
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { settingDef } from '../config/schema';
import type { SettingOverrides } from '../config/store';

/** The flags that set settings (parseArgs options). */
export const SETTING_FLAGS = {
  demo: { type: 'boolean' },
  'no-demo': { type: 'boolean' },
  server: { type: 'string' },
  'mfa-window-minutes': { type: 'string' },
  'broker-apps': { type: 'string' },
  'broker-http-port': { type: 'string' },
  'dmp-url-template': { type: 'string' },
  set: { type: 'string', multiple: true },
} as const;

export const SETTING_FLAGS_HELP = [
  '  --demo / --no-demo       DemoMode: simulated CPS cards and badges (on by default in a development run)',
  '  --server URL             ServerUrl: a session server (enrolment token in the SILLAGE_ENROLMENT_TOKEN',
  '                           environment variable, used once: the workstation keeps its key in its state dir)',
  '  --mfa-window-minutes N   MfaWindowMinutes',
  '  --broker-apps FILE       BrokerApplications, from a JSON file',
  '  --broker-http-port N     BrokerHttpPort (0: no HTTP endpoint)',
  '  --dmp-url-template T     DmpUrlTemplate, placeholders {ins} {insNumber} {insKey} {oid} {idNat}',
  '  --set KEY=VALUE          any setting of the schema but a secret (repeatable), e.g. --set LockMode=os',
].join('\n');

export type SettingFlagValues = {
  demo?: boolean;
  'no-demo'?: boolean;
  server?: string;
  'mfa-window-minutes'?: string;
  'broker-apps'?: string;
  'broker-http-port'?: string;
  'dmp-url-template'?: string;
  set?: string[];
};

/** Development defaults: demo mode on and Quit allowed, unless a flag (or policy) says otherwise. */
export function flagOverrides(v: SettingFlagValues, env: NodeJS.ProcessEnv = process.env): SettingOverrides {
  const values: Record<string, unknown> = { DemoMode: !v['no-demo'], AllowQuit: true };
  if (v.server !== undefined) values.ServerUrl = v.server;
  // A secret: from the environment, never argv.
  if (env.SILLAGE_ENROLMENT_TOKEN) values.EnrolmentToken = env.SILLAGE_ENROLMENT_TOKEN;
  if (v['mfa-window-minutes'] !== undefined) values.MfaWindowMinutes = v['mfa-window-minutes'];
  if (v['broker-apps'] !== undefined) values.BrokerApplications = fs.readFileSync(v['broker-apps'], 'utf8');
  if (v['broker-http-port'] !== undefined) values.BrokerHttpPort = v['broker-http-port'];
  if (v['dmp-url-template'] !== undefined) values.DmpUrlTemplate = v['dmp-url-template'];
  for (const kv of v.set ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`--set ${kv}: KEY=VALUE expected`);
    const key = kv.slice(0, i);
    // A secret in argv is in the shell history and in every process listing.
    if (settingDef(key)?.secret) throw new Error(`--set ${key}: a secret, give it in the environment`);
    values[key] = kv.slice(i + 1);
  }
  return { name: 'ligne de commande / command line', values };
}

/** The setting flags of an argv (other flags ignored): the desktop app's development runs. */
export function overridesFromArgv(argv: string[], env: NodeJS.ProcessEnv = process.env): SettingOverrides {
  const { values } = parseArgs({ args: argv, options: SETTING_FLAGS, strict: false, allowPositionals: true });
  return flagOverrides(values as SettingFlagValues, env);
}
