import { useEffect, useState } from 'react';
import type { AgentError, BadgeEnrolment, DmpPatient, Lang, OpenSession } from '../../../shared/contract';
import { assuranceKey, errorKey, formatLeft } from '../i18n';
import type { UiClient } from '../transport';
import { ErrorLine } from '../ui/ErrorLine';
import type { Call, T } from '../ui/types';

// The strong session's end is announced this long before, so nobody is surprised by the code prompt.
const ENDING_SOON_MS = 15 * 60_000;

// The roaming window's words: a session resting on a badge the server took on trust is not called strong.
const WINDOW_STRONG = { open: 'bannerMfa', soon: 'bannerEndingSoon', over: 'bannerExpired' } as const;
const WINDOW_ASSERTED = { open: 'bannerWindow', soon: 'bannerWindowEndingSoon', over: 'bannerWindowExpired' } as const;

/**
 * The open session. One way off the PC: lock it. The session stays open on the server, so the same
 * person gets it back by a tap here or elsewhere, and a colleague takes the PC by tapping in (the
 * agent switches user): a second "switch user" button would do exactly the same and only ask the nurse
 * to choose.
 */
export function SessionBanner(props: {
  session: OpenSession;
  enrolment: BadgeEnrolment | undefined;
  client: UiClient;
  tr: T;
  lang: Lang;
  call: Call;
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
  const soon = left > 0 && left <= ENDING_SOON_MS;
  const asserted = session.assurance === 'asserted';
  const words = asserted ? WINDOW_ASSERTED : WINDOW_STRONG;
  return (
    <section className="card banner" data-testid="session-banner">
      <p className={asserted ? 'assurance warning' : 'assurance'} data-testid="banner-assurance">
        {tr(assuranceKey(session))}
      </p>
      <h1 data-testid="banner-name">
        {session.user.firstName} {session.user.lastName}
      </h1>
      <p className="profession">{session.user.profession}</p>
      <p className={soon ? 'mfa-left warning' : 'mfa-left'} data-testid="banner-mfa" role={soon ? 'alert' : undefined}>
        {tr(left <= 0 ? words.over : soon ? words.soon : words.open, { left: formatLeft(left, lang) })}
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
      </div>
      <p className="hint" data-testid="banner-lock-hint">
        {tr('lockHint')}
      </p>
    </section>
  );
}

/** "Associer un badge" after a CPS login: the next tap binds the new badge; the result says what next. */
function Enrolment(props: { enrolment: BadgeEnrolment; client: UiClient; tr: T; call: Call }) {
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
