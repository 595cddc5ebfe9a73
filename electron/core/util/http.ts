import type { IncomingMessage, ServerResponse } from 'node:http';

// Request targets as our loopback listeners accept them: an origin-form path ("/…"), percent-decoded,
// without NUL. Anything else (an absolute or scheme-relative URL, "//", a bad escape like "%") is null,
// for the caller to answer 400: `new URL` and `decodeURIComponent` throw on such input.
export function requestPath(target: string | undefined): string | null {
  if (!target || target[0] !== '/' || target.startsWith('//')) return null;
  const raw = target.split(/[?#]/, 1)[0]!;
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return null;
  }
  return decoded.includes('\0') ? null : decoded;
}

/**
 * The one Host header of a request, or null: two Host headers are refused (RFC 9112 §3.2), where Node
 * would keep the first and the Host check (DNS rebinding) would read another than a proxy did.
 */
export function singleHost(req: IncomingMessage): string | null {
  const all = req.headersDistinct.host;
  return all?.length === 1 ? all[0]! : null;
}

/** What a listener does with a request whose handling threw: a 400 if nothing was sent yet, else cut it. */
export function endBroken(res: ServerResponse): void {
  if (!res.headersSent) res.writeHead(400).end();
  else res.destroy();
}
