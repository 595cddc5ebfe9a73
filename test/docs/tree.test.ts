// The READMEs describe the tree as it is: every path they cite exists, every `npm run` they name is a
// script, the README's architecture list covers every top-level folder, its Debian list is the one
// setup-system installs, its typecheck row names the projects of the root tsconfig.json, and the test
// bed's README covers the test bed's files.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allDocs, docCommands, ROOT } from './markdown';

const tracked = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
const read = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8');

/** The text of one `## Heading` section of a markdown file. */
function section(file: string, heading: string): string {
  const text = read(file);
  const start = text.indexOf(`## ${heading}\n`);
  expect(start, `${file}: ## ${heading}`).toBeGreaterThanOrEqual(0);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

/**
 * Code spans that are a path into the tree: several segments, the first one a folder or file at the
 * repository's root or beside the document (a bare file name or a package name is left to its context).
 */
function citedPaths(file: string): { cited: string; resolved: string }[] {
  const out: { cited: string; resolved: string }[] = [];
  for (const c of docCommands(file)) {
    const t = c.text;
    if (c.kind !== 'inline' || !/^[\w.-]+(\/[\w.-]+)+\/?$/.test(t) || /[A-Z]{3,}/.test(t.replace(/README/g, '')))
      continue;
    const first = t.split('/')[0]!;
    for (const base of [path.dirname(file), '.'])
      if (fs.existsSync(path.join(ROOT, base, first))) {
        out.push({ cited: t, resolved: path.join(base, t) });
        break;
      }
  }
  return out;
}

const ignored = (p: string) => {
  try {
    execFileSync('git', ['check-ignore', '-q', p], { cwd: ROOT });
    return true;
  } catch {
    return false;
  }
};

describe('the documentation matches the tree', () => {
  it('cites only paths that exist (relative to the document or to the repository; build outputs are named as such)', () => {
    const missing: string[] = [];
    let checked = 0;
    for (const doc of allDocs())
      for (const { cited, resolved } of citedPaths(doc)) {
        checked++;
        // A module as code imports it (`native/pcsclite`) names its .ts file.
        const exists = [resolved, `${resolved}.ts`].some((p) => fs.existsSync(path.join(ROOT, p)));
        if (!exists && !ignored(resolved)) missing.push(`${doc}: ${cited}`);
      }
    expect(checked).toBeGreaterThan(30);
    expect(missing).toEqual([]);
  });

  it('names only npm scripts that exist', () => {
    const scripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts);
    const named = new Set<string>();
    for (const doc of allDocs())
      for (const c of docCommands(doc)) for (const m of c.text.matchAll(/npm run ([\w:-]+)/g)) named.add(m[1]!);
    expect(named.size).toBeGreaterThan(10);
    expect([...named].filter((n) => !scripts.includes(n))).toEqual([]);
  });

  it('lists every top-level folder in the README architecture, and nothing that is not there', () => {
    const arch = section('README.md', 'Architecture');
    const folders = [
      ...new Set(tracked.filter((f) => f.includes('/') && !f.startsWith('.')).map((f) => f.split('/')[0]!)),
    ];
    for (const f of folders) expect(arch, `README architecture: ${f}/`).toContain(`\`${f}/`);
    for (const m of arch.matchAll(/`([\w-]+)\/`/g))
      expect(folders, `README architecture cites ${m[1]}/`).toContain(m[1]);
  });

  it('gives the Debian packages setup-system installs', () => {
    const pkgs = /^PKGS=\(([^)]*)\)/m.exec(read('scripts/setup-system.sh'))![1]!.split(/\s+/).filter(Boolean);
    const readme = read('README.md');
    const list =
      /installs the Debian packages it needs when run as\s+root on Debian \(([^)]*?)\s+—\s+`scripts\/setup-system\.sh`\)/s.exec(
        readme,
      );
    expect(list, 'README: the Debian package list').not.toBeNull();
    expect(list![1]!.split(/,\s*/).map((p) => p.trim())).toEqual(pkgs);
  });

  it('describes the typecheck as it runs: tsc -b over the projects of the root tsconfig.json', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.typecheck).toBe('tsc -b');
    const row = read('README.md')
      .split('\n')
      .find((l) => l.startsWith('| `npm run typecheck`'))!;
    expect(row).toContain('`tsc -b`');
    // tsconfig.json allows comments: drop them before parsing.
    const solution = JSON.parse(read('tsconfig.json').replace(/^\s*\/\/.*$/gm, '')) as {
      references: { path: string }[];
    };
    for (const r of solution.references) {
      const name = r.path.replace(/^tsconfig\.|\.json$/g, '');
      expect(row, `typecheck row names ${name}`).toMatch(new RegExp(`\\b${name}\\b`));
      expect(fs.existsSync(path.join(ROOT, r.path))).toBe(true);
    }
  });

  it('covers every file of the test bed in testbed/README.md', () => {
    const readme = read('testbed/README.md');
    const files = tracked.filter((f) => /^testbed\/([^/]+|cards\/[^/]+)$/.test(f) && !f.endsWith('README.md'));
    for (const f of files) expect(readme, f).toContain(`\`${f.slice('testbed/'.length)}`);
  });
});
