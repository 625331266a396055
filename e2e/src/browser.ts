import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium; the tests never download a browser. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function hasChromium(): boolean {
  return existsSync(chromiumPath);
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--enable-unsafe-webgpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // background tabs must keep training at full speed: every tab is a peer
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
      // tabs hide their addresses behind mDNS names, which nothing resolves in a container
      // without an mDNS responder; real addresses let tabs and Node peers reach each other
      '--disable-features=WebRtcHideLocalIpsWithMdns',
    ],
  });
}

/** Collects console errors and uncaught exceptions so a test can assert a clean run. */
export function watchErrors(page: Page, label: string): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`${label}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`${label}: ${err.message}`));
  return errors;
}
