// The commands the documentation gives, read out of the markdown itself, so that the tests run what a
// reader types and the two cannot drift apart.
import fs from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

export interface DocCommand {
  /** The command line as a reader types it (a continued line joined, a trailing `# comment` dropped). */
  text: string;
  file: string;
  line: number;
  /** The nearest heading above it. */
  section: string;
  /** Inline `code` in a sentence, or a line of a fenced shell block. */
  kind: 'inline' | 'block';
}

/** Drops a shell comment (a `#` after a space, outside quotes) and the spaces before it. */
function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i).trimEnd();
  }
  return line.trimEnd();
}

/** Every command of a markdown file: the lines of its ```sh blocks and its inline code spans. */
export function docCommands(file: string): DocCommand[] {
  const lines = fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n');
  const out: DocCommand[] = [];
  const sections: string[] = [];
  let section = '';
  let fence: string | null = null;
  let pending: { text: string; line: number } | null = null;
  // Prose (outside fences) as one text per stretch, so that a code span wrapped over two lines is one.
  let prose: { text: string; from: number } | null = null;
  const flushProse = () => {
    if (!prose) return;
    const { text, from } = prose;
    for (const m of text.matchAll(/`([^`]+)`/g)) {
      const line = from + text.slice(0, m.index).split('\n').length - 1;
      out.push({ text: m[1]!.replace(/\n\s*/g, ' '), file, line: line + 1, section: sections[line]!, kind: 'inline' });
    }
    prose = null;
  };
  lines.forEach((raw, i) => {
    const heading = fence === null ? /^#{1,6}\s+(.*)$/.exec(raw) : null;
    if (heading) section = heading[1]!.trim();
    sections[i] = section;
    const fenceMark = /^\s*```(\w*)/.exec(raw);
    if (fenceMark) {
      flushProse();
      fence = fence === null ? fenceMark[1]! : null;
      return;
    }
    if (fence === null) {
      prose = prose ? { ...prose, text: `${prose.text}\n${raw}` } : { text: raw, from: i };
      return;
    }
    if (!['sh', 'bash', 'shell', 'console'].includes(fence)) return;
    const text = stripComment(raw.trim());
    if (!text && !pending) return;
    const joined = pending ? `${pending.text} ${text}` : text;
    if (joined.endsWith('\\')) {
      pending = { text: joined.slice(0, -1).trimEnd(), line: pending?.line ?? i + 1 };
      return;
    }
    out.push({ text: joined, file, line: pending?.line ?? i + 1, section, kind: 'block' });
    pending = null;
  });
  flushProse();
  return out.sort((a, b) => a.line - b.line);
}

/** The documentation a newcomer reads: the READMEs and docs/. */
export function allDocs(): string[] {
  const docs = fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`);
  return ['README.md', 'DEVELOPERS.md', 'server/README.md', 'testbed/README.md', 'native/README.md', ...docs];
}

/** Shell words of a command line (quotes removed), enough for the commands the docs give. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let quote: string | null = null;
  let any = false;
  for (const c of line) {
    if (quote) {
      if (c === quote) quote = null;
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      any = true;
    } else if (/\s/.test(c)) {
      if (cur || any) words.push(cur);
      cur = '';
      any = false;
    } else cur += c;
  }
  if (cur || any) words.push(cur);
  return words;
}
