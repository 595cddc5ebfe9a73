// A workstation without a session server and without demo mode opens nothing and says so, full screen,
// in French (English by policy), with the diagnostic still reachable for IT.
import fs from 'node:fs';
import path from 'node:path';
import { expect, shotPath, startHeadless, test } from './fixtures';

test('no ServerUrl and no DemoMode: "Poste non configuré", nothing to tap, diagnostic reachable, audited', async ({
  page,
}) => {
  await page.setViewportSize({ width: 1024, height: 768 });
  const agent = await startHeadless(['--no-demo', '--hid']);
  try {
    await page.goto(agent.url);
    await expect(page.getByTestId('not-configured')).toContainText(
      "Poste non configuré : contactez l'informatique (ServerUrl)",
    );
    await expect(page.getByTestId('lock-screen')).toHaveCount(0);
    await expect(page.getByTestId('demo-panel')).toHaveCount(0);
    await page.screenshot({ path: shotPath('not-configured-1024') });
    await page.getByTestId('diagnostic-toggle').click();
    await expect(page.getByTestId('diagnostic')).toContainText('agent.not-configured');
    const audit = fs.readFileSync(path.join(agent.dataDir, 'audit.jsonl'), 'utf8');
    expect(audit).toContain('"action":"agent.not-configured"');
  } finally {
    agent.proc.kill('SIGTERM');
    await new Promise((r) => agent.proc.once('exit', r));
  }
});

test('the notice in English, naming a refused ServerUrl', async ({ page }) => {
  const agent = await startHeadless(['--no-demo', '--hid'], {
    policy: { Language: 'en', ServerUrl: 'http://sso.hospital.example' },
  });
  try {
    await page.goto(agent.url);
    await expect(page.getByTestId('not-configured')).toContainText(
      'Workstation not configured: contact IT (ServerUrl)',
    );
    await expect(page.getByTestId('not-configured-problem')).toContainText('HTTPS obligatoire');
  } finally {
    agent.proc.kill('SIGTERM');
    await new Promise((r) => agent.proc.once('exit', r));
  }
});
