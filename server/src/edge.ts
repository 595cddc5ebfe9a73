// The server's edge: every text parameter of every request (query string, form body, JSON body) is
// checked against @sillage/protocol's text rules before oidc-provider or a route reads it. A NUL byte,
// a control character or an over-long value gets a clean 400 here and never reaches a query, where it
// would fail the group-committed statement it shares with other workstations' requests.
import type http from 'node:http';
import { parse as parseForm } from 'node:querystring';
import { decodeJwt } from 'jose';
import type { TextRule } from '@sillage/protocol';
import { AUDIT_HEAD_PARAM, BADGE_PARAM, TEXT, textProblem } from '@sillage/protocol';

/** Parameters with a rule of their own; any other one follows TEXT.parameter. */
const RULES: ReadonlyMap<string, TextRule> = new Map<string, TextRule>([
  ['client_id', TEXT.clientId],
  [BADGE_PARAM.uid, TEXT.badgeId],
  [BADGE_PARAM.number, TEXT.badgeId],
  [BADGE_PARAM.challenge, TEXT.sealed],
  [BADGE_PARAM.response, TEXT.sealed],
  [BADGE_PARAM.ticket, TEXT.sealed],
  ['audience', TEXT.audience],
  ['resource', TEXT.audience],
  ['enrolment_token', TEXT.enrolmentToken],
  ['name', TEXT.workstationName],
  [AUDIT_HEAD_PARAM, TEXT.auditHead],
]);
const ruleOf = (name: string) => RULES.get(name) ?? TEXT.parameter;
/** A parameter's name or a JSON key. */
const NAME: TextRule = { min: 0, max: 128, charset: 'text' };

/** What oidc-provider itself accepts as a form body. */
export const FORM_LIMIT = 56 * 1024;

export class EdgeRefusal extends Error {
  constructor(
    readonly status: 400 | 413,
    message: string,
    /** The client_id the refused request names, when that one is well-formed (the refusal's source). */
    readonly claimedClient: string | null = null,
  ) {
    super(message);
  }
}

/**
 * The client a request names (not authenticated): its client_id, else its client assertion's issuer,
 * when that is a well-formed client id; else null.
 */
export function claimedClient(params: Record<string, unknown>): string | null {
  let v = params.client_id;
  if (v === undefined && typeof params.client_assertion === 'string')
    try {
      v = decodeJwt(params.client_assertion).iss;
    } catch {
      v = undefined;
    }
  return typeof v === 'string' && !textProblem(v, TEXT.clientId) ? v : null;
}

/** The first parameter (a query string or form, values possibly repeated) breaking its rule, or null. */
export function paramsProblem(params: Record<string, unknown>): string | null {
  for (const [name, value] of Object.entries(params)) {
    const nameProblem = textProblem(name, NAME);
    if (nameProblem) return `parameter name: ${nameProblem}`;
    for (const v of Array.isArray(value) ? value : [value]) {
      const p = textProblem(v, ruleOf(name));
      if (p) return `${name}: ${p}`;
    }
  }
  return null;
}

/** The same for a JSON body, at any depth: string values by their key's rule, keys and nesting bounded. */
export function jsonProblem(v: unknown, key = '', depth = 0): string | null {
  if (depth > 8) return 'JSON nested too deeply';
  if (typeof v === 'string') {
    const p = textProblem(v, ruleOf(key));
    return p && `${key || 'value'}: ${p}`;
  }
  if (Array.isArray(v)) {
    if (v.length > 64) return `${key || 'value'}: too many items`;
    for (const item of v) {
      const p = jsonProblem(item, key, depth + 1);
      if (p) return p;
    }
    return null;
  }
  if (v && typeof v === 'object') {
    for (const [k, item] of Object.entries(v)) {
      const p = textProblem(k, NAME);
      if (p) return `key: ${p}`;
      const q = jsonProblem(item, k, depth + 1);
      if (q) return q;
    }
  }
  return null;
}

export async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw new EdgeRefusal(413, 'request body too large');
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > limit) throw new EdgeRefusal(413, 'request body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Checks a form body (oidc-provider's endpoints) and refuses the request when a parameter breaks its rule. */
export function checkForm(body: Buffer): void {
  const params = parseForm(body.toString('utf8'));
  const problem = paramsProblem(params);
  if (problem) throw new EdgeRefusal(400, problem, claimedClient(params));
}

/**
 * The request as oidc-provider reads it once the edge has read its body: the same message (headers,
 * socket, cookies) whose stream yields the bytes already read.
 */
export function replayable(req: http.IncomingMessage, body: Buffer): http.IncomingMessage {
  return new Proxy(req, {
    get(target, prop) {
      if (prop === 'readable') return true;
      if (prop === 'iterator' || prop === Symbol.asyncIterator)
        return () =>
          (async function* () {
            yield body;
          })();
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
