import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { hasChromium, watchErrors } from '../src/browser';
import { repoRoot } from '../src/build';
import { useServerAndBrowser } from '../src/fixture';

describe.skipIf(!hasChromium())('creating a session in the browser', () => {
  const fixture = useServerAndBrowser();

  it('shows readable errors next to bad fields and creates a session from valid ones', async () => {
    const page = await fixture.browser().newPage();
    const errors = watchErrors(page, 'create');
    await page.goto(fixture.server().url);
    await page.getByLabel('Learning rate γ').fill('-0.5');
    await page.getByLabel('Momentum θ').fill('1');
    await page.getByLabel('Batch size').fill('');
    await page.getByTestId('create-session').click();
    await expect.poll(() => page.getByTestId('error-lr').textContent()).toBe('must be greater than 0');
    expect(await page.getByTestId('error-theta').textContent()).toBe('must be less than 1');
    expect(await page.getByTestId('error-batchSize').textContent()).toBe('must be a number');
    // the first bad field gets focus so a keyboard user lands on it
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('field-lr');

    await page.getByLabel('Learning rate γ').fill('0.003');
    await page.getByLabel('Momentum θ').fill('0.9');
    await page.getByLabel('Batch size').fill('32');
    await page.getByLabel('Algorithm', { exact: true }).selectOption('fed-mv-sto-signsgd-sim');
    await page.getByTestId('create-session').click();
    const link = new URL(await page.getByTestId('join-link').inputValue());
    expect(link.searchParams.get('session')).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(link.searchParams.get('token')).toBeTruthy();
    expect(link.origin).toBe(new URL(fixture.server().url).origin);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('is usable from the keyboard alone', async () => {
    const page = await fixture.browser().newPage();
    await page.goto(fixture.server().url);
    await page.getByTestId('create-session').waitFor(); // React renders after the load event
    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.textContent || ''));
    }
    expect(order).toEqual(['signvote', 'field-model', 'field-dataset', 'field-partition', 'field-seed', 'field-algorithm']);
    // Enter in a field submits the form, like any native form
    await page.getByLabel('Rounds', { exact: true }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByTestId('join-link').count()).toBe(1);
    await page.close();
  });

  it('explains a join link that names no session', async () => {
    const page = await fixture.browser().newPage();
    const errors = watchErrors(page, 'bad-link');
    await page.goto(`${fixture.server().url}/?session=nosuchsession&token=whatever`);
    await expect.poll(() => page.getByTestId('state').getAttribute('data-state'), { timeout: 30_000 }).toBe('error');
    expect(await page.getByTestId('state').textContent()).toMatch(/does not exist|unknown session/i);
    // a bad link is the user's mistake, not the page's: nothing is thrown into the console
    expect(errors.filter((e) => !e.includes('Failed to load resource'))).toEqual([]);
    await page.close();
  });

  it('keeps every algorithm selectable', async () => {
    const page = await fixture.browser().newPage();
    await page.goto(fixture.server().url);
    const options = await page.getByLabel('Algorithm', { exact: true }).locator('option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    const { algorithmNames } = await import('@signvote/core');
    expect(options).toEqual([...algorithmNames]);
    await page.close();
  });

  it('shows a headless-peer command that joins the session as typed', async () => {
    const page = await fixture.browser().newPage();
    await page.goto(fixture.server().url);
    await page.getByTestId('create-session').click();
    const command = (await page.getByTestId('cli-command').textContent())!.trim();
    expect(command).toMatch(/^npx signvote peer --server http:\/\/127\.0\.0\.1:\d+ --session \S+ --token \S+$/);
    // typed into a shell at the checkout's root, it joins; then it is stopped
    const shell = spawn('bash', ['-c', `exec ${command} --json`], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    shell.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => shell.once('exit', resolve));
    try {
      await expect.poll(() => stderr, { timeout: 60_000 }).toMatch(/"event":"joined"/);
      expect(stderr).not.toMatch(/npm warn/i);
    } finally {
      shell.kill('SIGTERM');
      await exited;
    }
    await page.close();
  }, 90_000);

  it('lists listed sessions on the home page for everyone, and private ones only where they were created', async () => {
    const owner = await fixture.browser().newContext();
    const page = await owner.newPage();
    await page.goto(fixture.server().url);
    await page.getByLabel('Rounds', { exact: true }).fill('40');
    await page.getByTestId('create-session').click();
    const hidden = new URL(await page.getByTestId('join-link').inputValue()).searchParams.get('session')!;
    await page.getByRole('button', { name: 'Create another' }).click();
    await page.getByTestId('listed').check();
    await page.getByTestId('create-session').click();
    const open = new URL(await page.getByTestId('join-link').inputValue()).searchParams.get('session')!;
    await page.goto(fixture.server().url);
    const item = (p: typeof page, id: string) => p.locator(`[data-testid="session-item"][data-session="${id}"]`);
    await item(page, open).waitFor();
    await item(page, hidden).waitFor();
    expect(await item(page, hidden).getAttribute('data-listed')).toBe('false');
    expect(await item(page, hidden).textContent()).toContain('0 of 4 peers');
    expect(await item(page, hidden).textContent()).toContain('40 rounds');

    // another browser sees the listed session only, and can join it from the list
    const stranger = await fixture.browser().newPage();
    await stranger.goto(fixture.server().url);
    await item(stranger, open).waitFor();
    expect(await item(stranger, hidden).count()).toBe(0);
    await item(stranger, open).getByRole('link', { name: 'Join' }).click();
    await expect.poll(() => stranger.getByTestId('session-id').textContent(), { timeout: 30_000 }).toBe(open);
    await stranger.close();
    await owner.close();
  }, 60_000);

  const onnx = (name: string) => join(repoRoot, 'core/fixtures/onnx', name);
  const sessionsHeld = async () => ((await (await fetch(`${fixture.server().url}/healthz`)).json()) as { sessions: number }).sessions;
  /** the config of the session the page just created, as the server holds it */
  const createdConfig = async (page: Page) => {
    const link = new URL(await page.getByTestId('join-link').inputValue());
    const res = await fetch(`${fixture.server().url}/api/sessions/${link.searchParams.get('session')}/config`, { headers: { 'x-session-token': link.searchParams.get('token')! } });
    return ((await res.json()) as { config: Record<string, unknown> }).config;
  };

  it('never creates a session on the preset while the model file shows an error', async () => {
    const page = await fixture.browser().newPage();
    await page.goto(fixture.server().url);
    await page.getByTestId('model-file').setInputFiles(onnx('unsupported-hardswish.onnx'));
    const error = page.getByTestId('model-file-error');
    await expect.poll(() => error.count(), { timeout: 30_000 }).toBe(1);
    const before = await sessionsHeld();
    await page.getByTestId('create-session').click();
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('field-modelFile');
    expect(await page.getByTestId('join-link').count()).toBe(0);
    expect(await sessionsHeld()).toBe(before);
    // linked to its field and announced
    expect(await error.getAttribute('role')).toBe('alert');
    expect(await page.getByTestId('model-file').getAttribute('aria-describedby')).toBe(await error.getAttribute('id'));
    // a bad data spec is linked and announced the same way
    await page.getByTestId('data-spec').fill('{"format":"csv"');
    expect(await page.getByTestId('data-spec-error').getAttribute('role')).toBe('alert');
    expect(await page.getByTestId('data-spec').getAttribute('aria-describedby')).toBe('field-dataSpec-error');
    await page.close();
  }, 60_000);

  it('starts the model file, data spec and listing afresh after Create another and Reset to defaults', async () => {
    const page = await fixture.browser().newPage();
    const errors = watchErrors(page, 'create-another');
    await page.goto(fixture.server().url);
    await page.getByTestId('model-file').setInputFiles(onnx('tabular-layernorm.onnx'));
    await page.getByTestId('model-file-summary').waitFor({ timeout: 30_000 });
    // the server refuses a spec that does not fit the model, in the peers' sentence
    await page.getByTestId('data-spec').fill('{"format":"csv","labelColumn":"label","classes":["a","b"]}');
    await page.getByTestId('create-session').click();
    await expect.poll(() => page.getByTestId('create-error').textContent()).toContain('the session names 2 classes, its model has 3 outputs');
    await page.getByTestId('data-spec').fill('{"format":"csv","labelColumn":"label","classes":["a","b","c"]}');
    await page.getByTestId('create-session').click();
    expect(await createdConfig(page)).toMatchObject({ modelFile: { name: 'tabular-layernorm.onnx' }, data: { format: 'csv' } });

    await page.getByRole('button', { name: 'Create another' }).click();
    expect(await page.getByTestId('model-file-summary').count()).toBe(0);
    expect(await page.getByTestId('data-spec').inputValue()).toBe('');
    await page.getByTestId('create-session').click();
    const again = await createdConfig(page);
    expect([again.modelFile, again.data, again.model]).toEqual([undefined, undefined, 'mlp']);

    await page.getByRole('button', { name: 'Create another' }).click();
    await page.getByTestId('model-file').setInputFiles(onnx('tabular-layernorm.onnx'));
    await page.getByTestId('model-file-summary').waitFor({ timeout: 30_000 });
    await page.getByTestId('data-spec').fill('{"format":"csv","classes":["a","b","c"]}');
    await page.getByTestId('listed').check();
    await page.getByRole('button', { name: 'Reset to defaults' }).click();
    expect(await page.getByTestId('model-file-summary').count()).toBe(0);
    expect(await page.getByTestId('data-spec').inputValue()).toBe('');
    expect(await page.getByTestId('listed').isChecked()).toBe(false);
    await page.getByTestId('create-session').click();
    const reset = await createdConfig(page);
    expect([reset.modelFile, reset.data, reset.model]).toEqual([undefined, undefined, 'mlp']);
    // the refused create above is the one failed request
    expect(errors.filter((e) => !e.includes('status of 400'))).toEqual([]);
    await page.close();
  }, 90_000);

  it('focuses the first bad field in form order, refuses hex numbers and bad ICE URLs, and has 44 px fields on a phone', async () => {
    const context = await fixture.browser().newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, hasTouch: true, isMobile: true });
    const page = await context.newPage();
    await page.goto(fixture.server().url);
    await page.getByLabel('Seed').fill('0x10');
    await page.getByLabel('ICE servers').fill('notaurl');
    await page.getByTestId('create-session').click();
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('field-seed');
    expect(await page.getByTestId('error-seed').textContent()).toBe('must be a number');
    expect(await page.getByTestId('error-iceServers').textContent()).toMatch(/^line 1: "notaurl" is not a STUN or TURN URL/);
    const heights = await page.evaluate(() =>
      ['field-model', 'field-seed', 'field-lr', 'field-iceServers', 'field-modelFile', 'create-session'].map((id) => {
        const el = document.getElementById(id) ?? document.querySelector(`[data-testid="${id}"]`);
        return [id, Math.round(el!.getBoundingClientRect().height)] as const;
      }),
    );
    for (const [id, height] of heights) expect(height, id).toBeGreaterThanOrEqual(44);
    await context.close();
  }, 60_000);
});
