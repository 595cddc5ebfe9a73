// The agent's requests to the session server, sent again when an instance dies under them (a restart, a
// crash, a balancer moving connections): the same bytes, at most twice more, within the call's time.
//
// Sending the same request twice never issues anything twice, because every request the agent sends is a
// read (discovery, session status), harmless to repeat (a nonce, a logout, a revocation), or carries what
// the server accepts once: the workstation's client assertion (its jti is recorded by every instance in
// the shared database), and inside it a relay challenge's answer, a login ticket or a card nonce. If the
// first attempt reached an instance that recorded its assertion — and then issued, its answer lost, or
// died before issuing — the repeat is refused (401: assertion already used): nothing is issued twice. That
// case is told as "server unreachable" (LostAnswer), not as the workstation being refused. The client then
// sends a badge tap's requests once more with a newly signed assertion (server-client.ts): their relay
// challenge or login ticket is what makes them single-use, so that repeat is either their first use or
// refused as replayed (the user taps again); other requests are told unreachable.

/** Waits before the second and third attempts. */
export const RETRY_DELAYS_MS = [50, 300];

/** The connection failed or was cut: nothing answered, whether the request got through or not. */
const NETWORK = /ECONNREFUSED|ECONNRESET|EPIPE|ECONNABORTED|EHOSTUNREACH|UND_ERR_SOCKET|UND_ERR_CLOSED/;

export class LostAnswer extends Error {
  readonly code = 'SILLAGE_ANSWER_LOST';
  constructor() {
    super('the session server took the request (its assertion is used) but no answer came back: try again');
  }
}

function networkFailure(e: unknown): 'refused' | 'cut' | null {
  const err = e as { name?: string; code?: string; cause?: { code?: string; name?: string } } | null;
  // The caller's deadline: its time is spent, and a slow answer may still be on its way.
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError') return null;
  const code = err?.cause?.code ?? err?.code ?? '';
  if (!NETWORK.test(code)) return null;
  // Refused at connect: the request never left, the next attempt is its first arrival.
  return code === 'ECONNREFUSED' ? 'refused' : 'cut';
}

/**
 * 502/504: the balancer lost its instance mid-request. 503: nothing was done; sent again only when the
 * server says it is worth it within a second (an instance starting), not when it asks for more (its
 * database down: repeats would only add load to a struggling service, the user taps again).
 */
function worthAnother(res: Response): boolean {
  if (res.status === 502 || res.status === 504) return true;
  if (res.status !== 503) return false;
  const after = res.headers.get('retry-after');
  return after === null || Number(after) <= 1;
}

/** A body that can be sent again as it is (not a stream consumed by the first attempt). */
function replayable(body: unknown): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof Uint8Array ||
    body instanceof ArrayBuffer
  );
}

export function retryingFetch(
  base: typeof fetch,
  delaysMs: readonly number[] = RETRY_DELAYS_MS,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): typeof fetch {
  return async (input, init) => {
    if (input instanceof Request || !replayable(init?.body)) return base(input, init);
    // Whether an earlier attempt may have been processed (its answer lost or cut).
    let maybeProcessed = false;
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= delaysMs.length || init?.signal?.aborted;
      try {
        const res = await base(input, init);
        if (maybeProcessed && res.status === 401) {
          await res.body?.cancel();
          throw new LostAnswer();
        }
        if (last || !worthAnother(res)) return res;
        await res.body?.cancel();
        if (res.status !== 503) maybeProcessed = true;
      } catch (e) {
        const failure = networkFailure(e);
        if (last || !failure) throw e;
        if (failure === 'cut') maybeProcessed = true;
      }
      await sleep(delaysMs[attempt]!);
    }
  };
}
