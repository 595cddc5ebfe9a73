// The provider's secrets and key plan of the moment. Every instance re-reads them from the database
// (a rotation made by `keys rotate` elsewhere, an expiry due) and erases the private parts past retention.
import type { CheckpointKeys } from '../audit';
import type { Log } from '../log';
import { checkpointKeys, keyPlan } from '../secrets';
import type { KeyPlan, ProviderSecrets, SecretStore } from '../secrets';

export class ServerKeys {
  private constructor(
    private readonly store: SecretStore,
    public secrets: ProviderSecrets,
    public plan: KeyPlan,
    /** How long a replaced signing key stays published. */
    private readonly retainMs: number,
    private readonly now: () => Date,
    private readonly log: Log,
  ) {}

  /**
   * Opens the store (creating the secrets on a first start). A replaced signing key stays published
   * while the ID tokens it signed live (their TTL, plus clock skew).
   */
  static async open(store: SecretStore, accessTokenTtlS: number, now: () => Date, log: Log): Promise<ServerKeys> {
    const secrets = await store.open(now());
    if (!store.sealed)
      log.warn(
        'server secrets stored in clear in the database: give a key-encryption key (--secrets-key-file) to seal them',
      );
    const retainMs = (accessTokenTtlS + 300) * 1000;
    return new ServerKeys(store, secrets, keyPlan(secrets, now(), retainMs), retainMs, now, log);
  }

  /** The audit's checkpoint keys of the moment. */
  checkpointKeys(): CheckpointKeys {
    return checkpointKeys(this.secrets, this.plan);
  }

  /** Re-reads the secrets, erases the private parts past retention, and returns the plan now in force. */
  async refresh(): Promise<KeyPlan> {
    this.secrets = (await this.store.read()) ?? this.secrets;
    let next = keyPlan(this.secrets, this.now(), this.retainMs);
    if (next.expired.length) {
      this.secrets = await this.store.expire(next.expired);
      this.log.info('signing keys expired', { kids: next.expired });
      next = keyPlan(this.secrets, this.now(), this.retainMs);
    }
    this.plan = next;
    return next;
  }
}
