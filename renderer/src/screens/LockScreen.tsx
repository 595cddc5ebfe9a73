import type { AgentError, LockReason } from '../../../shared/contract';
import { reasonKey } from '../i18n';
import { ErrorLine } from '../ui/ErrorLine';
import { LockIcon } from '../ui/icons';
import type { T } from '../ui/types';

export function LockScreen({ reason, error, tr }: { reason: LockReason; error: AgentError | null; tr: T }) {
  const said = tr(reasonKey(reason));
  return (
    <section className="card lock" data-testid="lock-screen">
      <div className="lock-icon">
        <LockIcon />
      </div>
      <h1>{tr('lockTitle')}</h1>
      <p className="subtitle">{tr('lockSubtitle')}</p>
      {said && (
        <p className="message info" data-testid="lock-reason">
          {said}
        </p>
      )}
      {reason === 'auth-failed' && <ErrorLine error={error} tr={tr} />}
    </section>
  );
}
