// The workstation's registration with the session server: done once with the one-time enrolment token
// (EnrolmentToken policy, MSI property, or SILLAGE_ENROLMENT_TOKEN in headless mode), the private key then
// kept sealed by the secret store and reused at every start. A seal for another server, or one this
// account cannot open, registers again (a new key). Nothing is registered while the store cannot seal:
// the one-time token is not spent on a key that would be lost.
import fs from 'node:fs';
import type { JWK } from 'jose';
import { SoftwareKey } from '../keys/software-key';
import type { AuditSink } from '../audit/audit';
import { registerWorkstation } from '../oidc/server-client';
import type { WorkstationCredentials } from '../oidc/server-client';
import type { SecretStore } from './secret-store';
import { writeSealed } from './secret-store';

export interface WorkstationOptions {
  serverUrl: string;
  /** Read when registration is needed (a policy may bring it after start). */
  enrolmentToken: () => string;
  /** The sealed credentials file; null keeps them in memory for this run (tests). */
  file: string | null;
  store: SecretStore;
  /** Shown to IT in the server's workstation list. */
  name: string;
  audit: AuditSink;
}

export function workstationCredentials(opts: WorkstationOptions): () => Promise<WorkstationCredentials> {
  let pending: Promise<WorkstationCredentials> | null = null;
  const stored = (): WorkstationCredentials | null => {
    if (!opts.file || !fs.existsSync(opts.file)) return null;
    try {
      const c = JSON.parse(opts.store.open(fs.readFileSync(opts.file))) as {
        issuer?: string;
        clientId: string;
        privateJwk: JWK;
      };
      return c.issuer === opts.serverUrl ? { clientId: c.clientId, key: SoftwareKey.fromJwk(c.privateJwk) } : null;
    } catch {
      // Sealed by another OS account or machine, or damaged: register again.
      return null;
    }
  };
  const load = async (): Promise<WorkstationCredentials> => {
    const known = stored();
    if (known) return known;
    try {
      const token = opts.enrolmentToken();
      if (!token)
        throw new Error('workstation not registered: the EnrolmentToken policy (MSI ENROLMENT_TOKEN) is empty');
      if (opts.file && !opts.store.isAvailable())
        throw new Error(`workstation not registered: no protected storage to keep its key (${opts.store.kind})`);
      const key = SoftwareKey.generate();
      const creds = await registerWorkstation(opts.serverUrl, token, opts.name, { key });
      const record = { issuer: opts.serverUrl, clientId: creds.clientId, privateJwk: key.privateJwk };
      if (opts.file) writeSealed(opts.file, opts.store.seal(JSON.stringify(record)));
      opts.audit.record({
        action: 'workstation.registered',
        outcome: 'success',
        reason: `${opts.serverUrl} as ${creds.clientId} (key: ${opts.file ? opts.store.kind : 'memory'})`,
      });
      return creds;
    } catch (e) {
      opts.audit.record({ action: 'workstation.registered', outcome: 'failure', reason: (e as Error).message });
      throw e;
    }
  };
  return () =>
    (pending ??= load().catch((e: unknown) => {
      pending = null;
      throw e;
    }));
}
