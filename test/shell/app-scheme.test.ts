// The app:// handler the shell gives protocol.handle, in Node on a real folder: the bundled UI's files are
// served with the CSP header; nothing outside the folder is ever read, however the path is spelled.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_SCHEME_PRIVILEGES, CSP, RENDERER_URL, appSchemeHandler } from '../../electron/shell/app-scheme';

const SECRET = 'workstation secret that must never be served';
let dir: string;
let handle: (r: Request) => Promise<Response>;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-app-scheme-'));
  const ui = path.join(dir, 'dist');
  fs.mkdirSync(path.join(ui, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(ui, 'index.html'), '<!doctype html><title>Sillage</title>');
  fs.writeFileSync(path.join(ui, 'assets', 'index-abc.js'), 'console.log(1)');
  fs.writeFileSync(path.join(dir, 'secret.txt'), SECRET);
  // A sibling whose name starts like the UI folder's: a prefix check on strings would let it through.
  fs.mkdirSync(path.join(dir, 'dist-evil'));
  fs.writeFileSync(path.join(dir, 'dist-evil', 'x.txt'), SECRET);
  fs.symlinkSync(path.join(dir, 'secret.txt'), path.join(ui, 'escape.txt'));
  fs.symlinkSync(dir, path.join(ui, 'outside'));
  handle = appSchemeHandler(ui);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const get = (url: string, method = 'GET') => handle(new Request(url, { method }));

describe('app:// scheme handler', () => {
  it('serves the UI with its type, the CSP as a header and no sniffing', async () => {
    expect(RENDERER_URL).toBe('app://sillage/index.html');
    const r = await get(RENDERER_URL);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.headers.get('content-security-policy')).toBe(CSP);
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await r.text()).toContain('<title>Sillage</title>');
    const js = await get('app://sillage/assets/index-abc.js');
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).toBe('console.log(1)');
    const head = await get('app://sillage/assets/index-abc.js', 'HEAD');
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('is registered as a standard, secure scheme', () => {
    expect(APP_SCHEME_PRIVILEGES).toMatchObject({ scheme: 'app', privileges: { standard: true, secure: true } });
  });

  it.each([
    'app://sillage/../secret.txt',
    'app://sillage/%2e%2e/secret.txt',
    'app://sillage/..%2Fsecret.txt',
    'app://sillage/%2e%2e%2fsecret.txt',
    'app://sillage/assets/..%5C..%5Csecret.txt',
    'app://sillage/..%5Csecret.txt',
    'app://sillage/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
    'app://sillage/%2fetc%2fpasswd',
    'app://sillage//etc/passwd',
    'app://sillage/C:%5CWindows%5Cwin.ini',
    'app://sillage/index.html%00.js',
    'app://sillage/escape.txt',
    'app://sillage/outside/secret.txt',
    'app://sillage/outside/dist-evil/x.txt',
    'app://sillage/..%2Fdist-evil/x.txt',
    'app://other/index.html',
    'app://sillage/',
    'app://sillage/assets',
    'app://sillage/missing.js',
  ])('refuses %s without reading outside the UI folder', async (url) => {
    const r = await get(url);
    expect(r.status).toBe(404);
    expect(r.headers.get('content-security-policy')).toBe(CSP);
    expect(await r.text()).not.toContain(SECRET);
  });

  it('refuses a malformed escape (400) and anything but GET and HEAD (405)', async () => {
    expect((await get('app://sillage/%E0%A4%A.js')).status).toBe(400);
    for (const m of ['POST', 'PUT', 'DELETE', 'OPTIONS']) expect((await get(RENDERER_URL, m)).status).toBe(405);
  });
});
