import type { AgentError } from '../../../shared/contract';
import { errorKey } from '../i18n';
import type { MsgKey } from '../i18n';
import type { T } from './types';

/** An agent error as the sentence that says what to do next (`key` when the screen knows better). */
export function ErrorLine({ error, tr, msgKey }: { error: AgentError | null; tr: T; msgKey?: MsgKey }) {
  if (!error) return null;
  return (
    <p className="message error" role="alert" data-testid="error-message">
      {tr(msgKey ?? errorKey(error.code), error.params ?? {})}
    </p>
  );
}
