import { useCallback, useEffect, useRef, useState } from 'react';
import type {
  AgentError,
  BadgeEnrolment,
  DemoInventory,
  DiagnosticsReport,
  DmpPatient,
  Lang,
  ReaderInfo,
  SessionState,
  UiPolicy,
} from '../../shared/contract';
import { assuranceKey, errorKey, formatLeft, reasonKey, secondFactorKey, t } from './i18n';
import type { MsgKey } from './i18n';
import { NotConfigured } from './NotConfigured';
import type { ConnectionState, UiClient } from './transport';

type T = (key: MsgKey, params?: Record<string, string | number>) => string;

export function App({ client }: { client: UiClient }) {
  const [state, setState] = useState<SessionState>({ kind: 'locked', reason: 'startup' });
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
        if (e.payload.kind === 'open' || e.payload.kind === 'presented') setError(null);
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

  const call = useCallback(async (fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'internal';
      setError({ code: code as AgentError['code'], at: Date.now() });
    }
  }, []);

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
              🔒 {tr('lockedByPolicy')}
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
      {conn !== 'open' && (
        <div className="conn-banner" role="status" data-testid="conn-banner">
          {conn === 'unauthorized' ? tr('connUnauthorized') : tr('connLost')}
        </div>
      )}
      <div className="layout">
        <main className="main" aria-live="polite">
          {page === 'diagnostic' ? (
            <Diagnostic client={client} tr={tr} />
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

function ReaderStatus({ readers, tr }: { readers: ReaderInfo[] | null; tr: T }) {
  if (!readers) return null;
  const ok = readers.some((r) => r.status === 'ok');
  const text = readers.length === 0 ? tr('readerNone') : ok ? tr('readerOk') : tr('readerUnavailable');
  return (
    <span className={`reader-status ${ok ? 'ok' : 'bad'}`} data-testid="reader-status">
      <span className="dot" aria-hidden="true" />
      {text}
    </span>
  );
}

function ErrorLine({ error, tr }: { error: AgentError | null; tr: T }) {
  if (!error) return null;
  return (
    <p className="message error" role="alert" data-testid="error-message">
      {tr(errorKey(error.code), error.params ?? {})}
    </p>
  );
}

function Screen(props: {
  state: SessionState;
  client: UiClient;
  tr: T;
  lang: Lang;
  error: AgentError | null;
  call: (fn: () => Promise<unknown>) => Promise<void>;
  patient: DmpPatient | null;
}) {
  const { state, client, tr, lang, error, call } = props;
  switch (state.kind) {
    case 'locked':
      return (
        <section className="card lock" data-testid="lock-screen">
          <div className="lock-icon" aria-hidden="true">
            ▭
          </div>
          <h1>{tr('lockTitle')}</h1>
          <p className="subtitle">{tr('lockSubtitle')}</p>
          {tr(reasonKey(state.reason)) && (
            <p className="message info" data-testid="lock-reason">
              {tr(reasonKey(state.reason))}
            </p>
          )}
          {state.reason === 'auth-failed' && <ErrorLine error={error} tr={tr} />}
        </section>
      );
    case 'presented':
    case 'authenticating':
      return (
        <section className="card progress" data-testid="progress">
          <div className="spinner" aria-hidden="true" />
          <h1>{state.kind === 'presented' ? tr('reading') : tr('verifying')}</h1>
        </section>
      );
    case 'pin-required':
      return <PinPad state={state} client={client} tr={tr} error={error} call={call} />;
    case 'card-blocked':
      return (
        <section className="card blocked" data-testid="card-blocked" role="alert">
          <h1>{tr('blockedTitle')}</h1>
          <p className="subtitle">{tr('blockedHint')}</p>
        </section>
      );
    case 'open':
      return (
        <Banner
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

function PinPad(props: {
  state: Extract<SessionState, { kind: 'pin-required' }>;
  client: UiClient;
  tr: T;
  error: AgentError | null;
  call: (fn: () => Promise<unknown>) => Promise<void>;
}) {
  const { state, client, tr, error, call } = props;
  // The PIN lives in this component's state only, is sent once and cleared at once.
  const [pin, setPin] = useState('');
  const [busy, setBusy] = useState(false);
  const maxLen = state.pinLength ?? 12;
  const complete = state.pinLength ? pin.length === state.pinLength : pin.length >= 4;
  const padRef = useRef<HTMLDivElement>(null);

  const submit = useCallback(
    async (value: string) => {
      if (busy) return;
      setBusy(true);
      setPin('');
      await call(() => client.invoke('session.submitPin', { pin: value }));
      setBusy(false);
    },
    [busy, call, client],
  );

  const press = useCallback(
    (d: string) => {
      if (busy) return;
      setPin((p) => (p.length < maxLen ? p + d : p));
    },
    [busy, maxLen],
  );

  useEffect(() => {
    padRef.current?.focus();
  }, []);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (/^[0-9]$/.test(e.key)) press(e.key);
      else if (e.key === 'Backspace') setPin((p) => p.slice(0, -1));
      else if (e.key === 'Escape') void call(() => client.invoke('session.cancel', {}));
      else if (e.key === 'Enter' && complete) void submit(pin);
      else return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [press, submit, complete, pin, call, client]);

  const name = state.identity
    ? `${state.identity.firstName} ${state.identity.lastName} — ${state.identity.profession}`
    : null;
  const wrong = error?.code === 'pin-wrong';
  return (
    <section className="card pin" data-testid="pin-pad" aria-label={tr('pinPadLabel')} ref={padRef} tabIndex={-1}>
      {name && (
        <p className="who" data-testid="pin-identity">
          {name}
        </p>
      )}
      <h1>{tr(secondFactorKey(state.secondFactor))}</h1>
      <div
        className="dots"
        aria-label={tr('pinDigits', { typed: pin.length, total: state.pinLength ?? '…' })}
        data-testid="pin-dots"
      >
        {Array.from({ length: state.pinLength ?? Math.max(4, pin.length) }, (_, i) => (
          <span key={i} className={i < pin.length ? 'filled' : ''}>
            {i < pin.length ? '●' : '○'}
          </span>
        ))}
      </div>
      <div data-testid="pin-message">
        {wrong ? (
          <ErrorLine error={error} tr={tr} />
        ) : error && error.code !== 'pin-wrong' ? (
          <ErrorLine error={error} tr={tr} />
        ) : state.triesLeft !== null && state.triesLeft < 3 ? (
          <p className="message warn">{tr('triesLeft', { n: state.triesLeft })}</p>
        ) : null}
        {state.triesLeft === 1 && <p className="message warn strong">{tr('lastTryWarning')}</p>}
      </div>
      <div className="keys">
        {['1', '2', '3', '4', '5', '6', '7', '8', '9'].map((d) => (
          <button key={d} className="key" onClick={() => press(d)} data-testid={`pin-key-${d}`} disabled={busy}>
            {d}
          </button>
        ))}
        <button
          className="key action"
          onClick={() => setPin((p) => p.slice(0, -1))}
          data-testid="pin-erase"
          disabled={busy}
        >
          {tr('pinErase')}
        </button>
        <button className="key" onClick={() => press('0')} data-testid="pin-key-0" disabled={busy}>
          0
        </button>
        <button
          className="key action primary"
          onClick={() => void submit(pin)}
          disabled={!complete || busy}
          data-testid="pin-submit"
        >
          {tr('pinSubmit')}
        </button>
      </div>
      <button
        className="btn ghost wide"
        onClick={() => void call(() => client.invoke('session.cancel', {}))}
        data-testid="pin-cancel"
      >
        {tr('pinCancel')}
      </button>
    </section>
  );
}

// The strong session's end is announced this long before, so nobody is surprised by the code prompt.
const ENDING_SOON_MS = 15 * 60_000;

function Banner(props: {
  session: Extract<SessionState, { kind: 'open' }>['session'];
  enrolment: BadgeEnrolment | undefined;
  client: UiClient;
  tr: T;
  lang: Lang;
  call: (fn: () => Promise<unknown>) => Promise<void>;
  patient: DmpPatient | null;
  error: AgentError | null;
}) {
  const { session, enrolment, client, tr, lang, call, patient, error } = props;
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(id);
  }, []);
  const left = session.mfaExpiresAt - now;
  return (
    <section className="card banner" data-testid="session-banner">
      <p
        className={session.assurance === 'asserted' ? 'assurance warning' : 'assurance'}
        data-testid="banner-assurance"
      >
        {tr(assuranceKey(session))}
      </p>
      <h1 data-testid="banner-name">
        {session.user.firstName} {session.user.lastName}
      </h1>
      <p className="profession">{session.user.profession}</p>
      <p
        className={left > 0 && left <= ENDING_SOON_MS ? 'mfa-left warning' : 'mfa-left'}
        data-testid="banner-mfa"
        role={left > 0 && left <= ENDING_SOON_MS ? 'alert' : undefined}
      >
        {left <= 0
          ? tr('bannerExpired')
          : left <= ENDING_SOON_MS
            ? tr('bannerEndingSoon', { left: formatLeft(left, lang) })
            : tr('bannerMfa', { left: formatLeft(left, lang) })}
      </p>
      {patient && (
        <button
          className="btn big wide"
          onClick={() => void call(() => client.invoke('dmp.openCurrent', {}))}
          data-testid="banner-dmp"
        >
          {tr('openDmp', { name: `${patient.lastName} ${patient.firstName}`.trim() || patient.insMasked })}
        </button>
      )}
      {error?.code === 'dmp-refused' && <ErrorLine error={error} tr={tr} />}
      {enrolment && <Enrolment enrolment={enrolment} client={client} tr={tr} call={call} />}
      <div className="row">
        <button
          className="btn primary big"
          onClick={() => void call(() => client.invoke('session.lock', {}))}
          data-testid="banner-lock"
        >
          {tr('lock')}
        </button>
        <button
          className="btn big"
          onClick={() => void call(() => client.invoke('session.switchUser', {}))}
          data-testid="banner-switch"
        >
          {tr('switchUser')}
        </button>
      </div>
    </section>
  );
}

/** "Associer un badge" after a CPS login: the next tap binds the new badge; the result says what next. */
function Enrolment(props: {
  enrolment: BadgeEnrolment;
  client: UiClient;
  tr: T;
  call: (fn: () => Promise<unknown>) => Promise<void>;
}) {
  const { enrolment, client, tr, call } = props;
  if (enrolment.status === 'waiting' || enrolment.status === 'checking')
    return (
      <div className="enrol">
        <p className="message info" role="status" data-testid="enrol-status">
          {tr(enrolment.status === 'waiting' ? 'enrolPresent' : 'enrolChecking')}
        </p>
        {enrolment.status === 'waiting' && (
          <button
            className="btn big"
            onClick={() => void call(() => client.invoke('session.cancel', {}))}
            data-testid="enrol-cancel"
          >
            {tr('pinCancel')}
          </button>
        )}
      </div>
    );
  return (
    <div className="enrol">
      {enrolment.status === 'bound' && (
        <p className="message info" role="status" data-testid="enrol-status">
          {tr('enrolBound')}
        </p>
      )}
      {enrolment.status === 'refused' && (
        <p className="message error" role="alert" data-testid="enrol-status">
          {tr(errorKey(enrolment.code))}
        </p>
      )}
      <button
        className="btn big wide"
        onClick={() => void call(() => client.invoke('session.enrolBadge', {}))}
        data-testid="banner-enrol"
      >
        {tr(enrolment.status === 'bound' ? 'enrolAnother' : 'enrolBadge')}
      </button>
    </div>
  );
}

function DemoPanel(props: {
  inventory: DemoInventory;
  client: UiClient;
  tr: T;
  call: (fn: () => Promise<unknown>) => Promise<void>;
}) {
  const { inventory, client, tr, call } = props;
  const [open, setOpen] = useState(true);
  return (
    <aside className="demo" data-testid="demo-panel" aria-label={tr('demoTitle')}>
      <button className="demo-title" onClick={() => setOpen(!open)} aria-expanded={open}>
        {tr('demoTitle')} {open ? '▾' : '▸'}
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

function Diagnostic({ client, tr }: { client: UiClient; tr: T }) {
  const [report, setReport] = useState<DiagnosticsReport | null>(null);
  useEffect(() => {
    void client.invoke('diagnostics.get', {}).then(setReport, () => {});
  }, [client]);
  if (!report) return null;
  const exportIt = async () => {
    // The agent builds the export (masked configuration, server reachability, log tail): one click for the nurse.
    const { fileName, content } = await client.invoke('diagnostics.export', {});
    const blob = new Blob([content], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = fileName;
    a.click();
    URL.revokeObjectURL(a.href);
  };
  return (
    <section className="card diag" data-testid="diagnostic">
      <h1>{tr('diagTitle')}</h1>
      <dl>
        <dt>{tr('diagVersion')}</dt>
        <dd>{report.version}</dd>
        <dt>{tr('diagMode')}</dt>
        <dd>
          {report.mode}
          {report.demo ? ' (démo)' : ''} — {report.platform}
        </dd>
        <dt>{tr('diagState')}</dt>
        <dd>{report.state}</dd>
        {report.session && (
          <>
            <dt>{tr('diagSession')}</dt>
            <dd data-testid="diag-session">
              {tr(assuranceKey(report.session))} ({report.session.factors.join(' + ')})
            </dd>
          </>
        )}
        <dt>{tr('diagReaders')}</dt>
        <dd data-testid="diag-readers">
          {report.readers
            .map(
              (r) =>
                `${r.name} [${r.transport}, ${r.status}${r.cardPresent ? ', carte' : ''}]${r.problem ? ` — ${r.problem}` : ''}`,
            )
            .join(' · ') || tr('none')}
        </dd>
        <dt>{tr('diagErrors')}</dt>
        <dd>
          {report.lastErrors.map((e) => `${new Date(e.at).toLocaleTimeString()} ${e.code}`).join(' · ') || tr('none')}
        </dd>
        <dt>{tr('diagPolicy')}</dt>
        <dd data-testid="diag-policy">{report.lockedSettings?.join(', ') || tr('none')}</dd>
        <dt>{tr('diagPolicyProblems')}</dt>
        <dd data-testid="diag-policy-problems">{report.configProblems?.join(' · ') || tr('none')}</dd>
        {report.cryptolib && (
          <>
            <dt>{tr('diagCryptolib')}</dt>
            <dd data-testid="diag-cryptolib">
              {report.cryptolib.path ? `${report.cryptolib.path} ${report.cryptolib.version ?? ''}` : tr('none')}
              {report.cryptolib.problem ? ` — ${report.cryptolib.problem}` : ''}
            </dd>
          </>
        )}
        {report.workstation && (
          <>
            <dt>{tr('diagWorkstationKey')}</dt>
            <dd data-testid="diag-workstation-key">
              {tr(
                report.workstation.key === 'tpm'
                  ? 'keyTpm'
                  : report.workstation.key === 'software'
                    ? 'keySoftware'
                    : 'keyNone',
              )}
              {` — ${report.workstation.keyStore}`}
              {report.workstation.tpm ? ` · ${tr('noTpm')} : ${report.workstation.tpm}` : ''}
              {` · ${tr('sealedBy')} ${report.workstation.secretStorage}`}
              {report.workstation.problem ? ` — ${report.workstation.problem}` : ''}
            </dd>
          </>
        )}
      </dl>
      <h2>{tr('diagAudit')}</h2>
      <ol className="audit">
        {report.audit
          .slice(-12)
          .reverse()
          .map((r) => (
            <li key={r.seq}>
              {new Date(r.at).toLocaleTimeString()} · {r.action} · {r.outcome}
              {r.reason ? ` · ${r.reason}` : ''}
            </li>
          ))}
      </ol>
      <button className="btn primary big" onClick={() => void exportIt()} data-testid="diagnostic-export">
        {tr('export')}
      </button>
    </section>
  );
}
