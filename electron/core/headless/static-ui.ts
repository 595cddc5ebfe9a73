// The built UI as headless mode serves it: GET and HEAD of files inside its directory only, for the
// expected Host only, under a strict CSP.
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { requestPath, singleHost } from '../util/http';

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self' ws://127.0.0.1:*",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** Serves the files of `uiDir` (resolved) to requests whose Host is one of `allowedHosts()`. */
export function staticUi(uiDir: string, allowedHosts: () => Set<string>) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (!allowedHosts().has(singleHost(req) ?? '')) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('misdirected request');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const urlPath = requestPath(req.url);
    if (urlPath === null) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request');
      return;
    }
    const file = path.resolve(uiDir, '.' + (urlPath === '/' ? '/index.html' : urlPath));
    // Stay inside the UI directory whatever the path says (../, encoded dots).
    if (!file.startsWith(uiDir + path.sep)) {
      res.writeHead(404).end();
      return;
    }
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      res.writeHead(200, {
        'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'content-security-policy': CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : data);
    });
  };
}
