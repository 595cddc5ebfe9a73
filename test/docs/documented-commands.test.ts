// The admin tools exactly as the documentation writes them, read out of the markdown and run through npm
// on a fresh account: every `server:admin`, `badge` and `server` command line the docs give is
// recognised and answers with a sentence (never a stack trace), the help works as written, the server
// starts without --data-dir, the admin CLI refuses the PGlite directory of a running server, and the
// `demo` lines drive a running demo agent.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allDocs, docCommands, ROOT } from './markdown';
import type { DocCommand } from './markdown';
import { splitArgs } from '../../server/src/options';
import { freshAccount, runLine, STACK_TRACE, startLine } from './run';
import type { Account } from './run';

const accounts: Account[] = [];
const account = (extra?: Record<string, string>) => {
  const a = freshAccount(extra);
  accounts.push(a);
  return a;
};

afterAll(() => {
  for (const a of accounts) fs.rmSync(a.home, { recursive: true, force: true });
});

/**
 * The concrete lines of a synopsis: `[optional]` parts dropped, `a\|b` alternatives (a markdown table
 * cell) each on its own line. Lines with a `...`, a `…` or a `<placeholder>` are a shape, not a command,
 * and so are those naming the hospital's PostgreSQL (`--database-url`): the admin CLI on PostgreSQL is
 * tested against a real one in testbed/tests/.
 */
function concrete(c: DocCommand): string[] {
  const text = c.text.replace(/\s*\[[^\]]*\]/g, '');
  if (/\.\.\.|…|<[^>]+>|--database-url/.test(text)) return [];
  const alt = /(\S*\\\|\S*)/.exec(text);
  if (!alt) return [text];
  return alt[1]!.split('\\|').map((a) => text.replace(alt[1]!, a));
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const documented = (prefix: string) => {
  const seen = new Set<string>();
  const out: { line: string; where: string }[] = [];
  for (const file of allDocs())
    for (const c of docCommands(file))
      for (const line of concrete(c))
        if (line.startsWith(prefix) && !seen.has(line)) {
          seen.add(line);
          out.push({ line, where: `${c.file}:${c.line}` });
        }
  return out;
};

describe('documented admin commands', () => {
  const admin = documented('npm run server:admin --');

  it('the docs give the commands this test relies on', () => {
    const lines = admin.map((a) => a.line);
    expect(lines).toContain('npm run server:admin -- help');
    expect(lines).toContain('npm run server:admin -- enrolment-token "Pavillon B"');
    expect(lines).toContain('npm run server:admin -- audit verify');
    expect(lines).toContain('npm run server:admin -- audit verify-agent audit.jsonl --workstation CLIENT_ID');
  });

  it('every `npm run server:admin` line of the docs runs as written on a fresh account', async () => {
    const acc = account();
    for (const { line, where } of admin) {
      // A code typed at the prompt (standard input here).
      const r = await runLine(acc, line, '1234\n');
      const what = `${where}: ${line}\n${r.out}`;
      expect(r.out, what).not.toMatch(STACK_TRACE);
      expect(r.out, what).not.toMatch(/commande inconnue/);
      if (/ -- help$/.test(line)) {
        expect(r.code, what).toBe(0);
        expect(r.out, what).toMatch(/Usage: npm run server:admin -- <command>/);
        expect(r.out, what).toMatch(/enrolment-token LABEL/);
      } else if (r.code !== 0) {
        // Placeholders of the docs (LOGIN, CHU-000123) name nothing here: a sentence says so.
        expect(r.code, what).toBe(1);
        expect(r.out, what).toMatch(/^erreur : \S.*/m);
      }
      if (/enrolment-token/.test(line)) {
        expect(r.code, what).toBe(0);
        expect(r.out, what).toMatch(/^[A-Za-z0-9_-]{32}$/m);
      }
      if (/audit verify$/.test(line)) expect(r.out, what).toMatch(/chaîne d’audit intègre : \d+ enregistrements?/);
      // Recognised with its --workstation: it goes as far as reading the file the line names.
      if (/audit verify-agent/.test(line)) expect(r.out, what).toMatch(/^erreur : fichier introuvable : audit\.jsonl/m);
    }
    // The fresh account's default PGlite directory, created with its parents; nothing written beside.
    expect(fs.existsSync(path.join(acc.home, '.local', 'share', 'sillage-server', 'PG_VERSION'))).toBe(true);
    expect(fs.existsSync(path.join(ROOT, 'audit.jsonl'))).toBe(false);
  }, 180_000);

  it('`audit verify-agent` with a missing file names it, French then English, with what to do', async () => {
    const acc = account();
    const r = await runLine(acc, 'npm run server:admin -- audit verify-agent audit.jsonl --workstation CLIENT_ID');
    expect(r.code, r.out).toBe(1);
    const where = `audit.jsonl (${path.join(ROOT, 'audit.jsonl')})`;
    expect(r.out).toMatch(
      new RegExp(
        `^erreur : fichier introuvable : ${esc(where)} — copiez le journal d’audit du poste .* donnez son chemin complet / ` +
          `file not found: ${esc(where)} — copy the workstation's audit log .* give its full path$`,
        'm',
      ),
    );
    expect(r.out).not.toMatch(/ENOENT/);
    expect(r.out).not.toMatch(STACK_TRACE);
    // Nothing checked, so nothing recorded as verified.
    const log = await runLine(acc, 'npm run server:admin -- audit');
    expect(log.out).not.toMatch(/admin\.audit\.verify-agent/);
  }, 60_000);

  it('an unknown command or option says it is unknown, then gives the usage, and touches no database', async () => {
    const acc = account();
    const r = await runLine(acc, 'npm run server:admin -- enrolement-token "Pavillon B"');
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/commande inconnue \/ unknown command : enrolement-token Pavillon B\n/);
    expect(r.out).toMatch(/Usage: npm run server:admin/);
    expect(r.out).not.toMatch(STACK_TRACE);
    // A mistyped --data-dir would otherwise administer the default database.
    const typo = await runLine(acc, `npm run server:admin -- account list --dat-dir ${acc.home}/db`);
    expect(typo.code).toBe(2);
    expect(typo.out).toMatch(/option inconnue \/ unknown option : --dat-dir\n/);
    expect(fs.existsSync(path.join(acc.home, '.local'))).toBe(false);
  }, 60_000);
});

describe('documented server commands', () => {
  it('`npm run server -- --help` gives the usage; an unknown option is refused before anything starts', async () => {
    const lines = documented('npm run server --').map((d) => d.line);
    expect(lines).toContain('npm run server -- --help');
    const acc = account();
    const help = await runLine(acc, 'npm run server -- --help');
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/--data-dir DIR/);
    // Every option the usage gives with a value (`--port N`, `--db-prepared-statements on|off`) takes it.
    const usage = help.out.slice(help.out.indexOf('Usage:'));
    const valued = [...usage.matchAll(/^ {2}(--[a-z0-9-]+) (\S+)/gm)];
    expect(valued.map((m) => m[1])).toEqual(
      expect.arrayContaining(['--port', '--db-prepared-statements', '--login-ticket-seconds']),
    );
    for (const [, name, placeholder] of valued)
      expect(splitArgs([name!, placeholder!.split('|')[0]!], usage), name).toEqual({ words: [], unknown: null });
    const typo = await runLine(acc, 'npm run server -- --data-dirr /tmp/x');
    expect(typo.code).toBe(2);
    expect(typo.out).toMatch(/option inconnue \/ unknown option: --data-dirr/);
    expect(fs.existsSync(path.join(acc.home, '.local'))).toBe(false);
  }, 60_000);

  it('`npm run server` starts on a fresh account, and the admin CLI then refuses its PGlite directory until it stops', async () => {
    const acc = account({ SILLAGE_SERVER_PORT: '0' });
    const server = startLine(acc, 'npm run server');
    try {
      await server.waitFor(/Sillage session server: http:\/\/127\.0\.0\.1:\d+\//);
      const refused = await runLine(acc, 'npm run server:admin -- enrolment-token "Pavillon B"');
      expect(refused.code, refused.out).toBe(1);
      expect(refused.out).toMatch(/^erreur : base utilisée par un serveur en marche \(PID \d+/m);
      expect(refused.out).not.toMatch(STACK_TRACE);
    } finally {
      await server.stop();
    }
    // Stopped (Ctrl-C reaches the whole group): the directory is free, and nothing was written behind it.
    const after = await runLine(acc, 'npm run server:admin -- audit verify');
    expect(after.code, after.out).toBe(0);
    expect(after.out).toMatch(/chaîne d’audit intègre : 0 enregistrement\b/);
  }, 180_000);
});

describe('documented demo commands', () => {
  it('every `npm run demo` line of the README drives a running demo agent and prints the state it settled in', async () => {
    const lines = documented('npm run demo --').map((d) => d.line);
    expect(lines).toEqual(
      expect.arrayContaining(['npm run demo -- insert cps-camille', 'npm run demo -- tap badge-louis']),
    );
    const acc = account();
    const agent = startLine(acc, 'npm run headless -- --demo --port 0');
    try {
      await agent.waitFor(/ouvrez \/ open: http/);
      for (const line of lines) {
        const r = await runLine(acc, line);
        expect(r.code, `${line}\n${r.out}`).toBe(0);
        const state = /^État \/ state: (\S+)/m.exec(r.out)?.[1];
        // Never a state the engine was passing through (a card being read, a tap on its way to the server).
        expect(['locked', 'pin-required', 'open', 'card-blocked'], `${line}\n${r.out}`).toContain(state);
        if (/insert cps-camille/.test(line)) expect(state, r.out).toBe('pin-required');
      }
      await runLine(acc, 'npm run demo -- reset');
      // From the lock screen, a badge the lines above did not tap (a second tap of one badge within the
      // agent's tap guard is that tap bouncing): Camille's asks her session code once the server answered.
      const tap = await runLine(acc, 'npm run demo -- tap badge-camille');
      expect(tap.out).toMatch(/^État \/ state: pin-required$/m);
    } finally {
      await agent.stop();
    }
  }, 180_000);
});

describe('documented badge tool', () => {
  // No pcscd at this socket: the state of a PC whose smart-card service is not running.
  const noPcsc = () => account({ PCSCLITE_CSOCK_NAME: path.join(path.sep, 'nonexistent', 'pcscd.comm') });

  it('`npm run badge -- readers` without pcscd says to start the smart-card service', async () => {
    expect(documented('npm run badge --').map((d) => d.line)).toContain('npm run badge -- readers');
    const r = await runLine(noPcsc(), 'npm run badge -- readers');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^Erreur : service PC\/SC indisponible .*démarrez-le/m);
    expect(r.out).not.toMatch(STACK_TRACE);
  }, 60_000);

  it('every `npm run badge` line of the docs answers with a sentence on a PC without its files', async () => {
    const acc = noPcsc();
    for (const { line, where } of documented('npm run badge --')) {
      const r = await runLine(acc, line);
      const what = `${where}: ${line}\n${r.out}`;
      expect(r.out, what).not.toMatch(STACK_TRACE);
      expect(r.out, what).not.toMatch(/commande inconnue/);
      expect(r.out, what).toMatch(/^(Erreur : |--profile et --keys sont requis|Usage:)/m);
    }
  }, 120_000);

  it('`verify` with a profile that is not JSON, not found, or not a profile says what is wrong, with an example', async () => {
    const acc = noPcsc();
    const keys = path.join(acc.home, 'keys.json');
    fs.writeFileSync(keys, '{}', { mode: 0o600 });
    const cases: [string, string, RegExp][] = [
      ['broken.json', '{"name": "chu", "aid": ', /JSON invalide — attendu un objet comme \{"name": "chu"/],
      ['missing.json', '', /profil de badge illisible \(.*missing\.json\) : fichier introuvable/],
      ['list.json', '[{"name": "chu"}]', /un objet JSON est attendu/],
      ['aid.json', '{"name": "chu", "aid": "F512", "keyNo": 1, "fileNo": 1}', /aid : 3 octets hexadécimaux/],
    ];
    for (const [file, content, want] of cases) {
      const p = path.join(acc.home, file);
      if (content) fs.writeFileSync(p, content);
      const r = await runLine(acc, `npm run badge -- verify --profile ${p} --keys ${keys}`);
      expect(r.code, r.out).toBe(1);
      expect(r.out).toMatch(want);
      expect(r.out).not.toMatch(STACK_TRACE);
    }
    const typo = await runLine(acc, `npm run badge -- verify --profil x`);
    expect(typo.code).toBe(2);
    expect(typo.out).toMatch(/option refusée \/ bad option : Unknown option '--profil'/);
    expect(typo.out).not.toMatch(STACK_TRACE);
  }, 120_000);
});
