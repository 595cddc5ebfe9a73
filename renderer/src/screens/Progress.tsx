import type { T } from '../ui/types';

export function Progress({ reading, tr }: { reading: boolean; tr: T }) {
  return (
    <section className="card progress" data-testid="progress">
      <div className="spinner" aria-hidden="true" />
      <h1>{reading ? tr('reading') : tr('verifying')}</h1>
    </section>
  );
}
