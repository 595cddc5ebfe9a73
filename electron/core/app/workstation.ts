// The workstation's registration with the session server: done once with the one-time enrolment token
// (EnrolmentToken policy, MSI property, or SILLAGE_ENROLMENT_TOKEN in headless mode), then reused at every
// start. The key is made in the machine's TPM when it has one (it never leaves it), else — if the
// AllowSoftwareWorkstationKey policy allows it — in software; the registration record (the client id, how
// to find the key, and the software key or the TPM token's PIN) is sealed by the secret store, never kept
// where Linux's basic_text fallback would leave it readable unless AllowBasicTextSecretStorage allows it.
// A record for another server, or one this account or machine cannot open, registers again. Nothing is
// registered while the record cannot be sealed: the one-time token is not spent on a key that would be lost.
import fs from 'node:fs';
import type { JWK } from 'jose';
import type { DiagnosticsReport } from '../../../shared/contract';
import type { AuditSink } from '../audit/audit';
import type { HardwareKeys } from '../keys/platform-keys';
import { softwareKeys } from '../keys/software-key';
import type { KeyProvider, KeyRecord, WorkstationKey } from '../keys/workstation-key';
import { registerWorkstation } from '../oidc/server-client';
import type { WorkstationCredentials } from '../oidc/server-client';
import type { SecretStore } from '../keys/secret-store';
import { writeSealed } from '../keys/secret-store';

export interface WorkstationOptions {
  serverUrl: string;
  /** Read when registration is needed (a policy may bring it after start). */
  enrolmentToken: () => string;
  /** The sealed registration file; null keeps it in memory for this run (tests). */
  file: string | null;
  store: SecretStore;
  hardware: HardwareKeys;
  /** AllowSoftwareWorkstationKey: without a TPM, a software key may be registered. */
  allowSoftwareKey: boolean;
  /** AllowBasicTextSecretStorage: Linux's basic_text fallback may seal the record. */
  allowBasicText: boolean;
  /** Shown to IT in the server's workstation list. */
  name: string;
  audit: AuditSink;
}

export type WorkstationStatus = NonNullable<DiagnosticsReport['workstation']>;

export interface Workstation {
  credentials: () => Promise<WorkstationCredentials>;
  /** What the diagnostic shows: where the key lives, what seals the record, what is wrong. */
  status(): WorkstationStatus;
}

interface StoredRecord {
  issuer?: string;
  clientId: string;
  key?: KeyRecord;
  /** Records of earlier versions: a software key, sealed as a JWK. */
  privateJwk?: JWK;
}

const providerOf = (opts: WorkstationOptions, record: KeyRecord): KeyProvider => {
  if (record.kind === 'software') return softwareKeys;
  if (!opts.hardware.ok) throw new Error(`TPM key recorded but no TPM now: ${opts.hardware.reason}`);
  return opts.hardware.provider;
};

/**
 * The sealed record's protection (shown in the status), refused when it is basic_text and the policy does
 * not allow it.
 */
async function checkProtection(opts: WorkstationOptions, status: WorkstationStatus): Promise<void> {
  const p = await opts.store.protection();
  status.secretStorage = `${opts.store.kind} — ${p.detail}`;
  if (!p.available) throw new Error(`no protected storage for the workstation key (${p.detail})`);
  if (p.level === 'basic-text' && !opts.allowBasicText)
    throw new Error(
      'stockage basic_text refusé (mot de passe fixe : le fichier scellé se lirait ailleurs) — installez un ' +
        'trousseau (gnome-keyring, KWallet) ou autorisez AllowBasicTextSecretStorage / ' +
        'basic_text secret storage refused',
    );
}

/** The credentials sealed on an earlier registration with this server, or null: register again. */
async function storedCredentials(opts: WorkstationOptions): Promise<WorkstationCredentials | null> {
  if (!opts.file || !fs.existsSync(opts.file)) return null;
  let record: KeyRecord;
  let clientId: string;
  try {
    const { plain, reseal } = await opts.store.open(fs.readFileSync(opts.file));
    const c = JSON.parse(plain) as StoredRecord;
    if (c.issuer !== opts.serverUrl) return null;
    record = c.key ?? { kind: 'software', privateJwk: c.privateJwk! };
    clientId = c.clientId;
    if (reseal) writeSealed(opts.file, await opts.store.seal(plain));
  } catch {
    // Sealed by another OS account or machine, or damaged: register again.
    return null;
  }
  if (record.kind === 'software' && !opts.allowSoftwareKey) {
    opts.audit.record({
      action: 'workstation.key-refused',
      outcome: 'failure',
      reason: 'clé logicielle enregistrée refusée par AllowSoftwareWorkstationKey : nouvel enregistrement',
    });
    return null;
  }
  try {
    const key = await providerOf(opts, record).open(record);
    return { clientId, key };
  } catch (e) {
    // The TPM was cleared or replaced: the key is gone with it.
    opts.audit.record({ action: 'workstation.key-lost', outcome: 'failure', reason: (e as Error).message });
    return null;
  }
}

/** Where a new workstation key is made: the TPM, else software keys when the policy allows them. */
function newKey(opts: WorkstationOptions): KeyProvider {
  if (opts.hardware.ok) return opts.hardware.provider;
  if (opts.allowSoftwareKey) return softwareKeys;
  throw new Error(
    `pas de TPM (${opts.hardware.reason}) et clé logicielle refusée par AllowSoftwareWorkstationKey / ` +
      'no TPM and software keys refused',
  );
}

export function workstation(opts: WorkstationOptions): Workstation {
  let pending: Promise<WorkstationCredentials> | null = null;
  const status: WorkstationStatus = {
    key: 'none',
    keyStore: opts.hardware.ok ? opts.hardware.provider.description : softwareKeys.description,
    tpm: opts.hardware.ok ? null : opts.hardware.reason,
    secretStorage: opts.store.kind,
    problem: null,
  };
  const storeOf = (key: WorkstationKey) =>
    key.kind === 'tpm' && opts.hardware.ok ? opts.hardware.provider.description : softwareKeys.description;
  const done = (c: WorkstationCredentials) => {
    status.key = c.key.kind;
    status.keyStore = storeOf(c.key);
    status.problem = null;
    return c;
  };
  const load = async (): Promise<WorkstationCredentials> => {
    try {
      if (opts.file) await checkProtection(opts, status);
      const known = await storedCredentials(opts);
      if (known) return done(known);
      const token = opts.enrolmentToken();
      if (!token)
        throw new Error('workstation not registered: the EnrolmentToken policy (MSI ENROLMENT_TOKEN) is empty');
      const { key, record } = await newKey(opts).create();
      const creds = await registerWorkstation(opts.serverUrl, token, opts.name, { key });
      if (opts.file)
        writeSealed(
          opts.file,
          await opts.store.seal(JSON.stringify({ issuer: opts.serverUrl, clientId: creds.clientId, key: record })),
        );
      const sealedBy = opts.file ? opts.store.kind : 'memory';
      opts.audit.record({
        action: 'workstation.registered',
        outcome: 'success',
        reason: `${opts.serverUrl} as ${creds.clientId} (key: ${key.kind} — ${storeOf(key)}; sealed by: ${sealedBy})`,
      });
      return done(creds);
    } catch (e) {
      status.problem = (e as Error).message;
      opts.audit.record({ action: 'workstation.registered', outcome: 'failure', reason: (e as Error).message });
      throw e;
    }
  };
  return {
    credentials: () =>
      (pending ??= load().catch((e: unknown) => {
        pending = null;
        throw e;
      })),
    status: () => ({ ...status }),
  };
}
