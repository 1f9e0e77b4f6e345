/**
 * The read models of an amend the book refused: the order keeps its terms and its place in the L2
 * book, and the balance moves only with the account's events (up with OrderAmendAccepted, back
 * down with the ReservationReleased that answers the refusal). And of an order the execution
 * handler could not decide: rejected with reason engine_error, its reservation released; and of one
 * the risk handler could not decide: rejected with reason engine_error, nothing ever reserved. And
 * the outcome of an order's latest amend request (pending, applied, rejected by risk or by the book
 * with the reason), which an answer to an older request does not overwrite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  DEFAULT_ACCOUNT_LIMITS,
  accountDecider,
  catalogueEvent,
  evolveAccount,
  evolveControl,
  initialAccountState,
  initialControlState,
  type AccountCommand,
  type TradecoreEvent,
} from '@tradecore/core-domain';
import type { RecordedEvent } from '@tradecore/event-store';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { createProjector, snapshotReadModels } from './index.ts';
import { referenceFold } from '../test/reference-fold.ts';

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase('proj_amend');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

const USER = 7;
const AT = '2030-01-01T00:00:00.000Z';
const recorded = (stream: string, event: TradecoreEvent, position: number): RecordedEvent => ({
  eventId: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`,
  stream,
  type: event.type,
  data: event.data,
  metadata: { correlationId: 'c', causationId: null, userId: USER, occurredAt: AT, schemaVersion: 1 },
  streamRevision: 0n,
  globalPosition: BigInt(position),
  recordedAt: AT,
});

const order = { orderId: 'p1', userId: USER, marketId: 1 };
const request = { ...order, requestId: 'r1' };
const resting: TradecoreEvent[] = [
  catalogueEvent('MarketListed', {
    marketId: 1,
    symbol: 'BTC-USD',
    baseAsset: 'BTC',
    quoteAsset: 'USD',
    tickSize: '0.01',
    lotSize: '0.001',
    referencePrice: '100',
    makerFeeBps: 10,
    takerFeeBps: 20,
    maxOrderQuantity: '100',
    maxOrderNotional: '1000000',
    priceBandBps: 1000,
    listedBy: 1,
  }),
  catalogueEvent('FundsDeposited', { depositId: 'd1', userId: USER, asset: 'USD', amount: '10000', depositedBy: 1 }),
  catalogueEvent('OrderPlaced', { ...order, side: 'buy', type: 'limit', timeInForce: 'GTC', price: '100', quantity: '1', postOnly: true, selfTradePrevention: 'cancel_newest', clientOrderId: null, requestHash: 'h', placedAt: AT }),
  catalogueEvent('OrderAccepted', { ...order, side: 'buy', type: 'limit', timeInForce: 'GTC', price: '100', protectionPrice: null, quantity: '1', postOnly: true, selfTradePrevention: 'cancel_newest', reservedAsset: 'USD', reservedAmount: '100.2', checks: [] }),
  catalogueEvent('OrderEntered', { ...order, side: 'buy', type: 'limit', timeInForce: 'GTC', price: '100', protectionPrice: null, quantity: '1', postOnly: true, selfTradePrevention: 'cancel_newest' }),
  catalogueEvent('OrderRested', { ...order, side: 'buy', price: '100', remainingQuantity: '1' }),
];
// the trader asks for 101, which would take against an ask at 101: risk reserves for both terms
const amendAccepted: TradecoreEvent[] = [
  catalogueEvent('OrderAmendRequested', { ...request, newPrice: '101', newQuantity: null, requestedAt: AT }),
  catalogueEvent('OrderAmendAccepted', { ...request, newPrice: '101', newQuantity: '1', reservationDelta: '1.002', reservedAsset: 'USD' }),
];
// the book refuses it, and risk gives back what the amend added
const amendRefused: TradecoreEvent[] = [
  catalogueEvent('OrderAmendRejectedByEngine', { ...request, newPrice: '101', newQuantity: '1', reason: 'post_only_would_take', price: '100', quantity: '1', remainingQuantity: '1' }),
  catalogueEvent('ReservationReleased', { ...order, asset: 'USD', amount: '1.002', cause: 'amend_rejected', requestId: 'r1' }),
];

function streamOf(e: TradecoreEvent): string {
  switch (e.type) {
    case 'MarketListed':
      return 'markets';
    case 'OrderPlaced':
    case 'OrderAmendRequested':
      return 'order-p1';
    case 'OrderEntered':
    case 'OrderRested':
    case 'OrderAmendRejectedByEngine':
    case 'OrderRejectedByEngine':
      return 'market-1';
    default:
      return `account-${USER}`;
  }
}

describe('an amend the book refused', () => {
  it('leaves the order on its terms and returns the balance to its pre-amend figures', async () => {
    const events = [...resting, ...amendAccepted, ...amendRefused].map((e, i) => recorded(streamOf(e), e, i + 1));
    const projector = createProjector({ pool, schema: 'amend_refused', notify: false });
    await projector.migrate();
    const orderRow = async () =>
      (
        await pool.query<Record<string, string | null>>(
          `select trim_scale(price)::text as price, trim_scale(quantity)::text as quantity, status, reject_reason, trim_scale(book_price)::text as book_price, trim_scale(book_quantity)::text as book_quantity
             from amend_refused.orders where order_id = 'p1'`,
        )
      ).rows[0];
    const usd = async () =>
      (await pool.query<{ available: string; reserved: string }>(`select trim_scale(available)::text as available, trim_scale(reserved)::text as reserved from amend_refused.balances where user_id = $1 and asset = 'USD'`, [USER])).rows[0];
    const levels = async () => (await pool.query<{ price: string; quantity: string; order_count: number }>(`select trim_scale(price)::text as price, trim_scale(quantity)::text as quantity, order_count from amend_refused.book_levels`)).rows;

    await projector.apply(events.slice(0, resting.length));
    const restingOrder = { price: '100', quantity: '1', status: 'open', reject_reason: null, book_price: '100', book_quantity: '1' };
    expect(await orderRow()).toEqual(restingOrder);
    expect(await usd()).toEqual({ available: '9899.8', reserved: '100.2' });

    await projector.apply(events.slice(resting.length, resting.length + amendAccepted.length));
    expect(await usd()).toEqual({ available: '9898.798', reserved: '101.202' });

    const result = await projector.apply(events.slice(resting.length + amendAccepted.length));
    expect(result.errors).toBe(0);
    // the order as it rested before the amend, not rejected (the order was never refused, its amend was)
    expect(await orderRow()).toEqual(restingOrder);
    expect(await levels()).toEqual([{ price: '100', quantity: '1', order_count: 1 }]);
    expect(await usd()).toEqual({ available: '9899.8', reserved: '100.2' });
    expect(await projector.position()).toBe(BigInt(events.length));

    // and the independent oracle folds the same history to the same rows
    const snap = await snapshotReadModels(pool, 'amend_refused');
    const ref = referenceFold(events).tables;
    for (const table of ['orders', 'balances', 'book_levels']) expect(snap[table], table).toEqual(ref[table]);
  });
});

describe('an order the execution handler could not decide', () => {
  it('shows the order rejected with reason engine_error and the balance back to its pre-order figures', async () => {
    const [listed, deposited, placed, accepted] = resting;
    // No OrderEntered: the order never reached the book. Risk releases all it had reserved.
    const answered: TradecoreEvent[] = [
      catalogueEvent('OrderRejectedByEngine', { ...order, reason: 'engine_error', rejectedQuantity: '1' }),
      catalogueEvent('ReservationReleased', { ...order, asset: 'USD', amount: '100.2', cause: 'rejected' }),
    ];
    const events = [listed!, deposited!, placed!, accepted!, ...answered].map((e, i) => recorded(streamOf(e), e, i + 1));
    const projector = createProjector({ pool, schema: 'engine_error', notify: false });
    await projector.migrate();
    const orderRow = async () =>
      (
        await pool.query<Record<string, string | null>>(
          `select status, reject_reason, trim_scale(filled_quantity)::text as filled_quantity, book_price, book_quantity from engine_error.orders where order_id = 'p1'`,
        )
      ).rows[0];
    const usd = async () =>
      (await pool.query<{ available: string; reserved: string }>(`select trim_scale(available)::text as available, trim_scale(reserved)::text as reserved from engine_error.balances where user_id = $1 and asset = 'USD'`, [USER])).rows[0];

    await projector.apply(events.slice(0, 4));
    expect(await orderRow()).toMatchObject({ status: 'open', reject_reason: null });
    expect(await usd()).toEqual({ available: '9899.8', reserved: '100.2' });

    const result = await projector.apply(events.slice(4));
    expect(result.errors).toBe(0);
    expect(await orderRow()).toEqual({ status: 'rejected', reject_reason: 'engine_error', filled_quantity: '0', book_price: null, book_quantity: '0' });
    expect(await usd()).toEqual({ available: '10000', reserved: '0' });
    expect((await pool.query('select 1 from engine_error.book_levels')).rows).toEqual([]);
    expect((await pool.query('select 1 from engine_error.projection_errors')).rows).toEqual([]);
    expect(await projector.position()).toBe(BigInt(events.length));

    const snap = await snapshotReadModels(pool, 'engine_error');
    const ref = referenceFold(events).tables;
    for (const table of ['orders', 'balances', 'book_levels']) expect(snap[table], table).toEqual(ref[table]);
  });
});

describe('an order the risk handler could not decide', () => {
  it('shows the order rejected with reason engine_error, nothing reserved, the balance untouched', async () => {
    const [listed, deposited, placed] = resting;
    if (listed?.type !== 'MarketListed' || deposited?.type !== 'FundsDeposited' || placed?.type !== 'OrderPlaced') throw new Error('fixture order changed');
    // The account decider's answer to the OrderPlaced it threw on, as the risk handler appends it.
    const account = evolveAccount(initialAccountState(), deposited);
    const command: AccountCommand = { kind: 'PlaceOrder', inputPosition: 3n, inputAt: AT, order: placed.data, control: evolveControl(initialControlState(), listed), lastPrice: null, limits: DEFAULT_ACCOUNT_LIMITS };
    const answer = accountDecider.engineErrorAnswer(command, account);
    expect(answer.map((e) => e.type)).toEqual(['OrderRejected']);
    const events = [listed, deposited, placed, ...answer].map((e, i) => recorded(streamOf(e), e, i + 1));
    const projector = createProjector({ pool, schema: 'risk_engine_error', notify: false });
    await projector.migrate();
    const orderRow = async () =>
      (
        await pool.query<Record<string, string | null>>(
          `select status, reject_reason, reserved_asset, trim_scale(filled_quantity)::text as filled_quantity, book_price, book_quantity from risk_engine_error.orders where order_id = 'p1'`,
        )
      ).rows[0];
    const usd = async () =>
      (await pool.query<{ available: string; reserved: string }>(`select trim_scale(available)::text as available, trim_scale(reserved)::text as reserved from risk_engine_error.balances where user_id = $1 and asset = 'USD'`, [USER])).rows[0];

    await projector.apply(events.slice(0, 3));
    expect(await orderRow()).toMatchObject({ status: 'pending', reject_reason: null });
    const result = await projector.apply(events.slice(3));
    expect(result.errors).toBe(0);
    expect(await orderRow()).toEqual({ status: 'rejected', reject_reason: 'engine_error', reserved_asset: null, filled_quantity: '0', book_price: null, book_quantity: '0' });
    expect(await usd()).toEqual({ available: '10000', reserved: '0' });
    expect((await pool.query('select 1 from risk_engine_error.projection_errors')).rows).toEqual([]);

    const snap = await snapshotReadModels(pool, 'risk_engine_error');
    const ref = referenceFold(events).tables;
    for (const table of ['orders', 'balances', 'book_levels']) expect(snap[table], table).toEqual(ref[table]);
  });
});

describe("the outcome of an order's latest amend request", () => {
  type Amend = { amend_request_id: string | null; amend_status: string | null; amend_reject_reason: string | null; amend_price: string | null; amend_quantity: string | null };
  const none: Amend = { amend_request_id: null, amend_status: null, amend_reject_reason: null, amend_price: null, amend_quantity: null };
  const req = (requestId: string, newPrice: string | null, newQuantity: string | null) =>
    catalogueEvent('OrderAmendRequested', { ...order, requestId, newPrice, newQuantity, requestedAt: AT });
  const accepted = (requestId: string, newPrice: string, newQuantity: string, reservationDelta: string) =>
    catalogueEvent('OrderAmendAccepted', { ...order, requestId, newPrice, newQuantity, reservationDelta, reservedAsset: 'USD' });
  const riskRefused = (requestId: string) =>
    catalogueEvent('OrderAmendRejected', { ...order, requestId, reason: 'insufficient_funds', rule: 'funds', limit: '10000', observed: '10100.2' });
  const amended = (price: string, quantity: string) => catalogueEvent('OrderAmended', { ...order, price, quantity, remainingQuantity: quantity, priorityLost: true });

  /** Applies the steps one batch each and returns the order's amend columns after each batch; checks the oracle at the end. */
  async function amendAfterEach(schema: string, steps: TradecoreEvent[][]): Promise<Amend[]> {
    const all = [...resting, ...steps.flat()].map((e, i) => recorded(streamOf(e), e, i + 1));
    const projector = createProjector({ pool, schema, notify: false });
    await projector.migrate();
    await projector.apply(all.slice(0, resting.length));
    const seen: Amend[] = [];
    let at = resting.length;
    for (const step of steps) {
      const result = await projector.apply(all.slice(at, at + step.length));
      expect(result.errors).toBe(0);
      at += step.length;
      seen.push(
        (
          await pool.query<Amend>(
            `select amend_request_id, amend_status, amend_reject_reason, trim_scale(amend_price)::text as amend_price, trim_scale(amend_quantity)::text as amend_quantity
               from ${schema}.orders where order_id = 'p1'`,
          )
        ).rows[0]!,
      );
    }
    const snap = await snapshotReadModels(pool, schema);
    expect(snap.orders).toEqual(referenceFold(all).tables.orders);
    expect((await pool.query(`select 1 from ${schema}.projection_errors`)).rows).toEqual([]);
    return seen;
  }

  it('is pending once requested, then rejected with the reason risk gave', async () => {
    const seen = await amendAfterEach('amend_risk_refused', [[], [req('r1', null, '200')], [riskRefused('r1')]]);
    expect(seen).toEqual([
      none,
      // a quantity-only request keeps the order's price as the price it asks for
      { amend_request_id: 'r1', amend_status: 'pending', amend_reject_reason: null, amend_price: '100', amend_quantity: '200' },
      { amend_request_id: 'r1', amend_status: 'rejected', amend_reject_reason: 'insufficient_funds', amend_price: '100', amend_quantity: '200' },
    ]);
  });

  it('is rejected with the reason the book gave when the book refuses what risk accepted', async () => {
    const seen = await amendAfterEach('amend_engine_refused', [amendAccepted, amendRefused]);
    expect(seen).toEqual([
      { amend_request_id: 'r1', amend_status: 'pending', amend_reject_reason: null, amend_price: '101', amend_quantity: '1' },
      { amend_request_id: 'r1', amend_status: 'rejected', amend_reject_reason: 'post_only_would_take', amend_price: '101', amend_quantity: '1' },
    ]);
  });

  it('is applied when the book applies the terms it asked for', async () => {
    const seen = await amendAfterEach('amend_applied', [[req('r1', '99', null), accepted('r1', '99', '1', '0')], [amended('99', '1')]]);
    expect(seen).toEqual([
      { amend_request_id: 'r1', amend_status: 'pending', amend_reject_reason: null, amend_price: '99', amend_quantity: '1' },
      { amend_request_id: 'r1', amend_status: 'applied', amend_reject_reason: null, amend_price: '99', amend_quantity: '1' },
    ]);
  });

  it("keeps a newer request pending when an older request's answer arrives", async () => {
    const seen = await amendAfterEach('amend_superseded', [
      [req('r1', '99', null), accepted('r1', '99', '1', '0'), req('r2', '98', null)],
      // the book applies r1, and refuses another older request: neither is the latest
      [amended('99', '1'), riskRefused('r0')],
      [accepted('r2', '98', '1', '0'), amended('98', '1')],
    ]);
    const r2 = { amend_request_id: 'r2', amend_reject_reason: null, amend_price: '98', amend_quantity: '1' };
    expect(seen).toEqual([
      { ...r2, amend_status: 'pending' },
      { ...r2, amend_status: 'pending' },
      { ...r2, amend_status: 'applied' },
    ]);
  });
});
