import type { T } from '../ui/types';

export function CardBlocked({ tr }: { tr: T }) {
  return (
    <section className="card blocked" data-testid="card-blocked" role="alert">
      <h1>{tr('blockedTitle')}</h1>
      <p className="subtitle">{tr('blockedHint')}</p>
    </section>
  );
}
