// The HID badge readers named by the ReaderProfiles setting (kind "hid"), on node-hid.
import type { ConfigStore } from '../../../config/store';
import { HidBackend } from './hid-backend';
import type { HidReaderProfile } from './hid-backend';
import { nodeHidHost } from './transport';
import type { HidHost } from './transport';

export function hidBackendFromConfig(config: ConfigStore, host: HidHost = nodeHidHost()): HidBackend {
  const profiles = () =>
    config
      .value<Record<string, unknown>[]>('ReaderProfiles')
      .filter((p) => p.kind === 'hid')
      .map((p) => ({ ...p, kind: p.driver }) as unknown as HidReaderProfile);
  return new HidBackend({ host, profiles });
}
