// The agent's UI: what the agent says (state, readers, policy, errors; ui/use-agent.ts) and which screen
// shows it. Each screen is its own file in screens/; the pieces they share are in ui/.
import { useCallback, useEffect, useState } from 'react';
import type { AgentError, DmpPatient, Lang, SessionState } from '../../shared/contract';
import { t } from './i18n';
import { CardBlocked } from './screens/CardBlocked';
import { Connecting, Refused } from './screens/Connection';
import { Diagnostic } from './screens/Diagnostic';
import { LockScreen } from './screens/LockScreen';
import { NotConfigured } from './screens/NotConfigured';
import { PinPad } from './screens/PinPad';
import { Progress } from './screens/Progress';
import { SessionBanner } from './screens/SessionBanner';
import type { UiClient } from './transport';
import { DemoPanel } from './ui/DemoPanel';
import { TopBar } from './ui/TopBar';
import type { Call, T } from './ui/types';
import { useActivityPings, useAgent } from './ui/use-agent';

export function App({ client }: { client: UiClient }) {
  const { state, policy, readers, inventory, error, patient, conn, call } = useAgent(client);
  const [page, setPage] = useState<'main' | 'diagnostic'>(location.hash === '#diagnostic' ? 'diagnostic' : 'main');
  const lang: Lang = policy.lang;
  const tr: T = useCallback((k, p) => t(lang, k, p), [lang]);
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  useActivityPings(client);

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
      <TopBar
        client={client}
        policy={policy}
        readers={readers}
        lang={lang}
        page={page}
        togglePage={() => setPage(page === 'main' ? 'diagnostic' : 'main')}
        tr={tr}
        call={call}
      />
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
