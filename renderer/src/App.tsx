// The agent's UI: what the agent says (state, readers, policy, errors) and which screen shows it. Each
// screen is its own file in screens/; the pieces they share are in ui/.
import { useCallback, useEffect, useState } from 'react';
import type {
  AgentError,
  DemoInventory,
  DmpPatient,
  Lang,
  ReaderInfo,
  SessionState,
  UiPolicy,
} from '../../shared/contract';
import { ContractError } from '../../shared/errors';
import { t } from './i18n';
import { CardBlocked } from './screens/CardBlocked';
import { Connecting, Refused } from './screens/Connection';
import { Diagnostic } from './screens/Diagnostic';
import { LockScreen } from './screens/LockScreen';
import { NotConfigured } from './screens/NotConfigured';
import { PinPad } from './screens/PinPad';
import { Progress } from './screens/Progress';
import { SessionBanner } from './screens/SessionBanner';
import type { ConnectionState, UiClient } from './transport';
import { DemoPanel } from './ui/DemoPanel';
import { LockIcon } from './ui/icons';
import { ReaderStatus } from './ui/ReaderStatus';
import type { Call, T } from './ui/types';

export function App({ client }: { client: UiClient }) {
  // null until the agent has said where it stands: no screen is shown that it did not send.
  const [state, setState] = useState<SessionState | null>(null);
  const [policy, setPolicy] = useState<UiPolicy>({ allowQuit: false, demo: false, lang: 'fr' });
  const [readers, setReaders] = useState<ReaderInfo[] | null>(null);
  const [inventory, setInventory] = useState<DemoInventory | null>(null);
  const [error, setError] = useState<AgentError | null>(null);
  const [patient, setPatient] = useState<DmpPatient | null>(null);
  const [conn, setConn] = useState<ConnectionState>('connecting');
  const [page, setPage] = useState<'main' | 'diagnostic'>(location.hash === '#diagnostic' ? 'diagnostic' : 'main');
  const lang: Lang = policy.lang;
  const tr: T = useCallback((k, p) => t(lang, k, p), [lang]);

  const refresh = useCallback(async () => {
    const [s, p, r] = await Promise.all([
      client.invoke('session.getState', {}),
      client.invoke('ui.getPolicy', {}),
      client.invoke('readers.list', {}),
    ]);
    setState(s);
    setPolicy(p);
    setReaders(r);
    if (p.demo) setInventory(await client.invoke('demo.inventory', {}));
    if (p.dmp) setPatient(await client.invoke('dmp.getPatient', {}));
  }, [client]);

  useEffect(() => {
    const offConn = client.onConnection((c) => {
      setConn(c);
      if (c === 'open') void refresh().catch(() => {});
    });
    const offEv = client.onEvent((e) => {
      if (e.event === 'session.state') {
        setState(e.payload);
        // A new step clears a stale message, except the one explaining this very state.
        const s = e.payload;
        if (s.kind === 'open' || s.kind === 'presented' || (s.kind === 'locked' && s.reason === 'startup'))
          setError(null);
      } else if (e.event === 'agent.error') setError(e.payload);
      else if (e.event === 'readers.changed') setReaders(e.payload);
      else if (e.event === 'ui.policy') setPolicy(e.payload);
      else if (e.event === 'demo.inventory') setInventory(e.payload);
      else if (e.event === 'dmp.patient') setPatient(e.payload);
    });
    return () => {
      offConn();
      offEv();
    };
  }, [client, refresh]);

  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);

  // Activity for the inactivity lock, at most every 20 s.
  useEffect(() => {
    let last = 0;
    const ping = () => {
      const now = Date.now();
      if (now - last > 20_000) {
        last = now;
        void client.invoke('ui.activity', {}).catch(() => {});
      }
    };
    window.addEventListener('pointerdown', ping);
    window.addEventListener('keydown', ping);
    return () => {
      window.removeEventListener('pointerdown', ping);
      window.removeEventListener('keydown', ping);
    };
  }, [client]);

  const call: Call = useCallback(async (fn) => {
    try {
      await fn();
    } catch (e) {
      // The transports reject with the command's ContractError; anything else is the page's own fault.
      setError({ code: e instanceof ContractError ? e.code : 'internal', at: Date.now() });
    }
  }, []);

  if (conn === 'unauthorized')
    return (
      <div className="app">
        <header className="topbar">
          <span className="brand">{tr('appName')}</span>
        </header>
        <div className="layout">
          <main className="main">
            <Refused tr={tr} />
          </main>
        </div>
      </div>
    );

  return (
    <div className="app">
      <header className="topbar">
        <span className="brand">{tr('appName')}</span>
        {!policy.notConfigured && <ReaderStatus readers={readers} tr={tr} />}
        <div className="topbar-actions">
          <button
            className="btn ghost"
            onClick={() => setPage(page === 'main' ? 'diagnostic' : 'main')}
            data-testid="diagnostic-toggle"
          >
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
      {conn !== 'open' && state && (
        <div className="conn-banner" role="status" data-testid="conn-banner">
          {tr('connLost')}
        </div>
      )}
      <div className="layout">
        <main className="main" aria-live="polite">
          {!state ? (
            <Connecting tr={tr} />
          ) : page === 'diagnostic' ? (
            <Diagnostic client={client} tr={tr} lang={lang} />
          ) : policy.notConfigured ? (
            <NotConfigured info={policy.notConfigured} lang={lang} />
          ) : (
            <Screen
              state={state}
              client={client}
              tr={tr}
              lang={lang}
              error={error}
              call={call}
              patient={policy.dmp ? patient : null}
            />
          )}
        </main>
        {policy.demo && inventory && <DemoPanel inventory={inventory} client={client} tr={tr} call={call} />}
      </div>
    </div>
  );
}

function Screen(props: {
  state: SessionState;
  client: UiClient;
  tr: T;
  lang: Lang;
  error: AgentError | null;
  call: Call;
  patient: DmpPatient | null;
}) {
  const { state, client, tr, lang, error, call } = props;
  switch (state.kind) {
    case 'locked':
      return <LockScreen reason={state.reason} error={error} tr={tr} />;
    case 'presented':
    case 'authenticating':
      return <Progress reading={state.kind === 'presented'} tr={tr} />;
    case 'pin-required':
      return <PinPad state={state} client={client} tr={tr} error={error} call={call} />;
    case 'card-blocked':
      return <CardBlocked tr={tr} />;
    case 'open':
      return (
        <SessionBanner
          session={state.session}
          enrolment={state.enrolment}
          client={client}
          tr={tr}
          lang={lang}
          call={call}
          patient={props.patient}
          error={error}
        />
      );
  }
}
