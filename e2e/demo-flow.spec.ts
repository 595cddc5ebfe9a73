// The acceptance scenario of the foundation, in Chromium against the headless agent with demo readers.
import { test, expect, shotPath, startHeadless } from './fixtures';

test('demo CPS: wrong PIN, right PIN, banner, removal', async ({ page, agent }) => {
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  page.on('pageerror', (e) => problems.push(e.message));

  await page.goto(agent.url);
  await expect(page.getByTestId('lock-screen')).toContainText('Badgez ou insérez votre carte CPS');
  // The secret leaves the address bar once read.
  expect(page.url()).not.toContain('#k=');
  await expect(page.getByTestId('reader-status')).toContainText('Lecteur prêt');
  await page.screenshot({ path: shotPath('01-lock-screen') });

  await page.getByTestId('demo-insert-cps-camille').click();
  await expect(page.getByTestId('pin-pad')).toBeVisible();
  await expect(page.getByTestId('pin-identity')).toContainText('Camille MARTIN');
  await page.screenshot({ path: shotPath('02-pin-pad') });

  for (const d of '0000') await page.getByTestId(`pin-key-${d}`).click();
  await page.getByTestId('pin-submit').click();
  await expect(page.getByTestId('pin-message')).toContainText('2 essais restants');
  await expect(page.getByTestId('pin-dots').locator('.filled')).toHaveCount(0);
  await page.screenshot({ path: shotPath('03-wrong-pin') });

  // Physical keyboard this time.
  await page.keyboard.type('1234');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('session-banner')).toBeVisible();
  await expect(page.getByTestId('banner-name')).toHaveText('Camille MARTIN');
  await expect(page.getByTestId('banner-mfa')).toContainText(/Authentification forte valable encore [34] h/);
  await page.screenshot({ path: shotPath('04-session-banner') });

  await page.getByTestId('demo-remove-card').click();
  await expect(page.getByTestId('lock-screen')).toBeVisible();
  await expect(page.getByTestId('lock-reason')).toContainText('carte retirée');
  await page.screenshot({ path: shotPath('05-locked-after-removal') });

  expect(problems).toEqual([]);
});

test('a PIN typed faster than the screen redraws: every digit and the Enter are taken', async ({ page, agent }) => {
  await page.goto(agent.url);
  await page.getByTestId('demo-insert-cps-camille').click();
  await expect(page.getByTestId('pin-pad')).toBeVisible();
  // All five keys within one task of the page, before React redraws the pad once.
  await page.evaluate(() => {
    for (const key of ['1', '2', '3', '4', 'Enter']) window.dispatchEvent(new KeyboardEvent('keydown', { key }));
  });
  await expect(page.getByTestId('session-banner')).toBeVisible();
  await expect(page.getByTestId('banner-name')).toHaveText('Camille MARTIN');
});

test('three wrong PINs block the card with the helpdesk message', async ({ page, agent }) => {
  await page.goto(agent.url);
  await page.getByTestId('demo-insert-cps-louis').click();
  const after = ['2 essais restants', '1 essai restant'];
  for (let i = 0; i < 3; i++) {
    await expect(page.getByTestId('pin-pad')).toBeVisible();
    await page.keyboard.type('9999');
    await page.keyboard.press('Enter');
    if (i < 2) await expect(page.getByTestId('pin-message')).toContainText(after[i]!);
    if (i === 1) await expect(page.getByTestId('pin-message')).toContainText('au prochain échec la carte sera bloquée');
  }
  await expect(page.getByTestId('card-blocked')).toContainText('Carte bloquée : contactez le support, code PUK requis');
  await page.screenshot({ path: shotPath('06-card-blocked') });
});

test('badge: first tap asks for the PIN, tap-out locks, next tap re-opens without PIN', async ({ page, agent }) => {
  await page.goto(agent.url);
  await page.getByTestId('demo-tap-badge-camille').click();
  await expect(page.getByTestId('pin-pad')).toContainText('Code de session');
  await page.keyboard.type('1234');
  await page.getByTestId('pin-submit').click();
  await expect(page.getByTestId('session-banner')).toContainText('Authentification forte');
  await page.waitForTimeout(1600); // past the double-tap guard
  await page.getByTestId('demo-tap-badge-camille').click();
  await expect(page.getByTestId('lock-reason')).toContainText('badgeage');
  await page.waitForTimeout(1600); // past the double-tap guard: a tap within it is the same tap bouncing
  await page.getByTestId('demo-tap-badge-camille').click();
  await expect(page.getByTestId('session-banner')).toContainText('Réouverture par badge');
  await page.screenshot({ path: shotPath('07-badge-reopen') });
});

test('English UI, diagnostic page and refused UID-only badge', async ({ page, agent }) => {
  await page.goto(agent.url);
  await page.getByTestId('lang-toggle').click();
  await expect(page.getByTestId('lock-screen')).toContainText('Tap your badge or insert your CPS card');
  // A copy of Camille's UID on a bare chip: no application, no key, nothing to prove.
  await page.getByTestId('demo-tap-badge-clone').click();
  await expect(page.getByTestId('error-message')).toContainText('Badge not encoded for the hospital');
  await page.getByTestId('diagnostic-toggle').click();
  await expect(page.getByTestId('diagnostic')).toContainText('badge.refused');
  await page.screenshot({ path: shotPath('08-diagnostic-en') });
});

test('a page without the launch secret, or with a wrong one, shows the refusal alone', async ({ page, agent }) => {
  for (const url of [agent.url.replace(/#k=.*/, ''), agent.url.replace(/#k=.*/, '#k=not-this-agents-secret')]) {
    await page.goto('about:blank');
    await page.goto(url);
    await expect(page.getByTestId('conn-refused')).toContainText('Accès refusé');
    await expect(page.getByTestId('conn-refused')).toContainText('#k=');
    // Nothing of the agent behind it: no lock screen it did not send, no demo panel, no reader state.
    await expect(page.getByTestId('lock-screen')).toHaveCount(0);
    await expect(page.getByTestId('demo-panel')).toHaveCount(0);
    await expect(page.getByTestId('reader-status')).toHaveCount(0);
    await expect(page.getByTestId('diagnostic-toggle')).toHaveCount(0);
  }
});

test('headless agent stops cleanly on SIGTERM within 2 s', async () => {
  const agent = await startHeadless();
  const t0 = Date.now();
  agent.proc.kill('SIGTERM');
  const code = await new Promise((r) => agent.proc.once('exit', (c) => r(c)));
  expect(code).toBe(0);
  expect(Date.now() - t0).toBeLessThan(2000);
  expect(agent.output()).toContain('Sillage stopped (SIGTERM)');
});

test('a UID-only badge allowed by policy: the banner and the diagnostic say the server did not check it', async ({
  page,
}) => {
  const agent = await startHeadless([], { policy: { AllowUidOnlyBadges: true } });
  try {
    await page.goto(agent.url);
    // A copy of Camille's UID on a bare chip: the demo session server takes it on trust, and says so.
    await page.getByTestId('demo-tap-badge-clone').click();
    await expect(page.getByTestId('pin-pad')).toContainText('Code de session');
    await page.keyboard.type('1234');
    await page.getByTestId('pin-submit').click();
    await expect(page.getByTestId('banner-assurance')).toHaveText(
      'Badge non vérifié par le serveur : numéro de puce seul',
    );
    await expect(page.getByTestId('session-banner')).not.toContainText('Authentification forte');
    await expect(page.getByTestId('banner-mfa')).toContainText(/^Réouverture par badge possible encore [34] h/);
    await page.screenshot({ path: shotPath('09-uid-only-banner') });
    await page.getByTestId('lang-toggle').click();
    await expect(page.getByTestId('banner-assurance')).toHaveText('Badge not checked by the server: chip number only');
    await page.getByTestId('diagnostic-toggle').click();
    await expect(page.getByTestId('diag-session')).toHaveText(
      'Badge not checked by the server: chip number only (badge + session-code)',
    );
  } finally {
    agent.proc.kill('SIGTERM');
    await new Promise((r) => agent.proc.once('exit', r));
  }
});

test('after a CPS login, "Associer un badge" binds the next badge tapped, which then re-opens the session', async ({
  page,
  agent,
}) => {
  await page.goto(agent.url);
  await page.getByTestId('demo-insert-cps-camille').click();
  await expect(page.getByTestId('pin-pad')).toBeVisible();
  await page.keyboard.type('1234');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('banner-name')).toHaveText('Camille MARTIN');
  await page.getByTestId('banner-enrol').click();
  await expect(page.getByTestId('enrol-status')).toHaveText('Présentez votre nouveau badge sur le lecteur');
  await page.screenshot({ path: shotPath('10-enrol-present') });
  // A DESFire badge nobody has yet: the demo session server checks its answer to its own challenge.
  await page.getByTestId('demo-tap-badge-inconnu').click();
  await expect(page.getByTestId('enrol-status')).toHaveText('Badge associé : badgez-le pour rouvrir votre session');
  await expect(page.getByTestId('banner-name')).toHaveText('Camille MARTIN');
  await page.screenshot({ path: shotPath('11-enrol-bound') });
  // Louis's badge is his: refused, Camille's session stays open.
  await page.getByTestId('banner-enrol').click();
  await page.getByTestId('demo-tap-badge-louis').click();
  await expect(page.getByTestId('enrol-status')).toContainText("Ce badge appartient déjà à quelqu'un d'autre");
  await expect(page.getByTestId('banner-name')).toHaveText('Camille MARTIN');
  // In English, then cancelled.
  await page.getByTestId('lang-toggle').click();
  await page.getByTestId('banner-enrol').click();
  await expect(page.getByTestId('enrol-status')).toHaveText('Present your new badge on the reader');
  await page.getByTestId('enrol-cancel').click();
  await expect(page.getByTestId('banner-enrol')).toHaveText('Add a badge');
  // The card out, the new badge re-opens her session with a tap.
  await page.getByTestId('demo-remove-card').click();
  await expect(page.getByTestId('lock-screen')).toBeVisible();
  await page.getByTestId('demo-tap-badge-inconnu').click();
  await expect(page.getByTestId('banner-assurance')).toHaveText('Re-opened by badge');
  await expect(page.getByTestId('banner-name')).toHaveText('Camille MARTIN');
  await expect(page.getByTestId('banner-enrol')).toHaveCount(0);
});
