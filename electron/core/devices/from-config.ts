// Real reader backends as the configuration asks: PC/SC (CPS through the Cryptolib, DESFire badges with
// the configured key custody) and USB-HID badge readers. Shared by the Electron shell and headless mode.
import type { ConfigStore } from '../config/store';
import { LocalKeyCustody } from './badge/desfire/custody';
import type { KeyCustody } from './badge/desfire/custody';
import { hidBackendFromConfig } from './badge/hid/setup';
import type { HidHost } from './badge/hid/transport';
import { loadKeyFile } from './badge/key-file';
import { createPcscBackend } from './pcsc-setup';
import type { CryptolibStatus } from './pcsc-setup';
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
