// Tests of the session server expect refusals: the ServerError a call ends with (anything else fails).
import { ServerError } from '../electron/core/oidc/server-client';

export async function refusal(p: Promise<unknown>): Promise<ServerError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ServerError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}
