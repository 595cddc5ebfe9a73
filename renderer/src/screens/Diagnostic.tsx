import { useEffect, useState } from 'react';
import type { DiagnosticsReport, Lang } from '../../../shared/contract';
import {
  assuranceKey,
  auditLabel,
  errorKey,
  formatTime,
  modeKey,
  outcomeKey,
  readerStateKey,
  stateKey,
  transportKey,
} from '../i18n';
import type { UiClient } from '../transport';
import type { T } from '../ui/types';

/** A raw code for the helpdesk, beside the words for everyone. */
const Code = ({ children }: { children: string }) => <code className="raw">{children}</code>;

function ReaderLines({ readers, tr }: { readers: DiagnosticsReport['readers']; tr: T }) {
  if (readers.length === 0) return tr('none');
  return readers.map((r) => (
    <div key={r.name}>
      {r.name} : {tr(readerStateKey(r.status))}, {tr(transportKey(r.transport))}
      {r.cardPresent ? `, ${tr('cardPresent')}` : ''}
      {r.problem ? ` — ${r.problem}` : ''}
    </div>
  ));
}

/** The workstation's key: where it lives (TPM or software), what seals it, what went wrong. */
function WorkstationKey({ ws, tr }: { ws: NonNullable<DiagnosticsReport['workstation']>; tr: T }) {
  return (
    <>
      {tr(ws.key === 'tpm' ? 'keyTpm' : ws.key === 'software' ? 'keySoftware' : 'keyNone')}
      {/* A software key's store is what the words already say; a TPM's names its provider. */}
      {ws.key !== 'software' && (
        <>
          {' '}
          <Code>{ws.keyStore}</Code>
        </>
      )}
      {ws.tpm ? ` · ${tr('noTpm')} : ${ws.tpm}` : ''}
      {` · ${tr('sealedBy')} `}
      <Code>{ws.secretStorage}</Code>
      {ws.problem ? ` — ${ws.problem}` : ''}
    </>
  );
}

/** The last audit records, newest first, in words with their raw action and reason. */
function AuditList({ records, tr, lang }: { records: DiagnosticsReport['audit']; tr: T; lang: Lang }) {
  return (
    <ol className="audit" data-testid="diag-audit">
      {records
        .slice(-12)
        .reverse()
        .map((r) => {
          const outcome = tr(outcomeKey(r.outcome));
          return (
            <li key={r.seq}>
              {formatTime(r.at, lang)} {auditLabel(r.action, lang) ?? r.action}
              {outcome ? ` — ${outcome}` : ''} <Code>{r.reason ? `${r.action} · ${r.reason}` : r.action}</Code>
            </li>
          );
        })}
    </ol>
  );
}

export function Diagnostic({ client, tr, lang }: { client: UiClient; tr: T; lang: Lang }) {
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
  const errors = report.lastErrors.slice(-3).reverse();
  return (
    <section className="card diag" data-testid="diagnostic">
      <h1>{tr('diagTitle')}</h1>
      <dl>
        <dt>{tr('diagVersion')}</dt>
        <dd>{report.version}</dd>
        <dt>{tr('diagMode')}</dt>
        <dd data-testid="diag-mode">
          {tr(modeKey(report.mode))}
          {report.demo ? `, ${tr('modeDemo')}` : ''} <Code>{report.platform}</Code>
        </dd>
        <dt>{tr('diagState')}</dt>
        <dd data-testid="diag-state">
          {tr(stateKey(report.state))} <Code>{report.state}</Code>
        </dd>
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
          <ReaderLines readers={report.readers} tr={tr} />
        </dd>
        <dt>{tr('diagErrors')}</dt>
        <dd data-testid="diag-errors">
          {errors.length === 0
            ? tr('none')
            : errors.map((e, i) => (
                <div key={i}>
                  {formatTime(e.at, lang)} {tr(errorKey(e.code), e.params ?? {})} <Code>{e.code}</Code>
                </div>
              ))}
        </dd>
        <dt>{tr('diagPolicy')}</dt>
        <dd data-testid="diag-policy">{report.lockedSettings?.join(', ') || tr('none')}</dd>
        <dt>{tr('diagPolicyProblems')}</dt>
        <dd data-testid="diag-policy-problems">{report.configProblems?.join(' · ') || tr('none')}</dd>
        {report.workstation && (
          <>
            <dt>{tr('diagWorkstationKey')}</dt>
            <dd data-testid="diag-workstation-key">
              <WorkstationKey ws={report.workstation} tr={tr} />
            </dd>
          </>
        )}
        {report.cryptolib && (
          <>
            <dt>{tr('diagCryptolib')}</dt>
            <dd data-testid="diag-cryptolib">
              {report.cryptolib.path ? `${report.cryptolib.path} ${report.cryptolib.version ?? ''}` : tr('none')}
              {report.cryptolib.problem ? ` — ${report.cryptolib.problem}` : ''}
            </dd>
          </>
        )}
      </dl>
      <h2>{tr('diagAudit')}</h2>
      <AuditList records={report.audit} tr={tr} lang={lang} />
      <button className="btn primary big" onClick={() => void exportIt()} data-testid="diagnostic-export">
        {tr('export')}
      </button>
    </section>
  );
}
