// What the session server's own routes (/sillage/*) work with, and their JSON body reader.
import type Koa from 'koa';
import type { AccessToken } from 'oidc-provider';
import type { Audit } from '../audit';
import type { NonceIssuer } from '../cps';
import type { Db } from '../db';
import type { DesfireRelay } from '../desfire-relay';
import type { Directory } from '../directory';
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
}

export type Route = (ctx: Koa.Context, kit: RouteKit) => Promise<void>;

const MAX_BODY = 64 * 1024;

export async function readJson(ctx: Koa.Context): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of ctx.req) {
    n += (c as Buffer).length;
    if (n > MAX_BODY) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(c as Buffer);
  }
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error();
    return v as Record<string, unknown>;
  } catch {
    throw Object.assign(new Error('body must be a JSON object'), { status: 400 });
  }
}
