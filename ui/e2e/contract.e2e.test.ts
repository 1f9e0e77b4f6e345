// @vitest-environment node
/**
 * The same story in Chromium against an in-memory double of the /api/v1 contract
 * (contract-fake.ts): proves the built UI in a real browser independently of the server's
 * progress, and adds what the real server cannot be made to do on demand (expire a session).
 */
import { existsSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUi, CHROMIUM, launchBrowser } from './harness.ts';
import { startContractFake, type ContractFake } from './contract-fake.ts';
import { Flow, tradingFlowTests } from './flow.ts';

const noBrowser = existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing (apt-get install chromium)`;
if (noBrowser) console.warn(`[ui e2e] skipped: ${noBrowser}`);

describe.skipIf(noBrowser !== null)('trader UI end to end: contract double + Chromium', { timeout: 120_000 }, () => {
  let uiDist: string | undefined;
  let api: ContractFake | undefined;
  let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
  let flow: Flow;

  beforeAll(async () => {
    uiDist = await buildUi();
    api = await startContractFake({ uiDist });
    browser = await launchBrowser();
    flow = new Flow({ url: api.url, admin: api.admin, context: browser.context, label: 'contract' });
    await flow.loadMarket();
  }, 300_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await api?.stop();
    if (uiDist) rmSync(uiDist, { recursive: true, force: true });
  }, 60_000);

  tradingFlowTests(() => ({ flow, url: api?.url ?? '', skip: null }));

  it('a session that expires mid-edit returns to sign-in and restores the form after login', async () => {
    const b = await flow.page('b');
    await b.setViewportSize({ width: 1280, height: 900 });
    await flow.gotoMarket(b);
    const ticket = b.getByRole('form', { name: `Order ticket for ${flow.market.symbol}` });
    await ticket.getByLabel('Buy', { exact: true }).check();
    await ticket.getByLabel(/^Price/).fill(flow.price);
    await ticket.getByLabel(/^Quantity/).fill('0.25');
    api!.expireTokens();
    await ticket.getByRole('button', { name: `Buy ${flow.market.baseAsset}` }).click();
    const overlay = b.getByTestId('session-expired');
    await overlay.getByRole('heading', { name: 'Session expired' }).waitFor();
    expect(await overlay.getByLabel('Username').inputValue()).toBe(flow.users.b.username);
    await flow.shot(b, '12-session-expired');
    await overlay.getByLabel('Password').fill(flow.users.b.password);
    await overlay.getByRole('button', { name: 'Sign in' }).click();
    await overlay.waitFor({ state: 'detached' });
    expect(await ticket.getByLabel(/^Price/).inputValue()).toBe(flow.price);
    expect(await ticket.getByLabel(/^Quantity/).inputValue()).toBe('0.25');
    // the restored form can be sent
    await ticket.getByRole('button', { name: `Buy ${flow.market.baseAsset}` }).click();
    await b.getByText(/Order sent: buy 0\.25 /).first().waitFor();
    await expect.poll(() => b.getByRole('status', { name: 'Connection: Live' }).count(), { timeout: 20_000 }).toBe(1);
    // the 401s above are expected console noise of this step; nothing else may have logged errors
    expect(flow.consoleErrors.filter((e) => !/401/.test(e))).toEqual([]);
  });
});
