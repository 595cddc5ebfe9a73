// The load generator's HTTP client: the part of fetch a simulated workstation uses (http://, a string
// body, headers as a record, a deadline), over node:http with keep-alive connections. undici's fetch
// costs the generator about 0.75 ms of CPU per request more on these machines; a generator sharing two
// cores with the servers it loads must not take their CPU. Failures keep node:http's error codes
// (ECONNRESET, ECONNREFUSED...), which the agent's retrying transport reads as fetch's causes.
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

function headersOf(h: RequestInit['headers']): Record<string, string> {
  if (!h) return {};
  if (h instanceof Headers || Array.isArray(h)) return Object.fromEntries(h as Iterable<[string, string]>);
  return h as Record<string, string>;
}

export const leanFetch = ((input: string | URL, init: RequestInit = {}): Promise<Response> => {
  const url = new URL(String(input));
  if (url.protocol !== 'http:') return Promise.reject(new TypeError(`lean fetch: http:// only (${url.protocol})`));
  const b = init.body;
  if (b != null && typeof b !== 'string' && !(b instanceof URLSearchParams))
    return Promise.reject(new TypeError('lean fetch: string bodies only'));
  const body = b == null ? undefined : String(b);
  return new Promise<Response>((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: init.method ?? 'GET',
        headers: {
          ...headersOf(init.headers),
          ...(body !== undefined && { 'content-length': String(Buffer.byteLength(body)) }),
        },
        ...(init.signal && { signal: init.signal }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers))
            if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
          const all = Buffer.concat(chunks);
          resolve(new Response(all.length ? all : null, { status: res.statusCode ?? 0, headers }));
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}) as typeof fetch;
