// @vitest-environment node
/**
 * The trader UI in a real browser (Debian Chromium via playwright-core) against the real
 * single-node server with a fresh PostgreSQL database. Screenshots go to ui/e2e/screenshots/.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { buildUi, launchBrowser, missingPrerequisite, startServer, type RunningServer } from './harness.ts';
import { Flow, tradingFlowTests } from './flow.ts';

const prerequisite = missingPrerequisite();
if (prerequisite) console.warn(`[ui e2e] skipped: ${prerequisite}`);

describe.skipIf(prerequisite !== null)('trader UI end to end: single-node server + Chromium', { timeout: 120_000 }, () => {
  let uiDist: string | undefined;
  let db: TestDatabase | undefined;
  let server: RunningServer | undefined;
  let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
  let flow: Flow;
  /** Set when the running server does not serve a contract endpoint the UI needs yet. */
  let apiMissing: string | null = null;

  beforeAll(async () => {
    uiDist = await buildUi();
    db = await createTestDatabase('ui_e2e');
    server = await startServer({ databaseUrl: db.url, uiDist });
    const probe = await fetch(`${server.url}/api/v1/markets`);
    if (probe.status === 404) {
      apiMissing = 'the single-node server does not answer GET /api/v1/markets yet (read side not wired into packages/server)';
      console.warn(`[ui e2e] skipped: ${apiMissing}`);
      return;
    }
    browser = await launchBrowser();
    flow = new Flow({ url: server.url, admin: server.admin, context: browser.context, label: 'single-node' });
    await flow.loadMarket();
  }, 300_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
    await db?.drop().catch(() => undefined);
    if (uiDist) rmSync(uiDist, { recursive: true, force: true });
  }, 60_000);

  tradingFlowTests(() => ({ flow, url: server?.url ?? '', skip: apiMissing }));

  // Last: it restarts the server. The new JWT secret makes the server refuse every earlier token
  // with a real 401, which is what an expired or revoked session looks like to the UI.
  it('a session that ends mid-edit returns to sign-in and restores the form after login', async (ctx) => {
    if (apiMissing) ctx.skip(apiMissing);
    const b = await flow.page('b');
    await b.setViewportSize({ width: 1280, height: 900 });
    await flow.gotoMarket(b);
    const ticket = b.getByRole('form', { name: `Order ticket for ${flow.market.symbol}` });
    await ticket.getByLabel('Buy', { exact: true }).check();
    await ticket.getByLabel(/^Price/).fill(flow.price);
    await ticket.getByLabel(/^Quantity/).fill('0.25');
    await server!.restart({ rotateJwtSecret: true });
    await ticket.getByRole('button', { name: `Buy ${flow.market.baseAsset}` }).click();
    const overlay = b.getByTestId('session-expired');
    await overlay.getByRole('heading', { name: 'Session expired' }).waitFor({ timeout: 30_000 });
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
    await expect.poll(() => b.getByRole('status', { name: 'Connection: Live' }).count(), { timeout: 30_000 }).toBe(1);
    // the 401s and the restart's dropped connections are expected console noise of this step
    expect(flow.consoleErrors.filter((e) => !/401|ERR_CONNECTION|ERR_NETWORK|Failed to fetch|EventSource|ERR_INCOMPLETE/.test(e))).toEqual([]);
  }, 180_000);
});
