// What the agent says, as React state: the session, the UI policy, readers, demo inventory, the last error
// and the DMP patient, read once the connection opens and then followed by the agent's events.
import { useCallback, useEffect, useState } from 'react';
import type {
  AgentError,
  DemoInventory,
  DmpPatient,
  ReaderInfo,
  SessionState,
  UiPolicy,
} from '../../../shared/contract';
import { ContractError } from '../../../shared/errors';
import type { ConnectionState, UiClient } from '../transport';
import type { Call } from './types';

export interface AgentView {
  /** null until the agent has said where it stands: no screen is shown that it did not send. */
  state: SessionState | null;
  policy: UiPolicy;
  readers: ReaderInfo[] | null;
  inventory: DemoInventory | null;
  error: AgentError | null;
  patient: DmpPatient | null;
  conn: ConnectionState;
  call: Call;
}

export function useAgent(client: UiClient): AgentView {
  const [state, setState] = useState<SessionState | null>(null);
  const [policy, setPolicy] = useState<UiPolicy>({ allowQuit: false, demo: false, lang: 'fr' });
  const [readers, setReaders] = useState<ReaderInfo[] | null>(null);
  const [inventory, setInventory] = useState<DemoInventory | null>(null);
  const [error, setError] = useState<AgentError | null>(null);
  const [patient, setPatient] = useState<DmpPatient | null>(null);
  const [conn, setConn] = useState<ConnectionState>('connecting');

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

  const call: Call = useCallback(async (fn) => {
    try {
      await fn();
    } catch (e) {
      // The transports reject with the command's ContractError; anything else is the page's own fault.
      setError({ code: e instanceof ContractError ? e.code : 'internal', at: Date.now() });
    }
  }, []);

  return { state, policy, readers, inventory, error, patient, conn, call };
}

/** Tells the agent of the user's activity (for the inactivity lock), at most every 20 s. */
export function useActivityPings(client: UiClient): void {
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
}
