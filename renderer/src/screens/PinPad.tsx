import { useCallback, useLayoutEffect, useRef, useState } from 'react';
import type { AgentError, SessionState } from '../../../shared/contract';
import { padErrorKey, secondFactorKey } from '../i18n';
import type { UiClient } from '../transport';
import { ErrorLine } from '../ui/ErrorLine';
import type { Call, T } from '../ui/types';

type PinState = Extract<SessionState, { kind: 'pin-required' }>;

/** A slot of fixed height: a message appearing never moves the keys under the finger. */
function PinMessage({ state, error, tr }: { state: PinState; error: AgentError | null; tr: T }) {
  // The card blocks at its last try; a session code only locks the account for a while (its own message).
  const lastTry = state.secondFactor === 'card-pin' && state.triesLeft === 1;
  return (
    <div className="pin-message" data-testid="pin-message">
      {error ? (
        <ErrorLine error={error} tr={tr} msgKey={padErrorKey(error.code, state.secondFactor)} />
      ) : state.triesLeft !== null && state.triesLeft < 3 ? (
        <p className="message warn">{tr('triesLeft', { n: state.triesLeft })}</p>
      ) : null}
      {lastTry && <p className="message warn strong">{tr('lastTryWarning')}</p>}
    </div>
  );
}

/** The digits, erase and submit: large keys that stay where they are. */
function Keys(props: {
  press(d: string): void;
  erase(): void;
  submit(): void;
  complete: boolean;
  busy: boolean;
  tr: T;
}) {
  const { press, busy, tr } = props;
  return (
    <div className="keys">
      {['1', '2', '3', '4', '5', '6', '7', '8', '9'].map((d) => (
        <button key={d} className="key" onClick={() => press(d)} data-testid={`pin-key-${d}`} disabled={busy}>
          {d}
        </button>
      ))}
      <button className="key action" onClick={props.erase} data-testid="pin-erase" disabled={busy}>
        {tr('pinErase')}
      </button>
      <button className="key" onClick={() => press('0')} data-testid="pin-key-0" disabled={busy}>
        0
      </button>
      <button
        className="key action primary"
        onClick={props.submit}
        disabled={!props.complete || busy}
        data-testid="pin-submit"
      >
        {tr('pinSubmit')}
      </button>
    </div>
  );
}

export function PinPad(props: { state: PinState; client: UiClient; tr: T; error: AgentError | null; call: Call }) {
  const { state, client, tr, error, call } = props;
  // The PIN lives in this component only (state for the dots, a ref for the keys), is sent once and
  // cleared at once. Keys read the ref: a nurse typing faster than the screen redraws loses no digit and
  // no Enter (a listener's copy of the state would still hold the PIN of the previous redraw).
  const [pin, setPinState] = useState('');
  const pinRef = useRef('');
  const busyRef = useRef(false);
  const [busy, setBusy] = useState(false);
  const maxLen = state.pinLength ?? 12;
  const isComplete = useCallback(
    (p: string) => (state.pinLength ? p.length === state.pinLength : p.length >= 4),
    [state.pinLength],
  );
  const complete = isComplete(pin);
  const padRef = useRef<HTMLDivElement>(null);
  const setPin = useCallback((next: (p: string) => string) => {
    pinRef.current = next(pinRef.current);
    setPinState(pinRef.current);
  }, []);

  const submit = useCallback(
    async (value: string) => {
      if (busyRef.current) return;
      busyRef.current = true;
      setBusy(true);
      setPin(() => '');
      try {
        await call(() => client.invoke('session.submitPin', { pin: value }));
      } finally {
        busyRef.current = false;
        setBusy(false);
      }
    },
    [call, client, setPin],
  );

  const press = useCallback(
    (d: string) => {
      if (busyRef.current) return;
      setPin((p) => (p.length < maxLen ? p + d : p));
    },
    [maxLen, setPin],
  );

  // Before the pad is painted: from the moment it shows, keys are the PIN's and the focus is on the pad,
  // not on the control that was focused before (a key typed then reached it: Enter pressed that button).
  useLayoutEffect(() => {
    padRef.current?.focus();
  }, []);

  useLayoutEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (/^[0-9]$/.test(e.key)) press(e.key);
      else if (e.key === 'Backspace') setPin((p) => p.slice(0, -1));
      else if (e.key === 'Escape') void call(() => client.invoke('session.cancel', {}));
      else if (e.key === 'Enter' && isComplete(pinRef.current)) void submit(pinRef.current);
      // An Enter of an incomplete PIN presses only the pad's own focused key, never a control behind it.
      else if (e.key !== 'Enter' || padRef.current?.contains(e.target as Node)) return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [press, submit, isComplete, setPin, call, client]);

  const name = state.identity
    ? `${state.identity.firstName} ${state.identity.lastName} — ${state.identity.profession}`
    : null;
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
        role="img"
        aria-label={tr('pinDigits', { typed: pin.length, total: state.pinLength ?? '…' })}
        data-testid="pin-dots"
      >
        {Array.from({ length: state.pinLength ?? Math.max(4, pin.length) }, (_, i) => (
          <span key={i} className={i < pin.length ? 'dot filled' : 'dot'} />
        ))}
      </div>
      <PinMessage state={state} error={error} tr={tr} />
      <Keys
        press={press}
        erase={() => setPin((p) => p.slice(0, -1))}
        submit={() => void submit(pinRef.current)}
        complete={complete}
        busy={busy}
        tr={tr}
      />
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
