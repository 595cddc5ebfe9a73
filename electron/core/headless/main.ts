// `npm run headless -- [flags]`: the agent core in Node, its UI served on 127.0.0.1. The agent is the one
// the desktop app runs (app/compose.ts); this file only gives it headless adapters (no window, a browser
// UI, a development secret store) and turns flags into settings. Development, demos and tests only: the
// packaged app never contains this entry point.
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { composeAgent } from '../app/compose';
import type { ComposedAgent, Platform, SettingsSources } from '../app/compose';
import { flagOverrides, SETTING_FLAGS, SETTING_FLAGS_HELP } from '../app/flags';
import type { SettingFlagValues } from '../app/flags';
import { lockOperatingSystem } from '../app/os-lock';
import { connectSupervisor, RESTARTED_ENV } from '../app/supervisor';
import { developmentPlainStore } from '../keys/secret-store';
import { confPreferences } from '../config/preferences';
import { JsonFilePolicySource } from '../config/store';
import { peerCredentials } from '../../../native/peercred';
import { startControlSocket } from '../demo/control-socket';
import type { ControlServer } from '../demo/control-socket';
import { startHeadlessServer } from './server';
import type { HeadlessServer } from './server';
import { embeddedServerIn } from '../demo/embedded-server';

const HELP = `Usage: npm run headless -- [flags]
Settings (each flag is a preference for this run; machine policy still wins):
${SETTING_FLAGS_HELP}
Headless mode:
  --port N                 UI port on 127.0.0.1 (default: any free port)
  --data-dir DIR           state directory: audit trail, preferences, workstation key (development
                           store: a 0600 file), demo server (default: $XDG_STATE_HOME/sillage)
  --ui-dir DIR             built UI (default: renderer/dist)
  --policy-file FILE       machine policy (default: $SILLAGE_POLICY_FILE or /etc/sillage/policy.json), watched
  --local-demo             demo without the embedded session server (decided locally)
  --broker-socket PATH     DPI broker socket (default: DATA_DIR/run/broker.sock)
  --pcsc                   real PC/SC readers (pcscd): CPS cards through the Cryptolib, DESFire badges through
                           the BadgeProfiles policy and the key custody (BadgeKeyCustody: server or local)
  --pcsc-readers NAMES     only these readers (comma-separated), for several agents on one pcscd
  --hid                    USB-HID badge readers of the ReaderProfiles policy (pcProx, custom report)
  --no-control             no demo CLI socket (npm run demo)`;

const OPTIONS = {
  ...SETTING_FLAGS,
  port: { type: 'string', default: '0' },
  'data-dir': { type: 'string' },
  'ui-dir': { type: 'string' },
  'no-control': { type: 'boolean', default: false },
  'local-demo': { type: 'boolean', default: false },
  'broker-socket': { type: 'string' },
  'policy-file': { type: 'string' },
  pcsc: { type: 'boolean', default: false },
  hid: { type: 'boolean', default: false },
  'pcsc-readers': { type: 'string' },
  help: { type: 'boolean', default: false },
} as const;

export type HeadlessValues = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];

export function parseHeadlessArgs(argv: string[]): HeadlessValues {
  return parseArgs({ args: argv, options: OPTIONS }).values;
}

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..');

function usage(message: string): never {
  console.error(message);
  process.exit(2);
}

/** What the desktop app's shell gives the agent, in headless form. */
export function headlessPlatform(values: HeadlessValues, dataDir: string): Platform {
  const only = values['pcsc-readers']
    ?.split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const embeddedServer = values['local-demo'] ? null : embeddedServerIn(ROOT, process.execPath);
  return {
    mode: 'headless',
    packaged: false,
    hardware: { pcsc: values.pcsc, hid: values.hid },
    canEmbedServer: embeddedServer !== null,
    embeddedServer,
    nodeExecutable: process.execPath,
    dataDir,
    // Headless is a development tool: its log stays in its state directory, not /var/log.
    logDir: path.join(dataDir, 'logs'),
    secretStore: developmentPlainStore,
    workstationName: `${os.hostname()} (headless)`,
    brokerSocketPath: values['broker-socket'] ?? path.join(dataDir, 'run', 'broker.sock'),
    identifyPeer: peerCredentials,
    // No browser of our own: the DMP URL is printed (the desktop app opens the system browser).
    openUrl: async (url) => console.log(`DMP: ${url}`),
    lockOperatingSystem: () => lockOperatingSystem(),
    ...(only?.length ? { pcscReaderFilter: (n: string) => only.includes(n) } : {}),
    warn: (m) => console.error(m),
  };
}

/** Under a supervisor (the fail-closed tests run headless agents so): its channel and why it restarted us. */
function supervised(): Pick<Platform, 'supervisor' | 'restartedAfter'> {
  return { supervisor: connectSupervisor(), restartedAfter: process.env[RESTARTED_ENV] ?? null };
}

export function headlessSettings(values: HeadlessValues, dataDir: string): SettingsSources {
  const policyFile = values['policy-file'] ?? process.env.SILLAGE_POLICY_FILE ?? '/etc/sillage/policy.json';
  return {
    policy: new JsonFilePolicySource(policyFile),
    preferences: confPreferences(dataDir),
    legacyPreferences: path.join(dataDir, 'preferences.json'),
    overrides: flagOverrides(values as SettingFlagValues),
  };
}

function announce(agent: ComposedAgent, server: HeadlessServer, control: ControlServer | null): void {
  const { socket, http } = agent.brokerEndpoints;
  if (agent.embedded) {
    const d = agent.embedded.demoDpi;
    console.log(`Serveur de sessions embarqué / embedded session server (PGlite): ${agent.embedded.issuer}/`);
    if (socket)
      console.log(
        `DPI de démonstration / demo DPI: REF_DPI_CLIENT_SECRET="$(cat ${d.secretFile})" ` +
          `node --import tsx testbed/reference-dpi.ts --socket ${socket} --issuer ${agent.embedded.issuer} ` +
          `--client-id ${d.clientId} --audience ${d.audience}`,
      );
  }
  if (agent.plan.authenticator.kind === 'not-configured')
    console.error('Poste non configuré / workstation not configured: give --server URL, or run with --demo.');
  console.log(`Sillage (headless${agent.plan.demo ? ', démo' : ''}) — ouvrez / open: ${server.launchUrl}`);
  if (socket) console.log(`Courtier DPI / DPI broker: ${socket}${http ? ` and ${http}` : ''}`);
  if (control) console.log(`Démo en ligne de commande / demo CLI: npm run demo -- help`);
}

interface HeadlessArgs {
  values: HeadlessValues;
  port: number;
  uiDir: string;
  dataDir: string;
}

/** The command line, checked: flags, UI port, built UI, state directory (made, 0700); null: help printed. */
function checkedArgs(argv: string[]): HeadlessArgs | null {
  let values: HeadlessValues;
  try {
    values = parseHeadlessArgs(argv);
  } catch (e) {
    usage(`${(e as Error).message}\n\n${HELP}`);
  }
  if (values.help) {
    console.log(HELP);
    return null;
  }
  if (values['no-demo'] && !values.pcsc && !values.hid)
    usage('No readers: use --demo (simulated), --pcsc (PC/SC readers) or --hid (USB-HID readers).');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    usage(`Invalid --port ${values.port}: give a number between 0 and 65535.`);
  const uiDir = values['ui-dir'] ?? path.join(ROOT, 'renderer', 'dist');
  if (!fs.existsSync(path.join(uiDir, 'index.html')))
    usage(`UI not built in ${uiDir}: run "npm run build:ui" (npm run headless does it for you).`);
  const dataDir =
    values['data-dir'] ??
    path.join(process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state'), 'sillage');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return { values, port, uiDir, dataDir };
}

/** The demo CLI's socket (npm run demo), with demo readers only; a failure to open it stops nothing. */
async function demoControl(agent: ComposedAgent, values: HeadlessValues): Promise<ControlServer | null> {
  if (!agent.plan.readers.demo || values['no-control']) return null;
  try {
    return await startControlSocket(agent.api);
  } catch (e) {
    console.error(`Demo CLI socket not opened: ${(e as Error).message}`);
    return null;
  }
}

/** Restarts under a supervisor when the agent needs it, and stops on the signals a terminal or service sends. */
function runUntilStopped(agent: ComposedAgent, server: HeadlessServer, control: ControlServer | null): void {
  const closeAll = () => Promise.allSettled([server.close(), control?.close(), agent.close()]);
  // Under a supervisor a new composition is started for us; alone, the developer restarts (printed by the agent).
  agent.restartNeeded.add((reason) => {
    if (!agent.supervisor) return;
    void agent.supervisor
      .restart(reason)
      .then(closeAll)
      .finally(() => process.exit(0));
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Exit within 2 s whatever hangs (a browser keeping its socket, a reader backend).
    setTimeout(() => process.exit(0), 1500).unref();
    // A stop asked for (Ctrl-C, SIGTERM): the supervisor, if any, must not restart us.
    await agent.supervisor?.stopping(signal);
    await closeAll();
    console.log(`Sillage stopped (${signal}).`);
    process.exit(0);
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void stop(signal));
}

async function main() {
  if (process.versions.electron) usage('Headless mode is not available in the packaged application.');
  const args = checkedArgs(process.argv.slice(2));
  if (!args) return;
  const { values, port, uiDir, dataDir } = args;
  const agent = await composeAgent(headlessSettings(values, dataDir), {
    ...headlessPlatform(values, dataDir),
    ...supervised(),
  });
  const server = await startHeadlessServer({ api: agent.api, audit: agent.audit, uiDir, port });
  const control = await demoControl(agent, values);
  announce(agent, server, control);
  runUntilStopped(agent, server, control);
}

if (import.meta.url === `file://${process.argv[1]}`)
  main().catch((e) => {
    console.error(`Sillage headless failed to start: ${(e as Error).message}`);
    process.exit(1);
  });
