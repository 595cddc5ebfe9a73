import type { T } from '../ui/types';

/** Before the agent answered: no lock screen is shown that the agent did not send. */
export function Connecting({ tr }: { tr: T }) {
  return (
    <section className="card progress" data-testid="connecting">
      <div className="spinner" aria-hidden="true" />
      <h1>{tr('connecting')}</h1>
    </section>
  );
}

/** The page has no (or a wrong) launch secret: the refusal alone, nothing of the agent behind it. */
export function Refused({ tr }: { tr: T }) {
  return (
    <section className="card refused" data-testid="conn-refused" role="alert">
      <h1>{tr('refusedTitle')}</h1>
      <p className="subtitle">{tr('refusedHint')}</p>
    </section>
  );
}
