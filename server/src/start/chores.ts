// What each instance does on its own clock: prune expired OIDC payloads, re-read the signing keys, and
// sign an audit checkpoint when the head moved.
import { pruneExpired } from '../adapter';
import type { Audit } from '../audit';
import type { Db } from '../db';
import type { Log } from '../log';

export function startChores(deps: {
  db: Db;
  audit: Audit;
  log: Log;
  refreshKeys: () => Promise<void>;
  keyRefreshMs: number;
  /** 0: no checkpoint. */
  checkpointMs: number;
}): { stop(): Promise<void> } {
  const { audit, log } = deps;
  const prune = setInterval(() => void pruneExpired(deps.db).catch(() => {}), 60_000);
  prune.unref();
  const keyRefresh = setInterval(
    () =>
      void deps
        .refreshKeys()
        .catch((e: unknown) => log.error('signing keys not refreshed', { err: (e as Error).message })),
    deps.keyRefreshMs,
  );
  keyRefresh.unref();
  // Each checkpoint also goes to the log, kept apart from the database (verify --checkpoints reads it back).
  // One checkpoint at a time; stop() waits for the one under way, so none is signed after it.
  let checkpointing: Promise<unknown> | null = null;
  const checkpoints = deps.checkpointMs
    ? setInterval(() => {
        checkpointing ??= audit
          .checkpoint()
          .then((cp) => cp && log.info('audit checkpoint', { seq: cp.seq, hash: cp.hash, jws: cp.jws }))
          .catch((e: unknown) => log.error('audit checkpoint failed', { err: (e as Error).message }))
          .finally(() => (checkpointing = null));
      }, deps.checkpointMs)
    : null;
  checkpoints?.unref();
  return {
    async stop() {
      clearInterval(prune);
      clearInterval(keyRefresh);
      if (checkpoints) clearInterval(checkpoints);
      await checkpointing;
    },
  };
}
