// When the agent sends a request to the session server again, and when it must not.
import { describe, expect, it } from 'vitest';
import { LostAnswer, retryingFetch } from './retry';

const cut = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: { code } });
const answer = (status: number, body: object = {}) => new Response(JSON.stringify(body), { status });

/** A transport answering from a script (a Response, or an error to throw), recording each call. */
function scripted(...steps: (Response | Error)[]) {
  const calls: { url: string; body: unknown }[] = [];
  const f = (async (input: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(input), body: init?.body });
    const s = steps.shift();
    if (!s) throw new Error('no more steps');
    if (s instanceof Error) throw s;
    return s;
  }) as typeof fetch;
  const waits: number[] = [];
  const sleep = async (ms: number) => void waits.push(ms);
  return { f, calls, waits, sleep };
}

describe('retryingFetch', () => {
  it('sends the same bytes again when the connection is cut or refused, and after 502/503/504', async () => {
    for (const first of [cut('ECONNRESET'), cut('UND_ERR_SOCKET'), cut('ECONNREFUSED'), answer(502), answer(503)]) {
      const t = scripted(first, answer(200, { ok: true }));
      const res = await retryingFetch(t.f, [50, 300], t.sleep)('http://s/token', { method: 'POST', body: 'a=1' });
      expect(res.status).toBe(200);
      expect(t.calls).toEqual([
        { url: 'http://s/token', body: 'a=1' },
        { url: 'http://s/token', body: 'a=1' },
      ]);
      expect(t.waits).toEqual([50]);
    }
  });

  it('a 503 asking for more than a second (database down) is returned at once: no repeats piling on', async () => {
    const down = scripted(new Response('{}', { status: 503, headers: { 'retry-after': '5' } }));
    expect(
      (await retryingFetch(down.f, [1, 1], down.sleep)('http://s/token', { method: 'POST', body: 'a' })).status,
    ).toBe(503);
    expect(down.calls).toHaveLength(1);
    const starting = scripted(new Response('{}', { status: 503, headers: { 'retry-after': '1' } }), answer(200));
    expect(
      (await retryingFetch(starting.f, [1, 1], starting.sleep)('http://s/token', { method: 'POST', body: 'a' })).status,
    ).toBe(200);
  });

  it('gives up after three attempts with the last failure', async () => {
    const t = scripted(cut('ECONNRESET'), answer(503), answer(503, { error: 'temporarily_unavailable' }));
    const res = await retryingFetch(t.f, [50, 300], t.sleep)('http://s/token', { method: 'POST', body: 'a' });
    expect(res.status).toBe(503);
    expect(t.waits).toEqual([50, 300]);
    const down = scripted(cut('ECONNREFUSED'), cut('ECONNREFUSED'), cut('ECONNREFUSED'));
    await expect(retryingFetch(down.f, [1, 1], down.sleep)('http://s/x')).rejects.toThrow('fetch failed');
    expect(down.calls).toHaveLength(3);
  });

  it('never retries an answer, a deadline or a body it cannot send twice', async () => {
    for (const status of [200, 400, 401, 500]) {
      const t = scripted(answer(status));
      expect((await retryingFetch(t.f, [1, 1], t.sleep)('http://s/token', { method: 'POST', body: 'a' })).status).toBe(
        status,
      );
      expect(t.calls).toHaveLength(1);
    }
    const timeout = scripted(Object.assign(new Error('aborted'), { name: 'TimeoutError' }));
    await expect(retryingFetch(timeout.f, [1, 1], timeout.sleep)('http://s/x')).rejects.toThrow('aborted');
    expect(timeout.calls).toHaveLength(1);
    const stream = scripted(cut('ECONNRESET'));
    const body = new ReadableStream({ start: (c) => c.close() });
    await expect(
      retryingFetch(
        stream.f,
        [1, 1],
        stream.sleep,
      )('http://s/x', { method: 'POST', body, duplex: 'half' } as RequestInit),
    ).rejects.toThrow('fetch failed');
    expect(stream.calls).toHaveLength(1);
    const other = scripted(new Error('certificate has expired'));
    await expect(retryingFetch(other.f, [1, 1], other.sleep)('http://s/x')).rejects.toThrow('expired');
    expect(other.calls).toHaveLength(1);
  });

  it('a refused repeat after a cut is the lost answer of a processed request, not a refused workstation', async () => {
    // Cut after sending: the server may have used the assertion; the repeat is refused as a replay.
    const lost = scripted(cut('ECONNRESET'), answer(401, { error: 'invalid_client' }));
    await expect(
      retryingFetch(lost.f, [1, 1], lost.sleep)('http://s/token', { method: 'POST', body: 'a' }),
    ).rejects.toBeInstanceOf(LostAnswer);
    const lostBehindBalancer = scripted(answer(504), answer(401));
    await expect(
      retryingFetch(
        lostBehindBalancer.f,
        [1, 1],
        lostBehindBalancer.sleep,
      )('http://s/token', { method: 'POST', body: 'a' }),
    ).rejects.toBeInstanceOf(LostAnswer);
    // Refused at connect, or 503 (nothing done): the repeat was the first arrival, its 401 is the server's word.
    for (const first of [cut('ECONNREFUSED'), answer(503)]) {
      const t = scripted(first, answer(401, { error: 'invalid_client' }));
      expect((await retryingFetch(t.f, [1, 1], t.sleep)('http://s/token', { method: 'POST', body: 'a' })).status).toBe(
        401,
      );
    }
  });
});
