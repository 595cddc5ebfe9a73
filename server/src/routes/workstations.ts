// Workstation registration by a one-time enrolment token and the workstation's public signing keys.
import { createPublicKey } from 'node:crypto';
import type { JsonWebKey } from 'node:crypto';
import type Koa from 'koa';
import type { RegistrationAnswer } from '@sillage/protocol';
import { TEXT, textProblem } from '@sillage/protocol';
import type { RouteKit } from './kit';
import { readJson } from './kit';

// Members that hold private or symmetric key material: such a "public" key is refused, never stored.
const SECRET_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/**
 * A workstation key as stored: a public EC P-256 (ES256) or RSA ≥ 2048-bit (RS256, PS256) signing key,
 * only its public members kept; or why it is refused.
 */
export function workstationKey(k: unknown): { key: Record<string, string> } | { refused: string } {
  if (!k || typeof k !== 'object' || Array.isArray(k)) return { refused: 'each key must be a JWK object' };
  const jwk = k as Record<string, unknown>;
  if (SECRET_MEMBERS.some((m) => m in jwk))
    return { refused: 'jwks must hold public keys only (no private or symmetric key material)' };
  if (jwk.use !== undefined && jwk.use !== 'sig') return { refused: 'keys are for signatures only (use: sig)' };
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.every((op) => op === 'verify')))
    return { refused: 'key_ops: verify only' };
  if (jwk.kid !== undefined && textProblem(jwk.kid, TEXT.keyId))
    return { refused: `kid: ${textProblem(jwk.kid, TEXT.keyId)}` };
  const algs = jwk.kty === 'EC' ? ['ES256'] : jwk.kty === 'RSA' ? ['RS256', 'PS256'] : null;
  if (!algs) return { refused: `key type ${String(jwk.kty)}: EC P-256 or RSA public signing keys only` };
  if (jwk.kty === 'EC' && jwk.crv !== 'P-256') return { refused: 'EC keys must be on P-256 (ES256)' };
  if (jwk.alg !== undefined && !algs.includes(jwk.alg as string))
    return { refused: `a ${String(jwk.kty)} key signs ${algs.join(' or ')}` };
  const members = jwk.kty === 'EC' ? ['kty', 'crv', 'x', 'y'] : ['kty', 'n', 'e'];
  if (!members.every((m) => typeof jwk[m] === 'string')) return { refused: `${String(jwk.kty)} key: missing members` };
  let details;
  try {
    details = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).asymmetricKeyDetails;
  } catch {
    return { refused: 'malformed public key' };
  }
  if (jwk.kty === 'RSA' && (details?.modulusLength ?? 0) < 2048) return { refused: 'RSA keys of 2048 bits at least' };
  const key: Record<string, string> = {};
  for (const m of [...members, 'kid', 'alg']) if (typeof jwk[m] === 'string') key[m] = jwk[m] as string;
  return { key: { ...key, use: 'sig' } };
}

export async function registerWorkstation(ctx: Koa.Context, kit: RouteKit): Promise<void> {
  const { directory, audit, issuer, auditRefusal } = kit;
  const b = await readJson(ctx);
  const jwks = b.jwks as { keys?: unknown[] } | undefined;
  // Nobody is authenticated before the enrolment token is spent: refusals are their address's share.
  const refuse = async (error: 'invalid_request' | 'access_denied', why: string) => {
    await auditRefusal(ctx, null, {
      action: 'workstation.register',
      outcome: 'refused',
      reason: why,
      details: { name: typeof b.name === 'string' ? b.name : null },
    });
    ctx.status = error === 'access_denied' ? 403 : 400;
    ctx.body = { error, error_description: why };
  };
  const tokenProblem = textProblem(b.enrolment_token, TEXT.enrolmentToken);
  if (tokenProblem) return refuse('invalid_request', `enrolment_token: ${tokenProblem}`);
  const nameProblem = textProblem(b.name, TEXT.workstationName);
  if (nameProblem) return refuse('invalid_request', `name: ${nameProblem}`);
  if (!Array.isArray(jwks?.keys) || jwks.keys.length === 0 || jwks.keys.length > 4)
    return refuse('invalid_request', 'jwks must hold 1 to 4 public keys');
  const keys: Record<string, string>[] = [];
  for (const k of jwks.keys) {
    const r = workstationKey(k);
    if ('refused' in r) return refuse('invalid_request', `jwks: ${r.refused}`);
    keys.push(r.key);
  }
  const name = b.name as string;
  const r = await directory.registerWorkstation(b.enrolment_token as string, name, { keys });
  if ('refused' in r) return refuse('access_denied', r.refused);
  await audit.append({ action: 'workstation.register', outcome: 'ok', workstation: r.clientId, details: { name } });
  ctx.status = 201;
  const answer: RegistrationAnswer = { client_id: r.clientId, issuer };
  ctx.body = answer;
}
