/**
 * The end-to-end story, driven through the UI only: two traders sign up, the admin deposits
 * through the Admin page, A sells, B buys, both see the fill and their portfolios change,
 * cancel and amend work, and a too-large order shows its reject reason in words.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { SCREENSHOTS } from './harness.ts';
import { rejectReasonText } from '../src/lib/rejectReasons.ts';
import { add, cmp, dec, floorToStep, formatDecimal, mul, sub } from '../src/lib/decimal.ts';

export interface FlowTarget {
  url: string;
  admin: { username: string; password: string };
  context: BrowserContext;
  /** Screenshot file prefix, e.g. "single-node". */
  label: string;
}

interface ApiMarket {
  marketId: number;
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  tickSize: string;
  lotSize: string;
  currentPrice: string | null;
  referencePrice?: string | null;
  status: string;
}

const WAIT = 20_000;

export class Flow {
  readonly consoleErrors: string[] = [];
  readonly pages = new Map<string, Page>();
  market!: ApiMarket;
  price!: string;
  users: Record<'a' | 'b', { username: string; password: string; userId: number }> = {
    a: { username: `alice_${randomBytes(3).toString('hex')}`, password: 'alice-password-1', userId: 0 },
    b: { username: `bob_${randomBytes(3).toString('hex')}`, password: 'bob-password-12', userId: 0 },
  };

  private readonly t0 = Date.now();

  /** E2E_TRACE=1 prints each step with its time, to find slow waits. */
  trace(what: string): void {
    if (process.env.E2E_TRACE) console.log(`[e2e ${this.t.label} +${((Date.now() - this.t0) / 1000).toFixed(1)}s] ${what}`);
  }

  constructor(readonly t: FlowTarget) {
    mkdirSync(SCREENSHOTS, { recursive: true });
  }

  async page(name: string): Promise<Page> {
    const existing = this.pages.get(name);
    if (existing) return existing;
    const page = await this.t.context.newPage();
    page.setDefaultTimeout(WAIT);
    page.on('console', (m) => {
      if (m.type() === 'error') this.consoleErrors.push(`[${name}] ${m.text()}`);
    });
    page.on('pageerror', (e) => this.consoleErrors.push(`[${name}] page error: ${e.message}`));
    this.pages.set(name, page);
    return page;
  }

  async shot(page: Page, name: string): Promise<void> {
    this.trace(`screenshot ${name}`);
    await page.screenshot({ path: join(SCREENSHOTS, `${this.t.label}-${name}.png`), fullPage: true });
  }

  async loadMarket(): Promise<void> {
    const res = await fetch(`${this.t.url}/api/v1/markets`);
    expect(res.status).toBe(200);
    const markets = (await res.json()) as ApiMarket[];
    expect(markets.length).toBeGreaterThanOrEqual(1);
    this.market = markets[0]!;
    // Trade at the market's current (or reference) price, so price bands never get in the way.
    this.price = formatDecimal(dec(this.market.currentPrice ?? this.market.referencePrice ?? '100'));
  }

  async signUp(who: 'a' | 'b'): Promise<Page> {
    this.trace('signUp');
    const u = this.users[who];
    const page = await this.page(who);
    await page.goto(`${this.t.url}/#/signup`);
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();
    await page.getByLabel('Username').fill(u.username);
    await page.getByLabel('Password').fill(u.password);
    if (who === 'a') await this.shot(page, '01-sign-up');
    await page.getByRole('button', { name: 'Sign up' }).click();
    await page.getByRole('heading', { name: 'Markets' }).waitFor();
    const text = await page.getByTestId('current-user').innerText();
    const m = /#(\d+)/.exec(text);
    expect(m, `user id in "${text}"`).not.toBeNull();
    u.userId = Number(m![1]);
    await page.getByTestId('markets-table').waitFor();
    if (who === 'a') await this.shot(page, '02-markets');
    return page;
  }

  async signInAdmin(): Promise<Page> {
    this.trace('signInAdmin');
    const page = await this.page('admin');
    await page.goto(`${this.t.url}/#/signin`);
    await page.getByLabel('Username').fill(this.t.admin.username);
    await page.getByLabel('Password').fill(this.t.admin.password);
    await this.shot(page, '00-sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByRole('heading', { name: 'Admin', level: 1 }).waitFor();
    return page;
  }

  async deposit(admin: Page, userId: number, asset: string, amount: string): Promise<void> {
    this.trace('deposit');
    const form = admin.getByRole('form', { name: 'Deposit' });
    await form.getByLabel('User id').fill(String(userId));
    await form.getByLabel('Asset').fill(asset);
    await form.getByLabel('Amount').fill(amount);
    await form.getByRole('button', { name: 'Deposit' }).click();
    await admin.getByText(`${amount} ${asset} to user ${userId}`).waitFor();
  }

  async balance(page: Page, asset: string): Promise<{ available: string; reserved: string }> {
    const row = page.getByTestId('balances').locator(`tr[data-asset="${asset}"]`);
    await row.waitFor();
    const available = (await row.getByTestId('balance-available').innerText()).replace(/,/g, '');
    const reserved = (await row.getByTestId('balance-reserved').innerText()).replace(/,/g, '');
    return { available, reserved };
  }

  async waitForBalance(page: Page, asset: string, pred: (available: string, reserved: string) => boolean): Promise<void> {
    this.trace('waitForBalance');
    const deadline = Date.now() + WAIT;
    let last = { available: '?', reserved: '?' };
    while (Date.now() < deadline) {
      const row = page.getByTestId('balances').locator(`tr[data-asset="${asset}"]`);
      if ((await row.count()) > 0) {
        last = await this.balance(page, asset);
        if (pred(last.available, last.reserved)) return;
      }
      await page.waitForTimeout(250);
    }
    throw new Error(`balance of ${asset} did not reach the expected value; last seen ${JSON.stringify(last)}`);
  }

  async gotoPortfolio(page: Page): Promise<void> {
    this.trace('gotoPortfolio');
    await page.getByRole('link', { name: 'Portfolio' }).click();
    await page.getByRole('heading', { name: 'Portfolio', level: 1 }).waitFor();
  }

  async gotoMarket(page: Page): Promise<void> {
    this.trace('gotoMarket');
    await page.getByRole('link', { name: 'Markets' }).click();
    await page.getByRole('link', { name: this.market.symbol }).click();
    await page.getByRole('heading', { name: 'Place order' }).waitFor();
  }

  /** On a phone the navigation sits behind the Menu button. */
  async gotoMarketFromMenu(page: Page): Promise<void> {
    const menu = page.getByRole('button', { name: 'Menu' });
    if (await menu.isVisible()) await menu.click();
    await page.getByRole('link', { name: 'Markets' }).click();
    await page.getByRole('link', { name: this.market.symbol }).click();
    await page.getByRole('heading', { name: 'Place order' }).waitFor();
  }

  /** Fills the ticket and sends it; confirms when the UI asks. */
  async placeOrder(page: Page, o: { side: 'buy' | 'sell'; quantity: string; price: string; expectConfirm?: boolean }): Promise<void> {
    this.trace('placeOrder');
    const ticket = page.getByRole('form', { name: `Order ticket for ${this.market.symbol}` });
    await ticket.getByLabel(o.side === 'buy' ? 'Buy' : 'Sell', { exact: true }).check();
    await ticket.getByLabel('Type').selectOption('limit');
    await ticket.getByLabel(/^Price/).fill(o.price);
    await ticket.getByLabel(/^Quantity/).fill(o.quantity);
    await ticket.getByRole('button', { name: `${o.side === 'buy' ? 'Buy' : 'Sell'} ${this.market.baseAsset}` }).click();
    if (o.expectConfirm) {
      const dialog = page.getByRole('dialog', { name: 'Confirm order' });
      await dialog.waitFor();
      await this.shot(page, '07-confirm-large-order');
      await dialog.getByRole('button', { name: 'Confirm and send' }).click();
    }
    await page.getByText(new RegExp(`Order sent: ${o.side} ${o.quantity.replace('.', '\\.')} `)).first().waitFor();
  }

  notional(quantity: string): string {
    return formatDecimal(mul(dec(quantity), dec(this.price)));
  }

  /** The trade price moved by `pct` percent, floored to the tick. */
  priceAway(pct: string): string {
    const moved = mul(dec(this.price), add(dec('1'), mul(dec(pct), dec('0.01'))));
    return formatDecimal(floorToStep(moved, dec(this.market.tickSize)));
  }
}


export interface FlowEnv {
  flow: Flow;
  url: string;
  /** A reason to skip every step, or null. */
  skip: string | null;
}

/** Declares the story's steps (in order) inside the caller's describe block. */
export function tradingFlowTests(env: () => FlowEnv): void {
    it('serves the UI at /', async (ctx) => {
      if (env().skip) return ctx.skip(env().skip!);
      const res = await fetch(`${env().url}/`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<div id="root">');
    });

    it('two traders sign up', async (ctx) => {
      if (env().skip) return ctx.skip(env().skip!);
      await env().flow.signUp('a');
      await env().flow.signUp('b');
      expect(env().flow.users.a.userId).toBeGreaterThan(0);
      expect(env().flow.users.b.userId).not.toBe(env().flow.users.a.userId);
    });

    it('the admin deposits through the Admin page; the traders see it in their portfolios', async (ctx) => {
      if (env().skip) return ctx.skip(env().skip!);
      const m = env().flow.market;
      const admin = await env().flow.signInAdmin();
      await env().flow.deposit(admin, env().flow.users.a.userId, m.baseAsset, '2');
      await env().flow.deposit(admin, env().flow.users.b.userId, m.quoteAsset, env().flow.notional('2'));
      await env().flow.shot(admin, '03-admin');

      const a = await env().flow.page('a');
      await env().flow.gotoPortfolio(a);
      await env().flow.waitForBalance(a, m.baseAsset, (av) => cmp(dec(av), dec('2')) === 0);
      const b = await env().flow.page('b');
      await env().flow.gotoPortfolio(b);
      await env().flow.waitForBalance(b, m.quoteAsset, (av) => cmp(dec(av), dec(env().flow.notional('2'))) === 0);
      await env().flow.shot(b, '04-portfolio-after-deposit');
    });

    it('A sells, B buys: both see the fill and their portfolios change', async (ctx) => {
      if (env().skip) return ctx.skip(env().skip!);
      const m = env().flow.market;
      const a = await env().flow.page('a');
      const b = await env().flow.page('b');
      await env().flow.gotoMarket(a);
      await env().flow.placeOrder(a, { side: 'sell', quantity: '0.5', price: env().flow.price });
      // the resting sell shows in A's open orders and on the book B is looking at
      await a.getByTestId('open-orders').getByText('0.5').first().waitFor();
      await env().flow.gotoMarket(b);
      await b.getByTestId('order-book').getByRole('button', { name: new RegExp(`^Use price ${env().flow.price.replace('.', '\\.')}`) }).first().waitFor();
      await env().flow.placeOrder(b, { side: 'buy', quantity: '0.5', price: env().flow.price });

      // both get a fill toast, live
      await b.getByText(new RegExp(`Filled: buy 0\\.5 ${m.baseAsset}`)).first().waitFor();
      await a.getByText(new RegExp(`Filled: sell 0\\.5 ${m.baseAsset}`)).first().waitFor();
      await b.getByTestId('trades-tape').getByText('0.5').first().waitFor();
      await b.getByTestId('fills').waitFor();
      await env().flow.shot(b, '05-market-after-fill');

      await env().flow.gotoPortfolio(a);
      await env().flow.waitForBalance(a, m.baseAsset, (av, res) => cmp(dec(av), dec('1.5')) === 0 && cmp(dec(res), dec('0')) === 0);
      await env().flow.waitForBalance(a, m.quoteAsset, (av) => cmp(dec(av), dec('0')) > 0);
      await env().flow.gotoPortfolio(b);
      await env().flow.waitForBalance(b, m.baseAsset, (av) => cmp(dec(av), dec('0.5')) === 0);
      await env().flow.waitForBalance(b, m.quoteAsset, (av) => cmp(dec(av), sub(dec(env().flow.notional('2')), dec(env().flow.notional('0.5')))) <= 0);
      await b.getByTestId('positions').waitFor();
      await env().flow.shot(b, '06-portfolio-after-fill');
    });

    it('amend and cancel an open order from My orders', async (ctx) => {
      if (env().skip) return ctx.skip(env().skip!);
      const a = await env().flow.page('a');
      const p1 = env().flow.priceAway('2');
      const p2 = env().flow.priceAway('3');
      await env().flow.gotoMarket(a);
      await env().flow.placeOrder(a, { side: 'sell', quantity: '0.2', price: p1 });

      await a.getByRole('link', { name: 'My orders' }).click();
      const open = a.getByTestId('open-orders');
      const amend = open.getByRole('button', { name: new RegExp(`^Amend order sell 0\\.2 .*@ ${p1.replace('.', '\\.')}`) });
      await amend.waitFor();
      await expect.poll(() => amend.isEnabled(), { timeout: 20_000 }).toBe(true);
      await amend.click();
      const dialog = a.getByRole('dialog');
      await dialog.getByLabel(/New price/).fill(p2);
      await dialog.getByLabel(/New quantity/).fill('0.3');
      await dialog.getByRole('button', { name: 'Amend order' }).click();
      const amended = open.getByRole('button', { name: new RegExp(`^Cancel order sell 0\\.3 .*@ ${p2.replace('.', '\\.')}`) });
      await amended.waitFor();
      await env().flow.shot(a, '08-orders-after-amend');

      await amended.click();
      await amended.waitFor({ state: 'detached' });
      await a.getByRole('tab', { name: 'History' }).click();
      await a.getByTestId('order-history').locator('tr[data-status="cancelled"]').first().waitFor();
      await env().flow.shot(a, '09-order-history');
    });

    it('a too-large order is rejected and the reason shows in words', async (ctx) => {
      if (env().skip) return ctx.skip(env().skip!);
      const b = await env().flow.page('b');
      await env().flow.gotoMarket(b);
      await env().flow.placeOrder(b, { side: 'buy', quantity: '90', price: env().flow.price, expectConfirm: true });
      const reasons = ['max_order_notional', 'max_order_quantity', 'insufficient_funds'].map(rejectReasonText);
      const toast = b.getByTestId('toast').filter({ hasText: 'Order rejected' }).first();
      await toast.waitFor();
      const toastText = await toast.innerText();
      expect(reasons.some((r) => toastText.includes(r)), toastText).toBe(true);
      await b.getByRole('link', { name: 'My orders' }).click();
      await b.getByRole('tab', { name: 'History' }).click();
      const reason = b.getByTestId('order-history').getByTestId('reject-reason').first();
      await reason.waitFor();
      expect(reasons).toContain(await reason.innerText());
      await env().flow.shot(b, '10-rejected-order');
    });

    it('a kill switch engaged on the Admin page rejects orders with a banner, and releases', async (ctx) => {
      if (env().skip) return ctx.skip(env().skip!);
      const flow = env().flow;
      const admin = await flow.page('admin');
      const ks = admin.getByRole('form', { name: 'Kill switch' });
      await ks.getByLabel('Scope').selectOption('global');
      await ks.getByLabel('Reason').fill('e2e drill');
      await ks.getByRole('button', { name: 'Engage' }).click();
      await admin.getByText('Kill switch engaged').first().waitFor();

      const a = await flow.page('a');
      await flow.gotoMarket(a);
      await flow.placeOrder(a, { side: 'sell', quantity: '0.1', price: flow.price });
      const toast = a.getByTestId('toast').filter({ hasText: 'Order rejected' }).first();
      await toast.waitFor();
      expect(await toast.innerText()).toContain(rejectReasonText('kill_switch'));
      await a.getByTestId('kill-switch-banner').waitFor();
      await flow.shot(a, '10b-kill-switch');

      await ks.getByRole('button', { name: 'Release' }).click();
      await admin.getByText('Kill switch released').first().waitFor();
    });

    it('fits a phone screen and logged no console errors', async (ctx) => {
      if (env().skip) return ctx.skip(env().skip!);
      const a = await env().flow.page('a');
      await a.setViewportSize({ width: 390, height: 844 });
      await env().flow.gotoMarketFromMenu(a);
      const overflow = await a.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      await env().flow.shot(a, '11-phone-market');
      expect(env().flow.consoleErrors).toEqual([]);
    });
}

