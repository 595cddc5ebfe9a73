// Formatting is a lint error: `npm run lint` runs Prettier's check, and the repository's configuration
// (width 120, single quotes, trailing commas) refuses a badly formatted snippet and accepts its formatted form.
import fs from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const file = path.join(root, 'electron/core/x.ts');

async function options(): Promise<prettier.Options> {
  const config = await prettier.resolveConfig(file, { editorconfig: true });
  expect(config).not.toBeNull();
  return { ...config, filepath: file };
}

describe('formatting', () => {
  it('is checked by npm run lint', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.lint).toMatch(/prettier --check\b.* \.$/);
  });

  it("refuses code that is not in the repository's format, and accepts it once formatted", async () => {
    const opts = await options();
    const bad = 'export const f = (a:number,b:number)=>{ return a+b }\n';
    expect(await prettier.check(bad, opts)).toBe(false);
    const tooWide = `export const s = [${Array.from({ length: 30 }, (_, i) => `'v${i}'`).join(', ')}];\n`;
    expect(tooWide.length).toBeGreaterThan(120);
    expect(await prettier.check(tooWide, opts)).toBe(false);
    const doubleQuoted = 'export const q = "x";\n';
    expect(await prettier.check(doubleQuoted, opts)).toBe(false);
    for (const code of [bad, tooWide, doubleQuoted]) {
      const formatted = await prettier.format(code, opts);
      expect(await prettier.check(formatted, opts)).toBe(true);
      expect(formatted.split('\n').every((line) => line.length <= 120)).toBe(true);
    }
  });
});
