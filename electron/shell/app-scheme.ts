// The UI's own origin: app://sillage, a privileged standard scheme answered by protocol.handle from the
// bundled UI folder only, with the CSP as a response header (on top of the page's meta CSP). file:// would
// make every file the account can read a same-origin neighbour of the UI.
// Imports only types from electron so the handler is testable in Node.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { CustomScheme } from 'electron';

export const APP_SCHEME = 'app';
export const APP_HOST = 'sillage';
/** The one URL our window loads; IPC sender validation compares frames against it. */
export const RENDERER_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;

export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src " +
  "'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * Registered before `ready`: standard (an origin, relative URLs), a secure context, and CORS-mode loads
 * (Vite's module scripts and stylesheets carry `crossorigin`: same-origin, but fetched in CORS mode).
 */
export const APP_SCHEME_PRIVILEGES: CustomScheme = {
  scheme: APP_SCHEME,
  privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true, codeCache: true },
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

/** One segment per '/': none empty, none a dot segment, no other separator, drive or control character. */
const unsafeSegment = (s: string) =>
  s === '' || s === '.' || s === '..' || /[\\:]/.test(s) || [...s].some((c) => c.charCodeAt(0) < 0x20);

const refuse = (status: number) =>
  new Response(null, { status, headers: { 'content-security-policy': CSP, 'x-content-type-options': 'nosniff' } });

/**
 * The protocol.handle handler: GET of a regular file inside `root` (the bundled renderer/dist), nothing
 * else. Encoded separators, NUL bytes, dot segments and symbolic links leading out are refused before any
 * file outside is touched.
 */
export function appSchemeHandler(root: string): (request: Request) => Promise<Response> {
  const base = path.resolve(root);
  let realBase: Promise<string> | null = null;
  return async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return refuse(405);
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return refuse(400);
    }
    if (url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST) return refuse(404);
    let rel: string;
    try {
      rel = decodeURIComponent(url.pathname);
    } catch {
      return refuse(400);
    }
    const segments = rel.split('/').slice(1);
    if (!rel.startsWith('/') || /%2f|%5c/i.test(url.pathname) || segments.some(unsafeSegment)) return refuse(404);
    const file = path.join(base, ...segments);
    if (path.relative(base, file).startsWith('..')) return refuse(404);
    try {
      // A symbolic link inside the folder must not lead out of it either.
      const real = await fs.realpath(file);
      const rb = await (realBase ??= fs.realpath(base));
      if (real !== rb && !real.startsWith(rb + path.sep)) return refuse(404);
      const stat = await fs.stat(real);
      if (!stat.isFile()) return refuse(404);
      const body = request.method === 'HEAD' ? null : await fs.readFile(real);
      return new Response(body, {
        status: 200,
        headers: {
          'content-type': TYPES[path.extname(real).toLowerCase()] ?? 'application/octet-stream',
          'content-security-policy': CSP,
          'x-content-type-options': 'nosniff',
          'cache-control': 'no-cache',
        },
      });
    } catch {
      return refuse(404);
    }
  };
}
