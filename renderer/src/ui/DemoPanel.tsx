import { useState } from 'react';
import type { DemoInventory } from '../../../shared/contract';
import type { UiClient } from '../transport';
import { ChevronIcon } from './icons';
import type { Call, T } from './types';

/** The simulated readers, shown only in demo mode; folds away to give the screen back. */
export function DemoPanel(props: { inventory: DemoInventory; client: UiClient; tr: T; call: Call }) {
  const { inventory, client, tr, call } = props;
  const [open, setOpen] = useState(true);
  return (
    <aside className={open ? 'demo' : 'demo folded'} data-testid="demo-panel" aria-label={tr('demoTitle')}>
      <button
        className="demo-title"
        onClick={() => setOpen(!open)}
        aria-expanded={open}
        title={open ? tr('demoHide') : tr('demoShow')}
        data-testid="demo-toggle"
      >
        {tr('demoTitle')} <ChevronIcon open={open} />
      </button>
      {open && (
        <>
          <h2>{tr('demoCards')}</h2>
          <ul>
            {inventory.cards.map((c) => (
              <li key={c.id}>
                <span className="label">
                  {c.label}
                  <small>{c.blocked ? tr('demoBlocked') : tr('demoTries', { n: c.triesLeft })}</small>
                </span>
                {c.inserted ? (
                  <button
                    className="btn small"
                    onClick={() => void call(() => client.invoke('demo.removeCard', {}))}
                    data-testid="demo-remove-card"
                  >
                    {tr('demoRemove')}
                  </button>
                ) : (
                  <button
                    className="btn small"
                    onClick={() => void call(() => client.invoke('demo.insertCard', { cardId: c.id }))}
                    data-testid={`demo-insert-${c.id}`}
                  >
                    {tr('demoInsert')}
                  </button>
                )}
              </li>
            ))}
          </ul>
          <h2>{tr('demoBadges')}</h2>
          <ul>
            {inventory.badges.map((b) => (
              <li key={b.id}>
                <span className="label">
                  {b.label}
                  <small>{b.proof}</small>
                </span>
                <button
                  className="btn small"
                  onClick={() => void call(() => client.invoke('demo.tapBadge', { badgeId: b.id }))}
                  data-testid={`demo-tap-${b.id}`}
                >
                  {tr('demoTap')}
                </button>
              </li>
            ))}
          </ul>
          <button
            className="btn ghost wide"
            onClick={() => void call(() => client.invoke('demo.reset', {}))}
            data-testid="demo-reset"
          >
            {tr('demoReset')}
          </button>
        </>
      )}
    </aside>
  );
}
