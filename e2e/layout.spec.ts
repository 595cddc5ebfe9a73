// Every screen as a nurse meets it, at the ward PC sizes (1024×768 and 1280×800), demo panel open and
// folded: nothing scrolls (the page is no larger than the window and no box hides part of its content,
// the audit list of the diagnostic page excepted), the controls that matter are inside the window,
// icons are drawn (no emoji or symbol glyph, which shows as a box where no font has it), and the
// messages say what happened. A screenshot of each case lands in e2e/output/screenshots/.
import type { Page } from '@playwright/test';
import { test, expect, shotPath } from './fixtures';

const SIZES = [
  { width: 1024, height: 768 },
  { width: 1280, height: 800 },
];

// The browser's own locale differs from the agent's language: times must follow the agent's.
test.use({ locale: 'en-US' });

/** Arrows, technical symbols, geometric shapes, dingbats, emoji: drawn as SVG instead. */
const SYMBOLS = /[\u2190-\u2bff\u{1f000}-\u{1faff}]|\ufe0f/u;

async function setDemoPanel(page: Page, open: boolean) {
  const toggle = page.getByTestId('demo-toggle');
  if ((await toggle.getAttribute('aria-expanded')) !== String(open)) await toggle.click();
  await expect(toggle).toHaveAttribute('aria-expanded', String(open));
}

async function fits(page: Page, name: string, controls: string[]) {
  for (const size of SIZES) {
    await page.setViewportSize(size);
    for (const open of [true, false]) {
      await setDemoPanel(page, open);
      const where = `${name} at ${size.width}×${size.height}, demo panel ${open ? 'open' : 'folded'}`;
      const m = await page.evaluate(() => {
        const el = document.documentElement;
        // Boxes that clip or scroll their content (the audit list may: it is a log).
        const clipped = Array.from(document.querySelectorAll<HTMLElement>('body *'))
          .filter((e) => !e.closest('.audit') && getComputedStyle(e).overflowY !== 'visible')
          .filter((e) => e.scrollHeight > e.clientHeight + 1)
          .map((e) => `${e.tagName.toLowerCase()}.${e.className}`);
        return {
          scrollWidth: el.scrollWidth,
          scrollHeight: el.scrollHeight,
          width: innerWidth,
          height: innerHeight,
          clipped,
          text: document.body.innerText,
        };
      });
      expect(m.scrollHeight, where).toBeLessThanOrEqual(m.height);
      expect(m.scrollWidth, where).toBeLessThanOrEqual(m.width);
      expect(m.clipped, where).toEqual([]);
      expect(m.text, where).not.toMatch(SYMBOLS);
      for (const id of ['reader-status', 'demo-toggle', ...controls]) {
        const box = await page.getByTestId(id).boundingBox();
        expect(box, `${where}: ${id}`).not.toBeNull();
        expect(box!.x, `${where}: ${id}`).toBeGreaterThanOrEqual(0);
        expect(box!.y, `${where}: ${id}`).toBeGreaterThanOrEqual(0);
        expect(box!.x + box!.width, `${where}: ${id}`).toBeLessThanOrEqual(size.width);
        expect(box!.y + box!.height, `${where}: ${id}`).toBeLessThanOrEqual(size.height);
      }
      await page.screenshot({
        path: shotPath(`layout-${name}-${size.width}x${size.height}-demo-${open ? 'open' : 'folded'}`),
      });
    }
  }
  await setDemoPanel(page, true);
}

const SESSION = ['session-banner', 'banner-mfa', 'banner-enrol', 'banner-lock', 'banner-lock-hint'];

const PAD = [
  'pin-pad',
  'pin-dots',
  'pin-message',
  ...'0123456789'.split('').map((d) => `pin-key-${d}`),
  'pin-erase',
  'pin-submit',
  'pin-cancel',
];

test('every screen fits 1024×768 and 1280×800, demo panel open or folded, and says what happened', async ({
  page,
  agent,
}) => {
  test.setTimeout(120_000);
  await page.goto(agent.url);
  await expect(page.getByTestId('lock-screen')).toBeVisible();
  await expect(page.getByTestId('lock-screen').locator('svg[data-icon="lock"]')).toBeVisible();
  await expect(page.getByTestId('lock-reason')).toHaveCount(0);
  await fits(page, 'lock', ['lock-screen', 'diagnostic-toggle', 'lang-toggle']);

  // CPS card: the pad, then the tallest pad (a wrong PIN and the last-try warning).
  await page.getByTestId('demo-insert-cps-camille').click();
  await expect(page.getByTestId('pin-pad')).toBeVisible();
  await fits(page, 'pin-card', PAD);
  for (let i = 0; i < 2; i++) {
    await page.keyboard.type('0000');
    await page.keyboard.press('Enter');
    await expect(page.getByTestId('pin-message')).toContainText(i === 0 ? '2 essais restants' : '1 essai restant');
  }
  await expect(page.getByTestId('pin-message')).toContainText('au prochain échec la carte sera bloquée');
  await fits(page, 'pin-card-last-try', PAD);

  // The session: strong authentication in words, one way off the PC, and why there is one.
  await page.keyboard.type('1234');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('session-banner')).toBeVisible();
  await expect(page.getByTestId('banner-mfa')).toContainText(/Authentification forte valable encore [34] h/);
  await expect(page.getByTestId('session-banner')).not.toContainText('MFA');
  await expect(page.getByTestId('banner-lock')).toHaveText('Verrouiller le poste');
  await expect(page.getByTestId('banner-lock-hint')).toContainText('Un collègue prend le poste en badgeant');
  await expect(page.getByTestId('banner-switch')).toHaveCount(0);
  await expect(page.getByTestId('banner-enrol')).toHaveText('Associer un badge');
  await fits(page, 'session', SESSION);

  // The diagnostic page: French first, the codes beside, times in the agent's language (24 h).
  await page.getByTestId('diagnostic-toggle').click();
  await expect(page.getByTestId('diag-state')).toContainText('Session ouverte');
  await expect(page.getByTestId('diag-state').locator('code')).toHaveText('open');
  await expect(page.getByTestId('diag-session')).toHaveText('Authentification forte (2 facteurs) (card + pin)');
  await expect(page.getByTestId('diag-readers')).toContainText(
    'Lecteur démo CPS (contact) : prêt, simulé, carte présente',
  );
  await expect(page.getByTestId('diag-errors')).toContainText('Code PIN incorrect — 1 essai restant');
  await expect(page.getByTestId('diag-errors').locator('code').first()).toHaveText('pin-wrong');
  const audit = page.getByTestId('diag-audit');
  await expect(audit).toContainText('Session ouverte — réussi');
  await expect(audit).toContainText('Carte insérée');
  await expect(audit.locator('code').first()).toHaveText('session.opened');
  expect(await audit.innerText()).toMatch(/^\d{2}:\d{2}:\d{2} /m);
  expect(await page.getByTestId('diagnostic').innerText()).not.toMatch(/\b(AM|PM)\b|État : locked/);
  await fits(page, 'diagnostic', ['diagnostic', 'diag-state', 'diagnostic-export']);
  await page.getByTestId('diagnostic-toggle').click();

  // A new badge bound from the session: waiting for it, bound, someone else's; the session stays beside.
  await page.getByTestId('banner-enrol').click();
  await expect(page.getByTestId('enrol-status')).toHaveText('Présentez votre nouveau badge sur le lecteur');
  await fits(page, 'enrol-waiting', ['session-banner', 'banner-lock', 'enrol-status', 'enrol-cancel']);
  await page.getByTestId('demo-tap-badge-inconnu').click();
  await expect(page.getByTestId('enrol-status')).toHaveText('Badge associé : badgez-le pour rouvrir votre session');
  await expect(page.getByTestId('banner-enrol')).toHaveText('Associer un autre badge');
  await fits(page, 'enrol-bound', [...SESSION, 'enrol-status']);
  await page.getByTestId('banner-enrol').click();
  await expect(page.getByTestId('enrol-cancel')).toBeVisible();
  await page.getByTestId('demo-tap-badge-louis').click();
  await expect(page.getByTestId('enrol-status')).toContainText("Ce badge appartient déjà à quelqu'un d'autre");
  await fits(page, 'enrol-refused', [...SESSION, 'enrol-status']);

  // The card of an open session removed: that session locked.
  await page.getByTestId('demo-remove-card').click();
  await expect(page.getByTestId('lock-reason')).toHaveText('Session verrouillée : carte retirée');
  await fits(page, 'locked-card-removed', ['lock-screen', 'lock-reason']);

  // A card blocked at the pad, then removed: no session was open, nothing "locked". Louis's card comes
  // between his badge tapped for enrolment and his tap below, which would else be one tap (debounce).
  await page.getByTestId('demo-insert-cps-louis').click();
  for (const after of ['2 essais restants', '1 essai restant', null]) {
    await expect(page.getByTestId('pin-pad')).toBeVisible();
    await page.keyboard.type('9999');
    await page.keyboard.press('Enter');
    // The card's answer before the next try (keys typed while it checks are not a PIN).
    if (after) await expect(page.getByTestId('pin-message')).toContainText(after);
  }
  await expect(page.getByTestId('card-blocked')).toBeVisible();
  await fits(page, 'card-blocked', ['card-blocked']);
  await page.getByTestId('demo-remove-card').click();
  await expect(page.getByTestId('lock-reason')).toHaveText(
    'Carte retirée avant la connexion : aucune session n’a été ouverte',
  );

  // Badge + session code: a wrong code is a wrong session code, not a wrong PIN.
  await page.getByTestId('demo-tap-badge-louis').click();
  await expect(page.getByTestId('pin-pad')).toContainText('Code de session');
  await page.keyboard.type('9999');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('error-message')).toContainText('Code de session incorrect');
  await expect(page.getByTestId('pin-message')).not.toContainText('Code PIN');
  await fits(page, 'pin-session-code-wrong', PAD);
  await page.getByTestId('pin-cancel').click();
  await expect(page.getByTestId('lock-reason')).toContainText('Saisie annulée');

  // A refused badge: the reason and what to do, then a reset leaves neither behind.
  await page.getByTestId('demo-tap-badge-clone').click();
  await expect(page.getByTestId('error-message')).toContainText("Badge non encodé pour l'établissement");
  await fits(page, 'locked-refused-badge', ['lock-screen', 'lock-reason', 'error-message']);
  await page.getByTestId('demo-reset').click();
  await expect(page.getByTestId('lock-reason')).toHaveCount(0);
  await expect(page.getByTestId('error-message')).toHaveCount(0);
});
