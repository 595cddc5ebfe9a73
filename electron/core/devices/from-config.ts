// Real reader backends as the configuration asks: PC/SC (CPS through the Cryptolib found at the configured
// path or the ANS standard one, DESFire badges through the configured profiles and key custody) and the
// USB-HID badge readers named by ReaderProfiles. Shared by the Electron shell and headless mode. Also what
// the diagnostic page shows about the Cryptolib (path and version, or why it is missing).
import type { ConfigStore } from '../config/store';
import { withProfileDefaults } from '../config/badge-profile';
import type { BadgeProfile } from '../config/badge-profile';
import { loadPcsc } from '../../../native/pcsclite';
import { LocalKeyCustody } from './badge/desfire/custody';
import type { KeyCustody } from './badge/desfire/custody';
import { HidBackend } from './badge/hid/hid-backend';
import type { HidReaderProfile } from './badge/hid/hid-backend';
import { nodeHidHost } from './badge/hid/transport';
import type { HidHost } from './badge/hid/transport';
import { loadKeyFile } from './badge/key-file';
import { findCryptolib, Pkcs11Module } from './cps/cryptolib';
import { PcscCpsBackend, PcscMonitor } from './pcsc';
import type { ReaderBackend } from './types';

export interface ReadersFromConfig {
  readers: ReaderBackend[];
  cryptolib: (() => CryptolibStatus) | null;
}

export function readersFromConfig(
  config: ConfigStore,
  opts: {
    pcsc: boolean;
    hid: boolean;
    /** The session server's relay (oidc/relay-custody.ts) when the agent has a server, for BadgeKeyCustody=server. */
    serverCustody: KeyCustody | null;
    readerFilter?: (name: string) => boolean;
    unprotect?: (blob: Buffer) => Buffer;
    /** USB-HID enumeration (node-hid by default). */
    hidHost?: HidHost;
    warn: (message: string) => void;
  },
): ReadersFromConfig {
  const readers: ReaderBackend[] = [];
  let cryptolib: ReadersFromConfig['cryptolib'] = null;
  if (opts.pcsc) {
    let custody: KeyCustody | null = null;
    try {
      if (config.value<string>('BadgeKeyCustody') === 'local')
        custody = new LocalKeyCustody(
          loadKeyFile(config.value<string>('BadgeKeyFile'), opts.unprotect ? { unprotect: opts.unprotect } : {}),
        );
      else custody = opts.serverCustody;
    } catch (e) {
      // Badges stay unreadable (a clear message at each tap); CPS cards still work.
      opts.warn(`Badges DESFire désactivés / DESFire badges off: ${(e as Error).message}`);
    }
    const pcsc = createPcscBackend({
      config,
      custody,
      ...(opts.readerFilter ? { readerFilter: opts.readerFilter } : {}),
    });
    readers.push(pcsc.backend);
    cryptolib = pcsc.cryptolib;
  }
  if (opts.hid) readers.push(hidBackendFromConfig(config, opts.hidHost));
  return { readers, cryptolib };
}

export interface CryptolibStatus {
  path: string | null;
  version: string | null;
  description: string | null;
  /** Null: not established from the module's version; each CPS4 is tried and what happens is reported. */
  supportsCps4: boolean | null;
  problem: string | null;
}

interface PcscSetup {
  backend: PcscCpsBackend;
  cryptolib(): CryptolibStatus;
}

function createPcscBackend(opts: {
  config: ConfigStore;
  custody: KeyCustody | null;
  readerFilter?: (name: string) => boolean;
}): PcscSetup {
  let mod: Pkcs11Module | null = null;
  let status: CryptolibStatus = {
    path: null,
    version: null,
    description: null,
    supportsCps4: null,
    problem: 'pas encore chargée (aucune carte CPS vue)',
  };
  const find = (): { path: string } | { problem: string } => {
    const found = findCryptolib(opts.config.value<string>('CryptolibPath') || undefined);
    if (!('code' in found)) return found;
    return {
      problem:
        found.code === 'missing'
          ? `Cryptolib CPS introuvable (cherchée : ${found.searched.join(', ')}) : installez-la depuis le site de l'ANS`
          : found.message,
    };
  };
  const load = (): Pkcs11Module | null => {
    if (mod) return mod;
    const found = find();
    if ('problem' in found) {
      status = { ...status, problem: found.problem };
      return null;
    }
    try {
      mod = new Pkcs11Module(found.path);
    } catch (e) {
      status = { ...status, path: found.path, problem: `Cryptolib CPS non chargeable : ${(e as Error).message}` };
      return null;
    }
    const { version: v, packageVersion, supportsCps4 } = mod.info;
    status = {
      path: found.path,
      version: `${v.major}.${v.minor}${packageVersion ? ` (Cryptolib CPS ${packageVersion})` : ''}`,
      description: mod.info.description,
      supportsCps4,
      problem:
        supportsCps4 === false
          ? `module ${v.major}.${v.minor} (Cryptolib CPS ${packageVersion ?? 'antérieure à 5.2'}) : ne lit pas les ` +
            `CPS4, installez la 5.2 ou plus récente`
          : null,
    };
    return mod;
  };
  const monitor = new PcscMonitor({
    createContext: loadPcsc,
    ...(opts.readerFilter ? { readerFilter: opts.readerFilter } : {}),
  });
  const custody = opts.custody;
  const backend = new PcscCpsBackend({
    monitor,
    module: load,
    ...(custody
      ? {
          badges: {
            profiles: () => opts.config.value<Partial<BadgeProfile>[]>('BadgeProfiles').map(withProfileDefaults),
            custody,
            allowUidOnly: () => opts.config.value<boolean>('AllowUidOnlyBadges'),
          },
        }
      : {}),
  });
  // Before the first card, the diagnostic already says which Cryptolib would load, or that none is there.
  const preview = (): CryptolibStatus => {
    const found = find();
    return 'problem' in found ? { ...status, problem: found.problem } : { ...status, path: found.path };
  };
  return { backend, cryptolib: () => (mod ? { ...status } : preview()) };
}

/** The HID badge readers named by the ReaderProfiles setting (kind "hid"), on node-hid. */
function hidBackendFromConfig(config: ConfigStore, host: HidHost = nodeHidHost()): HidBackend {
  const profiles = () =>
    config
      .value<Record<string, unknown>[]>('ReaderProfiles')
      .filter((p) => p.kind === 'hid')
      .map((p) => ({ ...p, kind: p.driver }) as unknown as HidReaderProfile);
  return new HidBackend({ host, profiles });
}
