// The DPI broker as a DPI speaks it: the agent's local socket (electron/core/broker/broker.ts),
// newline-delimited JSON, and the loopback HTTP endpoint's bodies. One declaration of the methods, their
// parameters, answers and events, imported by the agent and by the reference DPI (testbed/reference-dpi.ts),
// so a renamed field fails to compile on both ends.
//
// Lines: the agent's first is `{"event":"challenge","nonce"}`; the client's first must be a `hello` carrying
// that nonce. Requests `{"id","method","params"}`; answers `{"id","result"}` or `{"id","error":{"code","message"}}`;
// `{"event":"context","data"}` once subscribed. A refusal before the greeting has `"id": null`.
import type { Assurance, DmpPatient, Identity } from './contract';

export interface BrokerToken {
  access_token: string;
  token_type: 'Bearer';
  audience: string;
  /** Epoch seconds. */
  expires_at: number;
}

/** User context event, HL7 CCOW-like: what a DPI needs to follow the person at the keyboard. */
export interface ContextEvent {
  type: 'session-opened' | 'user-switched' | 're-opened' | 'locked' | 'logged-out';
  /** The user now at the keyboard; null when locked or logged out. */
  user: Identity | null;
  assurance?: Assurance;
  /** Lock or logout reason (Sillage's lock reason codes). */
  reason?: string;
  /** Epoch ms. */
  at: number;
}

export interface Patient {
  ins: string;
  oid: string;
  lastName?: string;
  firstName?: string;
  /** YYYY-MM-DD */
  birthDate?: string;
  sex?: 'M' | 'F' | 'I';
}

/** Who the agent took the client for (from the OS's view of the peer). */
export interface BrokerHello {
  app: string;
  name: string;
  audiences: string[];
}

type NoParams = Record<string, never>;

export interface BrokerMethods {
  /** The first line answers the agent's challenge with its nonce; each hello after it repeats the greeting. */
  hello: { params: { nonce?: string }; result: BrokerHello };
  context: { params: NoParams; result: ContextEvent };
  /** The current context; then every change as a context event. */
  subscribe: { params: NoParams; result: ContextEvent };
  getToken: { params: { audience: string }; result: BrokerToken };
  /** The DPI's current patient (validated INS), or null to clear it; answers what the agent's UI may show. */
  setPatient: { params: { patient: Patient | null }; result: DmpPatient | null };
  /** Opens the DMP for this patient (or the current one). */
  openDmp: { params: { patient?: Patient | null }; result: { url: string } };
}

export type BrokerMethod = keyof BrokerMethods;
export type BrokerParams<M extends BrokerMethod> = BrokerMethods[M]['params'];
export type BrokerResult<M extends BrokerMethod> = BrokerMethods[M]['result'];

export const BROKER_METHODS: readonly BrokerMethod[] = [
  'hello',
  'context',
  'subscribe',
  'getToken',
  'setPatient',
  'openDmp',
] satisfies readonly BrokerMethod[];

export type BrokerRequest<M extends BrokerMethod = BrokerMethod> = {
  id: number | string;
  method: M;
  params: BrokerParams<M>;
};

export interface BrokerErrorBody {
  code: string;
  message: string;
}

/** Every line the agent writes. */
export type BrokerLine =
  | { event: 'challenge'; nonce: string }
  | { event: 'context'; data: ContextEvent }
  | { id: number | string | null; result: BrokerResult<BrokerMethod> }
  | { id: number | string | null; error: BrokerErrorBody };

/** One request line made safe to read: an id (number, string or null), the method as sent, params an object. */
export interface ReceivedRequest {
  id: number | string | null;
  method: BrokerMethod | null;
  /** The method as sent, for the refusal of an unknown one. */
  sent: unknown;
  /** Untrusted: the broker checks each field it reads. */
  params: Record<string, unknown>;
}

export function parseBrokerRequest(line: string): ReceivedRequest | null {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return null;
  const m = msg as { id?: unknown; method?: unknown; params?: unknown };
  return {
    id: typeof m.id === 'number' || typeof m.id === 'string' ? m.id : null,
    method: (BROKER_METHODS as readonly unknown[]).includes(m.method) ? (m.method as BrokerMethod) : null,
    sent: m.method,
    params: (typeof m.params === 'object' && m.params !== null && !Array.isArray(m.params) ? m.params : {}) as Record<
      string,
      unknown
    >,
  };
}
