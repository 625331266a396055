import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { hasChromium, watchErrors } from '../src/browser';
import { useServerAndBrowser } from '../src/fixture';
import { readFacts, waitUntil } from '../src/session-page';

/**
 * One creator tab, by keyboard where a person would use one: Start now, the charts' names, the
 * Try it panel (a file that is no image, Clear), Pause/Resume/Leave/Start keeping focus on a live
 * control, and Start now working again after Leave -> Start sent the session back to waiting.
 */

const config = {
  model: 'mlp',
  dataset: 'synthetic',
  expectedPeers: 2,
  batchSize: 16,
  rounds: 100_000,
  evalEvery: 0,
  deadlineMs: 1000,
  seed: 5,
};

const focused = (page: Page) => page.evaluate(`document.activeElement?.getAttribute('data-testid') ?? document.activeElement?.tagName`) as Promise<string>;

describe.skipIf(!hasChromium())('session controls', () => {
  const { server, browser } = useServerAndBrowser();

  it('keeps keyboard focus, names its charts, reports a bad image, and starts again after Leave', async () => {
    const res = await fetch(`${server().url}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
    const created = (await res.json()) as { id: string; token: string; url: string; admin: string };
    const context = await browser().newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors = watchErrors(page, 'tab');
    // this browser created the session: it holds the creator key (client/src/known-sessions.ts)
    await page.goto(`${server().url}/?backend=wasm`);
    await page.evaluate(`localStorage.setItem('signvote.sessions', ${JSON.stringify(JSON.stringify([{ id: created.id, token: created.token, admin: created.admin, seenAt: Date.now() }]))})`);
    await page.goto(`${created.url}&backend=wasm`);

    const startNow = page.getByTestId('start-now');
    const startWithOne = async () => {
      await waitUntil('Start now (1 of 2 here)', 90_000, async () => (await readFacts(page)).state === 'waiting' && (await startNow.textContent()) === 'Start now (1 of 2 here)' && (await startNow.isEnabled()));
      expect(await page.getByTestId('start-now-done').count()).toBe(0);
      await startNow.click();
      await expect.poll(() => page.getByTestId('start-now-done').textContent(), { timeout: 30_000 }).toBe('Started with 1 peer: the training set is split into 1 shard.');
      await waitUntil('rounds', 90_000, async () => (await readFacts(page)).rounds >= 2);
    };
    await startWithOne();

    // every chart's canvas has a name; the parameter hash stays on one line
    const canvases = page.locator('.chart canvas');
    expect(await canvases.count()).toBeGreaterThanOrEqual(4);
    for (const label of await canvases.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')))) expect(label).toMatch(/ chart$/);
    const lines = await page.getByTestId('hash').evaluate((e) => e.getClientRects().length === 1 && e.getBoundingClientRect().height < 1.8 * parseFloat(getComputedStyle(e).fontSize) * 1.2);
    expect(lines).toBe(true);

    // Try it: Tab reaches "Open an image…", its label shows the focus; a text file named .png is reported
    await page.getByTestId('clear-pad').focus();
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('open-image');
    expect(await page.locator('.file-button').evaluate((e) => getComputedStyle(e).outlineStyle)).not.toBe('none');
    await page.getByTestId('open-image').setInputFiles({ name: 'fake.png', mimeType: 'image/png', buffer: Buffer.from('not an image at all\n') });
    await expect.poll(() => page.getByTestId('try-problem').textContent(), { timeout: 10_000 }).toBe('fake.png is not an image this browser can read: open a PNG or JPEG picture');
    // a drawing gets probabilities; Clear takes them away with the drawing
    const pad = await page.getByTestId('draw-pad').boundingBox();
    await page.mouse.move(pad!.x + 140, pad!.y + 60);
    await page.mouse.down();
    await page.mouse.move(pad!.x + 140, pad!.y + 220, { steps: 5 });
    await page.mouse.up();
    await expect.poll(() => page.getByTestId('prediction').count(), { timeout: 10_000 }).toBe(10);
    expect(await page.getByTestId('try-problem').count()).toBe(0);
    await page.getByTestId('clear-pad').click();
    expect(await page.getByTestId('prediction').count()).toBe(0);

    // Pause -> focus on Resume, Resume -> focus on Pause, Leave -> focus on Start
    await page.getByTestId('pause').focus();
    await page.keyboard.press('Space');
    await expect.poll(() => readFacts(page).then((f) => f.state)).toBe('paused');
    expect(await focused(page)).toBe('start');
    expect(await page.getByTestId('start').textContent()).toBe('Resume');
    await page.keyboard.press('Enter');
    await expect.poll(() => readFacts(page).then((f) => f.state)).toBe('training');
    expect(await focused(page)).toBe('pause');
    await page.getByTestId('leave').focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => readFacts(page).then((f) => f.state)).toBe('left');
    expect(await focused(page)).toBe('start');

    // Start joins again; the session waits again, and Start now is live, not the old notice
    await page.keyboard.press('Enter');
    await startWithOne();
    expect(errors.filter((e) => !e.includes('Failed to load resource'))).toEqual([]);
    await context.close();
  }, 300_000);

  it('says what is wrong with a link that cannot join, and hides the invitation once finished', async () => {
    const page = await browser().newPage();
    const errors = watchErrors(page, 'tab');
    const says = async (search: string) => {
      await page.goto(`${server().url}/${search}`);
      await page.getByTestId('state').waitFor();
      return page.getByTestId('state').textContent();
    };
    expect(await says('?session=a/b&token=x')).toBe('This link is malformed: "a/b" is not a session id (ids are 1 to 64 letters, digits, _ and -). Copy the whole link again.');
    expect(await says('?session=%F0%9F%92%A9&token=%00')).toMatch(/^This link is malformed: /);
    expect(await says('?session=abc123')).toMatch(/^This link lacks its token: session abc123 /);
    // well-formed but unknown: the server's JSON 404, said as such
    expect(await says('?session=nope1234&token=x')).toBe('this session does not exist (it may have expired)');

    const res = await fetch(`${server().url}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...config, expectedPeers: 1, rounds: 3 }) });
    await page.goto(`${((await res.json()) as { url: string }).url}&backend=wasm`);
    await waitUntil('the session to finish', 90_000, async () => (await readFacts(page)).state === 'finished');
    expect(await page.getByTestId('invite-finished').isVisible()).toBe(true);
    expect(await page.getByTestId('join-link').count()).toBe(0);
    expect(await page.getByTestId('join-qr').count()).toBe(0);
    expect(errors.filter((e) => !e.includes('Failed to load resource'))).toEqual([]);
    await page.close();
  }, 120_000);
});
