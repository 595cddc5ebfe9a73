// Runtime validation of commands arriving from the UI. Whatever the transport, a payload is untrusted
// input: unknown commands, extra fields and wrong types are refused before reaching the agent.
import type { CommandName, CommandReq, Lang } from './contract';

type Check = (req: Record<string, unknown>) => string | null;

const isStr = (v: unknown, max = 64): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const optStr = (v: unknown) => v === undefined || isStr(v, 128);
const LANGS: readonly Lang[] = ['fr', 'en'];

function fields(allowed: string[], check: Check = () => null): Check {
  return (req) => {
    const extra = Object.keys(req).filter((k) => !allowed.includes(k));
    if (extra.length) return `unexpected field(s): ${extra.join(', ')}`;
    return check(req);
  };
}

const none = fields([]);

const CHECKS: { [K in CommandName]: Check } = {
  'session.getState': none,
  // Only digits and letters: a CPS PIN is 4 digits, an AD session code may be alphanumeric.
  'session.submitPin': fields(['pin'], (r) =>
    isStr(r.pin, 32) && /^[0-9A-Za-z]+$/.test(r.pin) ? null : 'pin must be 1-32 letters or digits',
  ),
  'session.cancel': none,
  'session.lock': none,
  'session.switchUser': none,
  'session.enrolBadge': none,
  'readers.list': none,
  'diagnostics.get': none,
  'diagnostics.export': none,
  'ui.getPolicy': none,
  'ui.setLanguage': fields(['lang'], (r) => (LANGS.includes(r.lang as Lang) ? null : 'lang must be fr or en')),
  'ui.activity': none,
  'demo.inventory': none,
  'dmp.openCurrent': none,
  'dmp.getPatient': none,
  'demo.insertCard': fields(['cardId', 'reader'], (r) =>
    isStr(r.cardId) && optStr(r.reader) ? null : 'cardId required',
  ),
  'demo.removeCard': fields(['reader'], (r) => (optStr(r.reader) ? null : 'reader must be a string')),
  'demo.tapBadge': fields(['badgeId', 'reader'], (r) =>
    isStr(r.badgeId) && optStr(r.reader) ? null : 'badgeId required',
  ),
  'demo.reset': none,
};

export function isCommandName(name: unknown): name is CommandName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(CHECKS, name);
}

export type Validated<K extends CommandName = CommandName> =
  { ok: true; cmd: K; req: CommandReq<K> } | { ok: false; message: string };

/** Validate an untrusted (name, payload) pair. The message never echoes the payload (it may hold a PIN). */
export function validateCommand(name: unknown, req: unknown): Validated {
  if (!isCommandName(name)) return { ok: false, message: 'unknown command' };
  const payload = req === undefined ? {} : req;
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return { ok: false, message: `${name}: payload must be an object` };
  }
  const problem = CHECKS[name](payload as Record<string, unknown>);
  if (problem) return { ok: false, message: `${name}: ${problem}` };
  return { ok: true, cmd: name, req: payload as CommandReq<typeof name> };
}

export function isDemoCommand(name: CommandName): boolean {
  return name.startsWith('demo.');
}
