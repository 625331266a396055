import type { Browser } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import type { SignalingServer } from '@signvote/signaling';
import { launchChromium } from './browser';
import { startServer } from './server';

/** One real signaling server (serving the client build) and one Chromium for a test file. */
export function useServerAndBrowser(): { server(): SignalingServer; browser(): Browser } {
  let server: SignalingServer | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    server = await startServer();
    browser = await launchChromium();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is not started (beforeAll failed?)`);
    return value;
  };
  return { server: () => need(server, 'the signaling server'), browser: () => need(browser, 'Chromium') };
}
