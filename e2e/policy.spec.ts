// Machine policy seen in the UI: a policy-set language is shown locked; an invalid policy value is
// refused (named in the diagnostic page) while the previous value stays; removing the policy unlocks.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, startHeadless, test } from './fixtures';

test('a policy-set language is locked in the UI; an invalid value is refused and the previous one stays', async ({
  page,
}) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sillage-policy-'));
  const file = path.join(dir, 'policy.json');
  const write = (o: unknown) => {
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(o));
    fs.renameSync(`${file}.tmp`, file);
  };
  write({ Language: 'en', InactivityLockMinutes: 5, EnrolmentToken: 'tok_SECRET_0123456789' });
  const agent = await startHeadless(['--policy-file', file]);
  try {
    await page.goto(agent.url);
    await expect(page.getByTestId('lang-locked')).toContainText('Language set by your hospital');
    await expect(page.getByTestId('lang-toggle')).toHaveCount(0);
    await page.getByTestId('diagnostic-toggle').click();
    await expect(page.getByTestId('diag-policy')).toContainText('EnrolmentToken, InactivityLockMinutes, Language');

    // One-click export for the helpdesk: masked configuration, server reachability, no secret.
    const download = page.waitForEvent('download');
    await page.getByTestId('diagnostic-export').click();
    const file = await (await download).path();
    const text = fs.readFileSync(file, 'utf8');
    expect(text).not.toContain('tok_SECRET_0123456789');
    const exported = JSON.parse(text) as {
      config: Record<string, unknown>;
      server: { reachable: boolean };
      lockedSettings: string[];
      log: string[];
    };
    expect(exported.config).toMatchObject({ Language: 'en', InactivityLockMinutes: 5 });
    expect(exported.server.reachable).toBe(true);
    expect(exported.log.join('\n')).toContain('"msg":"agent starting","mode":"headless"');

    // An invalid edit of the policy: English stays, the refusal names the setting.
    write({ Language: 'de', InactivityLockMinutes: 5 });
    // The diagnostic page reads its report when it opens: opened again until the agent has read the edit.
    await expect(async () => {
      await page.getByTestId('diagnostic-toggle').click();
      await page.getByTestId('diagnostic-toggle').click();
      await expect(page.getByTestId('diag-policy-problems')).toContainText(
        'Language : valeur refusée (valeurs possibles : fr, en)',
        { timeout: 1000 },
      );
    }).toPass({ timeout: 15_000 });
    await expect(page.getByTestId('lang-locked')).toContainText('Language set by your hospital');

    // Policy removed: the user may choose again (default French).
    write({});
    await expect(page.getByTestId('lang-toggle')).toHaveText('English');
  } finally {
    agent.proc.kill('SIGTERM');
    await new Promise((r) => agent.proc.once('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
