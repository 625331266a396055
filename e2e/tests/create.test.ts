import { spawn } from 'node:child_process';
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
});
