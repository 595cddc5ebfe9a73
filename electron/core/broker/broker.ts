// The DPI broker: desktop applications on this PC (the DPI first) get the current user's access token
// for their own audience, follow the user context (CCOW-like events) and open the DMP for a patient.
// The application is identified by its endpoint, then the endpoint calls the Broker: the local socket
// (below, the DPI's) by what the OS says about the peer, the loopback HTTP one (http-endpoint.ts) by its
// secret.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { PeerIdentity } from '../../../native/peercred';
import { isHttpsOrLoopback } from '../util/url';
import { parseBrokerRequest } from '../../../shared/broker-wire';
import type {
  BrokerHello,
  BrokerLine,
  BrokerMethod,
  BrokerResult,
  BrokerToken,
  ContextEvent,
  Patient,
} from '../../../shared/broker-wire';
import type { DmpPatient, Identity, OpenSession, SessionState } from '../../../shared/contract';
import { RefusalAudit } from '../audit/audit';
import { ServerError } from '../oidc/server-client';
import { agentCodeOf } from '../oidc/server-codes';
import type { AuditSink } from '../audit/audit';
import type { Clock } from '../util/clock';
import { Listeners } from '../util/emitter';
import { checkIns, INS_OID } from './ins';
import type { InsError } from './ins';

/** An application registered by policy: identified by its executable (local socket) or by a secret (HTTP). */
export interface BrokerApp {
  id: string;
  name: string;
  /** Absolute path of the executable allowed on the local socket (the OS reports the peer's). */
  executable?: string;
  /** SHA-256 (hex) of the per-application secret for the loopback HTTP endpoint; never the secret itself. */
  secretSha256?: string;
  /** Audiences (relying-party resource identifiers) this application may get tokens for. */
  audiences: string[];
  /** May call openDmp. */
  dmp?: boolean;
}

export type BrokerErrorCode =
  | 'not-registered'
  | 'audience-not-allowed'
  | 'locked'
  | 'mfa-expired'
  | 'no-server-session'
  | 'server-unreachable'
  | 'exchange-refused'
  | 'dmp-not-allowed'
  | 'dmp-not-configured'
  | 'no-patient'
  | 'bad-request'
  | InsError;

const MESSAGES: Record<Exclude<BrokerErrorCode, InsError>, string> = {
  'not-registered':
    'Application non enregistrée auprès de Sillage : demandez à l’informatique de l’ajouter à la stratégie « ' +
    'Applications autorisées ».',
  'audience-not-allowed':
    'Cette application n’est pas autorisée à demander un jeton pour ce destinataire (stratégie « Applications ' +
    'autorisées »).',
  locked: 'Poste verrouillé : le soignant doit d’abord badger ou insérer sa carte CPS.',
  'mfa-expired': 'La session forte de 4 heures est terminée : le soignant doit se réauthentifier (carte + code).',
  'no-server-session':
    'Session ouverte en mode dégradé (serveur de sessions injoignable) : aucun jeton ne peut être délivré pour ' +
    'l’instant.',
  'server-unreachable':
    'Serveur de sessions injoignable : réessayez dans un instant ; si cela dure, contactez le support.',
  'exchange-refused': 'Le serveur de sessions a refusé le jeton pour ce destinataire.',
  'dmp-not-allowed': 'Cette application n’est pas autorisée à ouvrir le DMP.',
  'dmp-not-configured':
    'Accès DMP non configuré : l’informatique doit renseigner le modèle d’URL du DMP (stratégie « DmpUrlTemplate »).',
  'no-patient': 'Aucun patient en cours : ouvrez le dossier du patient dans le DPI.',
  'bad-request': 'Requête invalide.',
};

export class BrokerError extends Error {
  constructor(
    readonly code: BrokerErrorCode,
    message?: string,
  ) {
    super(message ?? MESSAGES[code as keyof typeof MESSAGES] ?? code);
  }
}

/** What the agent's UI may show of the current patient (never the full INS). */
export type PatientSummary = DmpPatient;

export interface DmpOptions {
  /**
   * URL template from policy: placeholders {ins} (15 characters), {insNumber}, {insKey}, {oid},
   * {idNat} (the professional), each URL-encoded. The contextual call's query syntax is the
   * hospital's configuration, not a guess in code.
   */
  urlTemplate: string | null;
  /** Opens the URL in the system browser or a hardened window (the shell's job). */
  open(url: string): Promise<void>;
}

export interface BrokerDeps {
  getState(): SessionState;
  onState(listener: (s: SessionState) => void): () => void;
  /** The open session's own tokens (memory only), null for a degraded session. */
  tokensOf(session: OpenSession): { accessToken: string } | null;
  /** RFC 8693 at the session server; fails with its ServerError. */
  exchange(accessToken: string, audience: string): Promise<{ accessToken: string; expiresAt: number }>;
  audit: AuditSink;
  clock: Clock;
  apps: BrokerApp[];
  dmp?: DmpOptions;
  /** Cached tokens are handed out until this close to their expiry (default 30 s). */
  refreshMarginMs?: number;
}

export const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

const TERMINAL = new Set(['mfa-expired', 'session-revoked']);

export class Broker {
  readonly events = new Listeners<ContextEvent>();
  /** The patient the DPI has on screen (for the tray's "Ouvrir le DMP"), null when none or after a user change. */
  readonly patientChanged = new Listeners<PatientSummary | null>();
  private patient: { value: Patient; session: OpenSession } | null = null;
  private cache = new Map<string, { token: BrokerToken; session: OpenSession }>();
  private inflight = new Map<string, Promise<BrokerToken>>();
  private current: OpenSession | null = null;
  private lastContext: ContextEvent | null = null;
  /** The last person seen at the keyboard (kept across locks, cleared by a logout): tells a switch. */
  private lastUser: Identity | null = null;
  private unsubscribe: () => void;
  private readonly refusals: RefusalAudit;

  constructor(private readonly deps: BrokerDeps) {
    this.refusals = new RefusalAudit(deps.audit, deps.clock);
    const st = deps.getState();
    this.current = st.kind === 'open' ? st.session : null;
    this.unsubscribe = deps.onState((s) => this.stateChanged(s));
  }

  close(): void {
    this.unsubscribe();
    this.cache.clear();
  }

  /** Application connected on the local socket, as the OS reports its executable. */
  byExecutable(executable: string | null): BrokerApp | null {
    if (!executable) return null;
    return this.deps.apps.find((a) => a.executable && a.executable === executable) ?? null;
  }

  /** Application on the loopback HTTP endpoint, by its secret (constant-time comparison of hashes). */
  bySecret(secret: string | null): BrokerApp | null {
    if (!secret) return null;
    const h = Buffer.from(sha256Hex(secret), 'hex');
    for (const a of this.deps.apps) {
      if (!a.secretSha256 || a.secretSha256.length !== 64) continue;
      if (timingSafeEqual(h, Buffer.from(a.secretSha256, 'hex'))) return a;
    }
    return null;
  }

  /** Audit a refused connection (unregistered executable, wrong secret), capped per endpoint against floods. */
  refuseUnknown(endpoint: 'socket' | 'http', what: string): BrokerError {
    this.refusals.record(`broker ${endpoint}`, {
      action: 'broker.connect',
      outcome: 'failure',
      reason: `not-registered: ${what}`,
    });
    return new BrokerError('not-registered');
  }

  /** Current context, for a subscriber that just connected. */
  context(): ContextEvent {
    if (this.lastContext) return this.lastContext;
    const s = this.deps.getState();
    const at = this.deps.clock.now();
    if (s.kind === 'open')
      return {
        type: s.session.factors.length < 2 ? 're-opened' : 'session-opened',
        user: s.session.user,
        assurance: s.session.assurance,
        at,
      };
    return { type: 'locked', user: null, reason: s.kind === 'locked' ? s.reason : s.kind, at };
  }

  async getToken(app: BrokerApp, audience: unknown): Promise<BrokerToken> {
    if (typeof audience !== 'string' || !audience) throw new BrokerError('bad-request', 'audience manquante');
    const session = this.openSession(app, 'broker.token', audience);
    if (!app.audiences.includes(audience))
      throw this.refuse(app, 'broker.token', 'audience-not-allowed', session, audience);
    const now = this.deps.clock.now();
    const margin = this.deps.refreshMarginMs ?? 30_000;
    const hit = this.cache.get(audience);
    if (hit && hit.session === session && hit.token.expires_at * 1000 - now > margin) return hit.token;
    const running = this.inflight.get(audience);
    if (running) return running;
    const p = this.exchange(app, session, audience).finally(() => this.inflight.delete(audience));
    this.inflight.set(audience, p);
    return p;
  }

  private async exchange(app: BrokerApp, session: OpenSession, audience: string): Promise<BrokerToken> {
    const own = this.deps.tokensOf(session);
    if (!own) throw this.refuse(app, 'broker.token', 'no-server-session', session, audience);
    let r: { accessToken: string; expiresAt: number };
    try {
      r = await this.deps.exchange(own.accessToken, audience);
    } catch (e) {
      // The session server down (or its key store): the DPI may try again; anything else is its refusal.
      const unreachable = e instanceof ServerError && agentCodeOf(e.code) === 'server-unreachable';
      throw this.refuse(
        app,
        'broker.token',
        unreachable ? 'server-unreachable' : 'exchange-refused',
        session,
        audience,
      );
    }
    // The user may have changed while the exchange ran: never hand the previous user's token out.
    if (this.current !== session) throw this.refuse(app, 'broker.token', 'locked', session, audience);
    const token: BrokerToken = { access_token: r.accessToken, token_type: 'Bearer', audience, expires_at: r.expiresAt };
    this.cache.set(audience, { token, session });
    this.deps.audit.record({
      action: 'broker.token',
      outcome: 'success',
      idNat: session.user.idNat,
      reason: `${app.id} → ${audience}`,
    });
    return token;
  }

  subscribe(app: BrokerApp, listener: (e: ContextEvent) => void): () => void {
    this.deps.audit.record({ action: 'broker.subscribe', outcome: 'info', reason: app.id });
    return this.events.add(listener);
  }

  /** Opens the DMP web PS for a patient, for an application or the tray ('tray'). Returns the URL opened. */
  async openDmp(app: BrokerApp | 'tray', patient: Partial<Patient> | null | undefined): Promise<{ url: string }> {
    const who = appId(app);
    if (app !== 'tray' && !app.dmp) throw this.refuse(app, 'dmp.open', 'dmp-not-allowed', null);
    const session = this.openSession(app, 'dmp.open', 'DMP');
    if (session.degraded) throw this.refuse(app, 'dmp.open', 'no-server-session', session);
    const check = checkIns(patient?.ins, patient?.oid);
    if (!check.ok) {
      this.deps.audit.record({
        action: 'dmp.open',
        outcome: 'failure',
        idNat: session.user.idNat,
        reason: `${who}: ${check.error}`,
      });
      throw new BrokerError(check.error!, check.message);
    }
    const template = this.deps.dmp?.urlTemplate;
    if (!template || !this.deps.dmp) throw this.refuse(app, 'dmp.open', 'dmp-not-configured', session);
    const url = buildDmpUrl(template, {
      ins: check.number! + check.key!,
      insNumber: check.number!,
      insKey: check.key!,
      oid: patient!.oid!,
      idNat: session.user.idNat,
    });
    const kind = patient!.oid === INS_OID.NIR ? 'NIR' : 'NIA';
    this.deps.audit.record({
      action: 'dmp.open',
      outcome: 'success',
      idNat: session.user.idNat,
      reason: `${who}: patient INS ${check.number}${check.key} (${kind})`,
    });
    await this.deps.dmp.open(url);
    return { url };
  }

  /** The DPI tells which patient is on screen (checked INS), so the tray can open their DMP. */
  setPatient(app: BrokerApp, patient: Partial<Patient> | null | undefined): PatientSummary | null {
    if (!app.dmp) throw this.refuse(app, 'dmp.patient', 'dmp-not-allowed', null);
    const session = this.openSession(app, 'dmp.patient', 'patient');
    if (patient === null) {
      this.patient = null;
      this.patientChanged.emit(null);
      return null;
    }
    const check = checkIns(patient?.ins, patient?.oid);
    if (!check.ok) {
      // Audited like any refusal; the malformed INS itself (patient data) is not written.
      this.deps.audit.record({
        action: 'dmp.patient',
        outcome: 'failure',
        idNat: session.user.idNat,
        reason: `${check.error}: ${appId(app)}`,
      });
      throw new BrokerError(check.error!, check.message);
    }
    this.patient = { value: { ...patient, ins: check.number! + check.key!, oid: patient!.oid! }, session };
    const summary = this.currentPatient();
    this.patientChanged.emit(summary);
    return summary;
  }

  currentPatient(): PatientSummary | null {
    const p = this.livePatient();
    if (!p) return null;
    return {
      lastName: p.lastName ?? '',
      firstName: p.firstName ?? '',
      insMasked: `${p.ins.slice(0, 5)}••••••••${p.ins.slice(13)}`,
    };
  }

  /** Tray / UI action: the DMP of the patient the DPI has on screen. */
  async openCurrentDmp(): Promise<{ url: string }> {
    const p = this.livePatient();
    if (!p) {
      this.deps.audit.record({ action: 'dmp.open', outcome: 'failure', reason: 'tray: no-patient' });
      throw new BrokerError('no-patient');
    }
    return this.openDmp('tray', p);
  }

  /** The patient set during the session still open, if any. */
  private livePatient(): Patient | null {
    return this.patient && this.patient.session === this.current ? this.patient.value : null;
  }

  private openSession(app: BrokerApp | 'tray', action: string, target: string): OpenSession {
    const st = this.deps.getState();
    if (st.kind !== 'open') throw this.refuse(app, action, 'locked', null, target);
    if (st.session.mfaExpiresAt <= this.deps.clock.now())
      throw this.refuse(app, action, 'mfa-expired', st.session, target);
    return st.session;
  }

  private refuse(
    app: BrokerApp | 'tray',
    action: string,
    code: BrokerErrorCode,
    session: OpenSession | null,
    target?: string,
  ): BrokerError {
    const who = appId(app);
    this.deps.audit.record({
      action,
      outcome: 'failure',
      ...(session ? { idNat: session.user.idNat } : {}),
      reason: `${code}: ${who}${target ? ` → ${target}` : ''}`,
    });
    return new BrokerError(code);
  }

  private stateChanged(s: SessionState): void {
    const next = s.kind === 'open' ? s.session : null;
    if (next !== this.current) {
      // Another session (or none): every cached token and the patient context belong to the previous one.
      this.cache.clear();
      this.current = next;
      if (this.patient) {
        this.patient = null;
        this.patientChanged.emit(null);
      }
    }
    if (s.kind !== 'open' && s.kind !== 'locked') return;
    const e = this.contextOf(s);
    if (this.lastContext && this.lastContext.type === e.type && this.lastContext.user?.idNat === e.user?.idNat) return;
    this.lastContext = e;
    this.events.emit(e);
  }

  private contextOf(s: SessionState): ContextEvent {
    const at = this.deps.clock.now();
    if (s.kind === 'open') {
      const user = s.session.user;
      // A different person than the last one seen (and not logged out since): the DPI must switch user.
      const switched = this.lastUser !== null && this.lastUser.idNat !== user.idNat;
      this.lastUser = user;
      const assurance = s.session.assurance;
      if (switched) return { type: 'user-switched', user, assurance, at };
      return { type: s.session.factors.length < 2 ? 're-opened' : 'session-opened', user, assurance, at };
    }
    const reason = s.kind === 'locked' ? s.reason : 'startup';
    if (TERMINAL.has(reason)) this.lastUser = null;
    return { type: TERMINAL.has(reason) ? 'logged-out' : 'locked', user: null, reason, at };
  }
}

const appId = (app: BrokerApp | 'tray') => (app === 'tray' ? 'tray' : app.id);

export function buildDmpUrl(template: string, values: Record<string, string>): string {
  const url = template.replace(/\{(\w+)\}/g, (m, k: string) => {
    if (!(k in values))
      throw new BrokerError(
        'dmp-not-configured',
        `Modèle d’URL DMP invalide : paramètre {${k}} inconnu (connus : ${Object.keys(values).join(', ')}).`,
      );
    return encodeURIComponent(values[k]!);
  });
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new BrokerError('dmp-not-configured', 'Modèle d’URL DMP invalide : ce n’est pas une URL.');
  }
  if (!isHttpsOrLoopback(u))
    throw new BrokerError('dmp-not-configured', 'Modèle d’URL DMP invalide : HTTPS obligatoire.');
  return u.toString();
}

// --- The local endpoint: the DPI's socket ---
// A Unix-domain socket (a named pipe on Windows), newline-delimited JSON. The application is identified by
// what the OS says about the peer process (its executable and user), never by what it claims. A pid names
// a process, and a process may exec another program after connecting (connect, fork, let the parent exec
// the registered binary, talk from the child): so the agent first sends a fresh challenge,
// `{"event":"challenge","nonce"}`, and the client's first line must be
// `{"id", "method":"hello", "params":{"nonce"}}`, written (the kernel says) by the process that connected,
// still alive and still running the registered file it ran at accept. The lines, methods and answers:
// shared/broker-wire.ts.

export interface LocalEndpointOptions {
  broker: Broker;
  /** Socket path (Unix) or pipe name (Windows). */
  path: string;
  /** The OS's view of the peer at accept (native/peercred); throws when it cannot be known (then refused). */
  identify(socket: net.Socket): PeerIdentity;
  /** Only processes of this user may connect (default: the agent's own user). */
  uid?: number;
  /** How long a client has to answer the challenge (default 3 s). */
  challengeTimeoutMs?: number;
}

const MAX_LINE = 64 * 1024;
/** Handshakes waiting for an answer at once (each waits on a thread of its own). */
const MAX_PENDING = 16;

export function defaultSocketPath(): string {
  if (process.platform === 'win32') return `\\\\.\\pipe\\sillage-broker-${os.userInfo().username}`;
  const base = process.env.XDG_RUNTIME_DIR || path.join(os.tmpdir(), `sillage-${process.getuid?.() ?? 'user'}`);
  return path.join(base, 'sillage', 'broker.sock');
}

export class LocalEndpoint {
  private server: net.Server | null = null;
  private sockets = new Set<net.Socket>();
  private pending = 0;

  constructor(private readonly opts: LocalEndpointOptions) {}

  async listen(): Promise<string> {
    const p = this.opts.path;
    if (process.platform !== 'win32') {
      // A private directory: the socket is reachable by this user only, before any peer check.
      fs.mkdirSync(path.dirname(p), { recursive: true, mode: 0o700 });
      fs.chmodSync(path.dirname(p), 0o700);
      fs.rmSync(p, { force: true });
    }
    // Paused: nothing is read from a peer before it answered the challenge (read by the addon, with credentials).
    const server = net.createServer({ pauseOnConnect: true }, (s) => void this.accept(s).catch(() => s.destroy()));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, () => resolve());
    });
    if (process.platform !== 'win32') fs.chmodSync(p, 0o600);
    return p;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    if (process.platform !== 'win32') fs.rmSync(this.opts.path, { force: true });
  }

  private async accept(socket: net.Socket): Promise<void> {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const send = (o: BrokerLine) => {
      if (!socket.destroyed) socket.write(JSON.stringify(o) + '\n');
    };
    const refuse = (who: string) => {
      const err = this.opts.broker.refuseUnknown('socket', who);
      send({ id: null, error: { code: err.code, message: err.message } });
      socket.end();
    };
    let peer: PeerIdentity;
    let app: BrokerApp | null = null;
    let who: string;
    try {
      peer = this.opts.identify(socket);
    } catch (e) {
      return refuse(`unidentified peer (${(e as Error).message})`);
    }
    try {
      who = `pid ${peer.pid} ${peer.executable ?? '(executable unknown)'}`;
      const uid = this.opts.uid ?? process.getuid?.();
      if (uid === undefined || peer.uid === uid) app = this.opts.broker.byExecutable(peer.executable);
      else who += ` (uid ${peer.uid})`;
      if (!app) return refuse(who);
      if (this.pending >= MAX_PENDING) return refuse(`${who}: too many connections waiting`);
      const nonce = randomBytes(18).toString('base64url');
      send({ event: 'challenge', nonce });
      this.pending++;
      let first: Buffer;
      try {
        first = await peer.confirm({ timeoutMs: this.opts.challengeTimeoutMs ?? 3000, maxBytes: MAX_LINE });
      } catch (e) {
        return refuse(`${who}: ${(e as Error).message}`);
      } finally {
        this.pending--;
      }
      const nl = first.indexOf(0x0a);
      const answer = parseBrokerRequest(first.subarray(0, nl).toString('utf8'));
      if (answer?.method !== 'hello' || answer.params.nonce !== nonce) return refuse(`${who}: challenge not answered`);
      this.serve(socket, app, send, answer.id, first.subarray(nl + 1));
    } finally {
      peer.release();
    }
  }

  private serve(
    socket: net.Socket,
    app: BrokerApp,
    send: (o: BrokerLine) => void,
    helloId: number | string | null,
    rest: Buffer,
  ) {
    send({ id: helloId, result: hello(app) });
    let unsubscribe: (() => void) | null = null;
    socket.on('close', () => unsubscribe?.());
    const decoder = new StringDecoder('utf8');
    let buf = '';
    const take = (chunk: Buffer) => {
      buf += decoder.write(chunk);
      if (buf.length > MAX_LINE && !buf.includes('\n')) {
        send({ id: null, error: { code: 'bad-request', message: 'message trop long' } });
        socket.destroy();
        return;
      }
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.trim()) void this.handle(app, line, send, (u) => (unsubscribe = u));
      }
    };
    take(rest);
    socket.on('data', take);
    socket.resume();
  }

  private async handle(
    app: BrokerApp,
    line: string,
    send: (o: BrokerLine) => void,
    setUnsub: (u: () => void) => void,
  ): Promise<void> {
    const msg = parseBrokerRequest(line);
    if (!msg) return send({ id: null, error: { code: 'bad-request', message: 'objet JSON attendu' } });
    const { id, params } = msg;
    const b = this.opts.broker;
    // One handler per method of the wire (shared/broker-wire.ts): a method or answer renamed there fails here.
    const handlers: { [M in BrokerMethod]: () => BrokerResult<M> | Promise<BrokerResult<M>> } = {
      hello: () => hello(app),
      context: () => b.context(),
      subscribe: () => {
        setUnsub(b.subscribe(app, (e) => send({ event: 'context', data: e })));
        return b.context();
      },
      getToken: () => b.getToken(app, params.audience),
      setPatient: () => b.setPatient(app, params.patient as never),
      openDmp: () => b.openDmp(app, params.patient as never),
    };
    try {
      if (!msg.method) throw new BrokerError('bad-request', `méthode inconnue : ${String(msg.sent)}`);
      send({ id, result: await handlers[msg.method]() });
    } catch (e) {
      const err = e instanceof BrokerError ? e : new BrokerError('bad-request');
      send({ id, error: { code: err.code, message: err.message } });
    }
  }
}

const hello = (app: BrokerApp): BrokerHello => ({ app: app.id, name: app.name, audiences: app.audiences });
