// The PC/SC backend as configured: CPS cards through the Cryptolib found at the configured path (or the
// ANS standard one), DESFire badges through the configured profiles and key custody. Also what the
// diagnostic page shows about them (Cryptolib path and version, or why it is missing).
import type { ConfigStore } from '../config/store';
import type { KeyCustody } from './badge/desfire/custody';
import { findCryptolib, Pkcs11Module } from './cps/cryptolib';
import { PcscCpsBackend } from './pcsc';
import { loadPcsc } from '../../../native/pcsclite';
import { PcscMonitor } from './pcsc-monitor';
import { withProfileDefaults } from '../config/badge-profile';
import type { BadgeProfile } from '../config/badge-profile';

export interface CryptolibStatus {
  path: string | null;
  version: string | null;
  description: string | null;
  /** Null: not established from the module's version; each CPS4 is tried and what happens is reported. */
  supportsCps4: boolean | null;
  problem: string | null;
}

export interface PcscSetup {
  backend: PcscCpsBackend;
  cryptolib(): CryptolibStatus;
}

export function createPcscBackend(opts: {
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
  const load = (): Pkcs11Module | null => {
    if (mod) return mod;
    const found = findCryptolib(opts.config.value<string>('CryptolibPath') || undefined);
    if ('code' in found) {
      status = {
        ...status,
        problem:
          found.code === 'missing'
            ? `Cryptolib CPS introuvable (cherchée : ${found.searched.join(', ')}) : installez-la depuis le site de l'ANS`
            : found.message,
      };
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
          ? `module ${v.major}.${v.minor} (Cryptolib CPS ${packageVersion ?? 'antérieure à 5.2'}) : ne lit pas les CPS4, installez la 5.2 ou plus récente`
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
    const found = findCryptolib(opts.config.value<string>('CryptolibPath') || undefined);
    return 'code' in found
      ? {
          ...status,
          problem:
            found.code === 'missing'
              ? `Cryptolib CPS introuvable (cherchée : ${found.searched.join(', ')}) : installez-la depuis le site de l'ANS`
              : found.message,
        }
      : { ...status, path: found.path };
  };
  return { backend, cryptolib: () => (mod ? { ...status } : preview()) };
}
