import type { Lang, ReaderInfo, UiPolicy } from '../../../shared/contract';
import type { UiClient } from '../transport';
import { LockIcon } from './icons';
import { ReaderStatus } from './ReaderStatus';
import type { Call, T } from './types';

/** The name, the readers, the diagnostic page and the language (unless the hospital's policy fixed it). */
export function TopBar(props: {
  client: UiClient;
  policy: UiPolicy;
  readers: ReaderInfo[] | null;
  lang: Lang;
  page: 'main' | 'diagnostic';
  togglePage(): void;
  tr: T;
  call: Call;
}) {
  const { client, policy, lang, page, tr, call } = props;
  return (
    <header className="topbar">
      <span className="brand">{tr('appName')}</span>
      {!policy.notConfigured && <ReaderStatus readers={props.readers} tr={tr} />}
      <div className="topbar-actions">
        <button className="btn ghost" onClick={props.togglePage} data-testid="diagnostic-toggle">
          {page === 'main' ? tr('diagnostic') : tr('back')}
        </button>
        {policy.locked?.includes('Language') ? (
          // Fixed by the hospital's policy: shown, not changeable.
          <span
            className="btn ghost locked"
            data-testid="lang-locked"
            title={tr('lockedByPolicy')}
            aria-disabled="true"
          >
            <LockIcon size={18} /> {tr('lockedByPolicy')}
          </span>
        ) : (
          <button
            className="btn ghost"
            data-testid="lang-toggle"
            onClick={() => void call(() => client.invoke('ui.setLanguage', { lang: lang === 'fr' ? 'en' : 'fr' }))}
          >
            {tr('language')}
          </button>
        )}
      </div>
    </header>
  );
}
