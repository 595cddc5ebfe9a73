// What the session server's own routes (/sillage/*) work with, and their JSON body reader.
import type Koa from 'koa';
import type { AccessToken } from 'oidc-provider';
import type { Audit, AuditEntry } from '../audit';
import type { NonceIssuer } from '../cps';
import type { Db } from '../db';
import type { DesfireRelay } from '../desfire-relay';
import type { Directory } from '../directory';
import { EdgeRefusal, jsonProblem, readBody } from '../edge';
import type { Log } from '../log';
import type { RoamingSession, Sessions } from '../sessions';

export interface RouteKit {
  db: Db;
  directory: Directory;
  sessions: Sessions;
  audit: Audit;
  nonces: NonceIssuer;
  relay: DesfireRelay;
  issuer: string;
  log: Log;
  /** The roaming session behind a workstation access token, or null (unknown, revoked, expired). */
  bearer(ctx: Koa.Context): Promise<{ at: AccessToken; session: RoamingSession } | null>;
  /**
   * Audits the refusal of a request nobody authenticated, per source (`client`: the one it names, else
   * its address): a few in full per window, the rest counted.
   */
  auditRefusal(ctx: Koa.Context, client: string | null | undefined, entry: AuditEntry): Promise<void>;
  now: () => Date;
  /** How long after a CPS login its workstation may enrol a badge for that person. */
  badgeEnrolmentWindowMs: number;
}

export type Route = (ctx: Koa.Context, kit: RouteKit) => Promise<void>;

const MAX_BODY = 64 * 1024;

/** The JSON object of the body, every string in it checked by the edge's text rules (else a 400). */
export async function readJson(ctx: Koa.Context): Promise<Record<string, unknown>> {
  const raw = await readBody(ctx.req, MAX_BODY);
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8') || '{}');
  } catch {
    v = null;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new EdgeRefusal(400, 'body must be a JSON object');
  const problem = jsonProblem(v);
  if (problem) throw new EdgeRefusal(400, problem);
  return v as Record<string, unknown>;
}
