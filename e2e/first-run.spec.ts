// The IT guide's "first run on one machine", step by step as a newcomer types it: the command lines are
// read out of docs/it-guide.md and run through bash on a fresh account (its own HOME, no XDG folders);
// the nurse's part (tap Camille's badge in the demo panel, type her code; after the agent's restart, the
// tap alone) happens in Chromium. The test
// changes two things only, both a reader's own: the token the directory step printed goes where the
// guide writes <jeton>, and the server listens on a free port instead of 7443 (several suites share
// this machine), which the later lines name.
import { docCommands } from '../test/docs/markdown';
import { freshAccount, runLine, STACK_TRACE, startLine } from '../test/docs/run';
import type { Running } from '../test/docs/run';
import { freePort } from '../testbed/ports';
import { test, expect, shotPath } from './fixtures';

const SECTION = 'Premier essai sur une machine / A first run on one machine';

test('a fresh clone follows the IT guide: directory, server, enrolled agent, a nurse logs in, the DPI gets her token', async ({
  page,
}) => {
  test.setTimeout(420_000);
  const steps = docCommands('docs/it-guide.md').filter((c) => c.section === SECTION && c.kind === 'block');
  expect(steps.length, 'the guide gives its first run').toBeGreaterThanOrEqual(9);
  const port = await freePort();
  const account = freshAccount({ SILLAGE_SERVER_PORT: String(port) });
  let token: string | null = null;
  let server: Running | null = null;
  let agent: Running | null = null;
  const running: Running[] = [];
  const done: string[] = [];
  const line = (text: string) => {
    const t = text.replaceAll('127.0.0.1:7443', `127.0.0.1:${port}`);
    if (!t.includes('<jeton>')) return t;
    expect(token, `${text}: the enrolment token of the directory step`).not.toBeNull();
    return t.replaceAll('<jeton>', token!);
  };
  try {
    for (const step of steps) {
      const cmd = line(step.text);
      const where = `docs/it-guide.md:${step.line}: ${step.text}`;
      if (/^npm run server:admin -- audit verify/.test(cmd)) {
        // "Once the agent and the server are stopped (Ctrl-C)."
        for (const r of running.reverse()) await r.stop();
        running.length = 0;
        server = null;
      }
      if (/(^| )npm run server -- /.test(cmd)) {
        server = startLine(account, cmd);
        running.push(server);
        const m = await server.waitFor(/Sillage session server: (http:\/\/127\.0\.0\.1:\d+)\//);
        expect(m[1], where).toBe(`http://127.0.0.1:${port}`);
      } else if (/ npm run headless -- /.test(cmd)) {
        // "Stop it (Ctrl-C) and start it with the same line."
        const again = agent !== null;
        if (agent) {
          await agent.stop();
          running.splice(running.indexOf(agent), 1);
        }
        agent = startLine(account, cmd);
        running.push(agent);
        const url = (await agent.waitFor(/(http:\/\/127\.0\.0\.1:\d+\/#k=[A-Za-z0-9_-]+)/, 180_000))[1]!;
        await agent.waitFor(/Courtier DPI \/ DPI broker: /);
        // Registered once, with the token; the second start reuses the key it kept.
        expect(agent.output(), where).not.toMatch(/not registered|non enregistré/i);
        await page.goto(url);
        await expect(page.getByTestId('lock-screen')).toBeVisible();
        await page.getByTestId('demo-tap-badge-camille').click();
        if (!again) {
          // The nurse, as the guide says: Badger Camille's badge, type 1234, Valider.
          await expect(page.getByTestId('pin-pad')).toContainText('Code de session');
          await expect(page.getByTestId('pin-identity')).toContainText('Camille MARTIN');
          for (const d of '1234') await page.getByTestId(`pin-key-${d}`).click();
          await page.getByTestId('pin-submit').click();
          await expect(page.getByTestId('session-banner')).toContainText('Authentification forte');
        } else {
          await expect(page.getByTestId('session-banner')).toContainText('Réouverture par badge');
        }
        await expect(page.getByTestId('banner-name')).toHaveText('Camille MARTIN');
        await page.screenshot({ path: shotPath(again ? 'first-run-reopen-after-restart' : 'first-run-session') });
      } else if (/testbed\/reference-dpi\.ts/.test(cmd)) {
        const dpi = startLine(account, cmd);
        running.push(dpi);
        await dpi.waitFor(/"kind":"ready","app":"dpi"/);
        // "Type token".
        dpi.child.stdin.write('token\n');
        const answer = JSON.parse((await dpi.waitFor(/^(\{"kind":"token".*\})$/m))[1]!) as Record<string, unknown>;
        expect(answer, where).toMatchObject({
          active: true,
          idnat: '899999000011',
          acr: 'urn:sillage:loa:mfa',
          shownUser: '899999000011',
        });
        // "`quit` ends it."
        dpi.child.stdin.write('quit\n');
        const code = await new Promise<number | null | 'running'>((resolve) => {
          const t = setTimeout(() => resolve('running'), 30_000);
          dpi.child.once('exit', (c) => (clearTimeout(t), resolve(c)));
        });
        expect(code, `${where}: quit`).toBe(0);
      } else {
        const r = await runLine(account, cmd, /set-code/.test(cmd) ? '1234\n' : '');
        const what = `${where}\n${r.out}`;
        expect(r.out, what).not.toMatch(STACK_TRACE);
        if (/^npm run server:admin/.test(cmd) && server) {
          // While the server runs, as the guide says: its directory is refused, nothing is written behind it.
          expect(r.code, what).toBe(1);
          expect(r.out, what).toMatch(/base utilisée par un serveur en marche/);
        } else {
          expect(r.code, what).toBe(0);
        }
        if (/enrolment-token/.test(cmd)) token = /^([A-Za-z0-9_-]{32})$/m.exec(r.out)?.[1] ?? null;
        if (/audit verify/.test(cmd)) {
          const n = Number(/chaîne d’audit intègre : (\d+) enregistrements/.exec(r.out)?.[1]);
          // The four admin commands, the workstation's registration and Camille's login at least.
          expect(n, what).toBeGreaterThanOrEqual(6);
        }
      }
      done.push(step.text);
    }
  } finally {
    for (const r of running.reverse()) await r.stop();
  }
  expect(done).toHaveLength(steps.length);
  expect(agent, 'the guide starts an agent').not.toBeNull();
});
