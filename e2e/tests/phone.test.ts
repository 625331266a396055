import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import jsQR from 'jsqr';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { hasChromium, watchErrors } from '../src/browser';
import { screenshots } from '../src/build';
import { useServerAndBrowser } from '../src/fixture';
import { readFacts, waitUntil } from '../src/session-page';

/**
 * A phone joins by scanning the QR code a desktop tab shows, trains at 390x844 with touch (its
 * pace and time left on screen), and finds the session on the server's home page. The phone is Chromium with a phone's viewport,
 * scale and touch events; the scan is the QR code decoded from a screenshot of the desktop tab.
 */

const config = {
  model: 'mlp',
  dataset: 'mnist',
  algorithm: { name: 'mv-sto-signsgd-sim', lr: 0.003 },
  expectedPeers: 2,
  batchSize: 32,
  // more than the test needs: the session must still be running when the phone pauses
  rounds: 2000,
  evalEvery: 10,
  deadlineMs: 1500,
  seed: 11,
};

/** the text of the QR code inside `element`, as a phone camera would read it */
async function scan(element: Locator): Promise<string | null> {
  const png = PNG.sync.read(await element.screenshot());
  return jsQR(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.byteLength), png.width, png.height)?.data ?? null;
}

describe.skipIf(!hasChromium())('a phone on the LAN', () => {
  const fixture = useServerAndBrowser();
  let phone: BrowserContext | undefined;
  afterAll(async () => {
    await phone?.close();
  });

  it('joins by the QR code, trains at phone size with touch, and sees its ETA, the QR code and its backend', async () => {
    const res = await fetch(`${fixture.server().url}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
    expect(res.status).toBe(201);
    const { id, url } = (await res.json()) as { id: string; url: string };

    const desktop = await fixture.browser().newPage({ viewport: { width: 1280, height: 900 } });
    const desktopErrors = watchErrors(desktop, 'desktop');
    await desktop.goto(`${url}&backend=wasm`);
    const qr = desktop.getByTestId('join-qr');
    await qr.locator('svg').waitFor();
    const scanned = await scan(qr);
    // the server listens on loopback only here, so the code carries the link as the desktop sees it
    expect(scanned).toBe(url);

    phone = await fixture.browser().newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const page: Page = await phone.newPage();
    const phoneErrors = watchErrors(page, 'phone');
    // wasm like the desktop: a headless browser's only WebGPU adapter is a software one
    await page.goto(`${scanned}&backend=wasm`);
    const started = await waitUntil('the phone to train', 120_000, async () => {
      const f = await readFacts(page);
      return f.state === 'training' && f.rounds >= 5 ? f : null;
    });
    expect(started.backend).toBe('wasm');
    // the pace and the time left, read while it trains
    expect(await page.getByTestId('rate').textContent()).toMatch(/^\d+(\.\d+)? rounds\/s$/);
    expect(await page.getByTestId('eta').textContent()).toMatch(/^\d+ s$|^\d+ min \d+ s$/);
    expect(await page.getByTestId('backend-reason').textContent()).toContain('?backend=wasm');

    // nothing is wider than the phone: no sideways scrolling
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    // its own QR code, for the next phone, is on the page and decodes to this session
    const own = page.getByTestId('join-qr');
    await own.scrollIntoViewIfNeeded();
    expect(await own.isVisible()).toBe(true);
    expect(new URL((await scan(own))!).searchParams.get('session')).toBe(id);

    // touch: Pause holds the phone's ballots back, Resume brings them back
    await page.getByTestId('pause').tap();
    await expect.poll(async () => (await readFacts(page)).state).toBe('paused');
    await page.getByTestId('start').tap();
    await expect.poll(async () => (await readFacts(page)).state).toBe('training');
    const r0 = (await readFacts(page)).rounds;
    await waitUntil('rounds to go on after Resume', 60_000, async () => (await readFacts(page)).rounds >= r0 + 3);

    mkdirSync(screenshots, { recursive: true });
    await page.screenshot({ path: join(screenshots, 'phone.png'), fullPage: true });

    // the phone's home page (another tab, same storage) lists the session it joined, running with
    // both peers, though the session is not listed for everyone
    const home = await phone.newPage();
    await home.goto(fixture.server().url);
    const item = home.locator(`[data-testid="session-item"][data-session="${id}"]`);
    await item.waitFor({ timeout: 10_000 });
    expect(await item.getAttribute('data-state')).toBe('running');
    expect(await item.getAttribute('data-peers')).toBe('2');
    expect(await item.getAttribute('data-listed')).toBe('false');
    expect(new URL((await item.getByRole('link', { name: 'Join' }).getAttribute('href'))!).searchParams.get('token')).toBe(new URL(url).searchParams.get('token'));
    await home.close();

    expect(phoneErrors).toEqual([]);
    expect(desktopErrors).toEqual([]);
    await desktop.close();
  }, 240_000);
});
