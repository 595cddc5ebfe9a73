// The workstation's registration with the session server: done once with the enrolment token from
// policy (MSI property), the private key then kept sealed by the OS (DPAPI / Keychain / libsecret via
// safeStorage), never in clear on disk. A missing or unreadable seal registers again (a new key).
import fs from 'node:fs';
import os from 'node:os';
import type { ConfigStore } from '../core/config/store';
import { registerWorkstation } from '../core/oidc/server-client';
import type { WorkstationCredentials } from '../core/oidc/server-client';
import { safeStorageStore } from './secret-store';
import type { SecretStore } from './secret-store';

export function workstationCredentials(
  serverUrl: string,
  config: ConfigStore,
  file: string,
  store: SecretStore = safeStorageStore,
): () => Promise<WorkstationCredentials> {
  let pending: Promise<WorkstationCredentials> | null = null;
  const load = async (): Promise<WorkstationCredentials> => {
    if (fs.existsSync(file)) {
      try {
        const c = JSON.parse(store.open(fs.readFileSync(file))) as WorkstationCredentials & { issuer?: string };
        if (c.issuer === serverUrl) return c;
      } catch {
        // Sealed by another OS account or machine, or damaged: register again below.
      }
    }
    const token = config.value<string>('EnrolmentToken');
    if (!token) throw new Error('workstation not registered: the EnrolmentToken policy (MSI ENROLMENT_TOKEN) is empty');
    const creds = await registerWorkstation(serverUrl, token, os.hostname());
    fs.writeFileSync(file, store.seal(JSON.stringify({ ...creds, issuer: serverUrl })), { mode: 0o600 });
    return creds;
  };
  return () =>
    (pending ??= load().catch((e: unknown) => {
      pending = null;
      throw e;
    }));
}
