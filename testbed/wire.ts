// What crosses an agent's connection to the session server, counted as it happens, for tests to wait on
// (a number of status polls answered or failed, a refresh given up at the client's time limit) instead of
// waiting a fixed time. Given as the client's transport (ClientOptions.fetch).
export interface Wire {
  /** Session status requests answered (any status). */
  statusAnswers: number;
  /**
   * Session status requests that got no answer (server down, cut, too slow): each attempt, and the client
   * sends a refused or cut one twice more (electron/core/oidc/retry.ts).
   */
  statusFailures: number;
  /** Token requests (logins, refreshes) given up at the client's time limit. */
  tokenTimeouts: number;
  fetch: typeof fetch;
}

export function wiretap(): Wire {
  const wire: Wire = {
    statusAnswers: 0,
    statusFailures: 0,
    tokenTimeouts: 0,
    fetch: async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const status = url.pathname.endsWith('/sillage/session');
      try {
        const res = await fetch(input, init);
        if (status) wire.statusAnswers++;
        return res;
      } catch (e) {
        if (status) wire.statusFailures++;
        if (url.pathname.endsWith('/token') && (e as Error).name === 'TimeoutError') wire.tokenTimeouts++;
        throw e;
      }
    },
  };
  return wire;
}
