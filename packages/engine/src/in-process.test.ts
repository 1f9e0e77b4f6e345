import {
  accountDecider,
  createMarketDecider,
  createOrderBook,
  orderDecider,
  parseEvent,
  type AccountDecider,
  type AccountState,
  type EventData,
  type MarketDecider,
} from '@tradecore/core-domain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '@tradecore/event-store';
import { startInProcessEngine } from './in-process.ts';
import { engineMetrics } from './observability.ts';
import {
  USER_A,
  USER_B,
  allEvents,
  appendOrder,
  countTypes,
  createTestStore,
  newEvent,
  orderPlaced,
  quietLogger,
  seedMarketAndDeposits,
  waitFor,
  waitForCount,
  waitForQuiet,
  type TestStore,
} from './test-support.ts';

const clock = { now: () => new Date('2025-01-02T00:00:00.000Z') };

async function accountState(ts: TestStore, userId: number): Promise<AccountState> {
  let s = accountDecider.initialState();
  for (const e of await ts.store.readStream(`account-${userId}`)) s = accountDecider.evolve(s, parseEvent(e.type, 1, e.data), e.metadata);
  return s;
}

/** Every event of the log that names `orderId`, in log order. */
async function eventsOfOrder(ts: TestStore, orderId: string): Promise<RecordedEvent[]> {
  return (await allEvents(ts.store)).filter((e) => (e.data as { orderId?: string }).orderId === orderId);
}

/** The single-node dead letters, oldest first. */
async function deadLetterRows(ts: TestStore): Promise<{ handler: string; reason: string; event_id: string; event_type: string }[]> {
  return (await ts.pool.query<{ handler: string; reason: string; event_id: string; event_type: string }>('select handler, reason, event_id, event_type from engine_dead_letters order by id')).rows;
}

/**
 * After a defect was answered: a fresh engine (its checkpoint from the start, so every input is
 * redelivered, the defect fixed) replays the log, then A sells 1 at 99 into B's bid `bidOrderId`,
 * which must trade. The event counts before and after, to show no old input was decided again.
 */
async function freshEngineSellsInto(ts: TestStore, bidOrderId: string, checkpointName: string): Promise<{ counts: Record<string, number>; final: Record<string, number> }> {
  const counts = countTypes(await waitForQuiet(ts.store, 1_000));
  const again = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, logger: quietLogger, checkpointName });
  await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '99', quantity: '1' });
  const after = await waitForCount(ts.store, 'FillSettled', 2);
  await waitForQuiet(ts.store, 1_000);
  await again.stop();
  expect(after.find((e) => e.type === 'TradeExecuted')?.data).toMatchObject({ makerOrderId: bidOrderId, price: '99', quantity: '1' });
  return { counts, final: countTypes(await allEvents(ts.store)) };
}

describe('single-node mode: the walking skeleton through the in-process subscription host', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('inproc');
    await seedMarketAndDeposits(ts.store);
  });
  afterAll(async () => ts?.close());

  it('OrderPlaced → risk accepts → execution matches → FillSettled on both accounts; a replay decides nothing', async () => {
    const metrics = engineMetrics();
    const engine = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, logger: quietLogger, metrics });
    const sell = await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '100', quantity: '2' });
    await waitForCount(ts.store, 'OrderRested', 1);
    const buy = await appendOrder(ts.store, { userId: USER_B, marketId: 1, side: 'buy', price: '101', quantity: '2' });
    const events = await waitForCount(ts.store, 'FillSettled', 2);
    const trade = events.find((e) => e.type === 'TradeExecuted')!;
    expect(trade.stream).toBe('market-1');
    expect(trade.data).toMatchObject({ takerOrderId: buy, makerOrderId: sell, takerUserId: USER_B, makerUserId: USER_A, price: '100', quantity: '2' });
    const fills = events.filter((e) => e.type === 'FillSettled');
    expect(fills.map((f) => f.stream).sort()).toEqual([`account-${USER_A}`, `account-${USER_B}`]);
    for (const f of fills) expect(f.metadata).toMatchObject({ causationId: trade.eventId, inputPosition: trade.globalPosition.toString() });

    const a = await accountState(ts, USER_A);
    const b = await accountState(ts, USER_B);
    expect(a.openOrders.size).toBe(0);
    expect(b.openOrders.size).toBe(0);
    // A sold 2 M1 at 100 and paid the maker fee (10 bps of 200 = 0.2); B bought 2 M1 for 200 + 0.4 taker fee.
    expect(a.balances.get('M1')?.available).toBe(9_998n * 10n ** 12n);
    expect(a.balances.get('USD')?.available).toBe(1_000_199_800_000_000_000n);
    expect(b.balances.get('M1')?.available).toBe(10_002n * 10n ** 12n);
    expect(b.balances.get('USD')?.available).toBe(999_799_600_000_000_000n);
    expect(b.balances.get('USD')?.reserved).toBe(0n);
    await engine.stop();
    // The hop latency histograms saw every input of both handlers (operators' per-hop p99).
    const exposition = await metrics.registry.metrics();
    const count = (name: string, handler: string) => Number(new RegExp(`^${name}_count\\{handler="${handler}"\\} (\\d+)$`, 'm').exec(exposition)?.[1] ?? 0);
    expect(count('tradecore_engine_input_age_seconds', 'risk')).toBeGreaterThanOrEqual(3); // two orders and the trade
    expect(count('tradecore_engine_input_age_seconds', 'execution')).toBeGreaterThanOrEqual(2); // two acceptances
    expect(count('tradecore_engine_batch_seconds', 'risk')).toBeGreaterThanOrEqual(1);
    expect(count('tradecore_engine_batch_seconds', 'execution')).toBeGreaterThanOrEqual(1);

    const before = countTypes(await waitForQuiet(ts.store, 1_000));
    const replay = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, logger: quietLogger, metrics, checkpointName: 'replay' });
    const head = await ts.store.headPosition();
    await waitFor('replay at head', async () => replay.checkpoint() >= head);
    await replay.stop();
    expect(countTypes(await allEvents(ts.store))).toEqual(before);
    expect(await ts.store.headPosition()).toBe(head);
  });

  it('a cancel recorded before risk accepted the order still takes it off the book and frees the reservation', async () => {
    // The request is in the log before the acceptance (the trader cancelled at once): the book must
    // act on risk's OrderCancelAccepted, recorded after OrderAccepted, never on the request itself.
    const placed = orderPlaced({ userId: USER_B, marketId: 1, side: 'buy', price: '90', quantity: '1' });
    const cancel = newEvent('OrderCancelRequested', { orderId: placed.orderId, userId: USER_B, marketId: 1, requestId: placed.orderId.replace(/^.{8}/, 'cccccccc'), requestedAt: '2025-01-01T00:00:00.000Z' }, USER_B);
    await ts.store.appendToStream(placed.stream, [placed.event, cancel], { expectedRevision: 'no_stream' });

    const engine = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, logger: quietLogger, checkpointName: 'early-cancel' });
    const ofOrder = async () => (await allEvents(ts.store)).filter((e) => (e.data as { orderId?: string }).orderId === placed.orderId).map((e) => e.type);
    await waitFor('the reservation released', async () => (await ofOrder()).includes('ReservationReleased'));
    await engine.stop();
    const mine = await ofOrder();
    expect(mine).toEqual(['OrderPlaced', 'OrderCancelRequested', 'OrderAccepted', 'OrderCancelAccepted', 'OrderEntered', 'OrderRested', 'OrderCancelled', 'ReservationReleased']);
    const b = await accountState(ts, USER_B);
    expect(b.openOrders.has(placed.orderId)).toBe(false);
    expect(b.balances.get('USD')?.reserved).toBe(0n);
  });
});

describe('single-node mode: an amend the book refuses', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('inproc_amend');
    await seedMarketAndDeposits(ts.store);
  });
  afterAll(async () => ts?.close());

  it('a post-only amend that would take is refused by the book, and the reservation returns to its pre-amend figure', async () => {
    const engine = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, logger: quietLogger, checkpointName: 'amend' });
    await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '101', quantity: '1' });
    await waitForCount(ts.store, 'OrderRested', 1);
    // B's post-only bid rests at 100 (1 × (100 + the 20 bps taker fee) = 100.2 USD reserved)
    const placed = orderPlaced({ userId: USER_B, marketId: 1, side: 'buy', price: '100', quantity: '1' });
    const postOnly = { ...placed.event, data: { ...(placed.event.data as EventData<'OrderPlaced'>), postOnly: true } };
    await ts.store.appendToStream(placed.stream, [postOnly], { expectedRevision: 'no_stream' });
    await waitForCount(ts.store, 'OrderRested', 2);
    const before = await accountState(ts, USER_B);
    const reserved = 100_200_000_000_000n;
    expect(before.balances.get('USD')).toEqual({ available: 1_000_000n * 10n ** 12n - reserved, reserved });

    // B amends to 101, where A's ask is: risk accepts (and reserves for 101 too), the book refuses.
    const amend = newEvent('OrderAmendRequested', { orderId: placed.orderId, userId: USER_B, marketId: 1, requestId: placed.orderId.replace(/^.{8}/, 'aaaaaaaa'), newPrice: '101', newQuantity: null, requestedAt: '2025-01-01T00:10:00.000Z' }, USER_B);
    await ts.store.appendToStream(placed.stream, [amend], { expectedRevision: 0n });
    const ofOrder = () => eventsOfOrder(ts, placed.orderId);
    await waitFor('the amend answered', async () => (await ofOrder()).some((e) => e.type === 'ReservationReleased'));
    await engine.stop();

    const events = await ofOrder();
    expect(events.map((e) => e.type)).toEqual(['OrderPlaced', 'OrderAccepted', 'OrderEntered', 'OrderRested', 'OrderAmendRequested', 'OrderAmendAccepted', 'OrderAmendRejectedByEngine', 'ReservationReleased']);
    const [accepted, refused, released] = events.slice(5);
    expect(accepted?.data).toMatchObject({ newPrice: '101', newQuantity: '1', reservationDelta: '1.002', reservedAsset: 'USD' });
    expect(refused).toMatchObject({ stream: 'market-1', data: { reason: 'post_only_would_take', newPrice: '101', price: '100', quantity: '1', remainingQuantity: '1' } });
    expect(refused?.metadata).toMatchObject({ causationId: accepted?.eventId, inputPosition: accepted?.globalPosition.toString() });
    expect(released).toMatchObject({ stream: `account-${USER_B}`, data: { amount: '1.002', asset: 'USD', cause: 'amend_rejected', requestId: (amend.data as { requestId: string }).requestId } });
    expect(released?.metadata).toMatchObject({ causationId: refused?.eventId, inputPosition: refused?.globalPosition.toString() });
    const after = await accountState(ts, USER_B);
    expect(after.balances.get('USD')).toEqual(before.balances.get('USD'));
    expect(after.openOrders.get(placed.orderId)).toEqual(before.openOrders.get(placed.orderId));
    expect(after.openOrders.get(placed.orderId)?.pendingAmends).toEqual([]);

    // A fresh engine rebuilds market-1 (the refusal re-decided on replay) and goes on: a new order rests.
    const counts = countTypes(await allEvents(ts.store));
    const again = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, logger: quietLogger, checkpointName: 'amend-replay' });
    await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '102', quantity: '1' });
    await waitForCount(ts.store, 'OrderRested', 3);
    await waitForQuiet(ts.store, 1_000);
    await again.stop();
    expect(countTypes(await allEvents(ts.store))).toEqual({ ...counts, OrderPlaced: (counts.OrderPlaced ?? 0) + 1, OrderAccepted: (counts.OrderAccepted ?? 0) + 1, OrderEntered: (counts.OrderEntered ?? 0) + 1, OrderRested: 3 });
  });
});

describe('single-node mode: an order and an amend the market decider cannot decide', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('inproc_engine_error');
    await seedMarketAndDeposits(ts.store);
  });
  afterAll(async () => ts?.close());

  it('dead-letters each, answers it on the market stream (engine_error), and the reservation returns to its figure from before', async () => {
    // The real decider, except that it throws on the orders and amend requests named in `poisoned`.
    const poisoned = new Set<string>();
    const real = createMarketDecider({ createBook: () => createOrderBook('fast') });
    const marketDecider: MarketDecider = {
      ...real,
      decide(command, state) {
        if ((command.kind === 'AcceptedOrder' && poisoned.has(command.order.orderId)) || (command.kind === 'AmendAccepted' && poisoned.has(command.amend.requestId)))
          throw new Error('simulated decider defect');
        return real.decide(command, state);
      },
    };
    const engine = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, logger: quietLogger, checkpointName: 'engine-error', marketDecider, tuning: { poisonAttempts: 2 } });
    const ofOrder = (orderId: string) => eventsOfOrder(ts, orderId);
    const deadLetters = () => deadLetterRows(ts);

    // A's ask at 101 rests: B's buy at 101 would trade against it, had it reached the book.
    await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '101', quantity: '1' });
    await waitForCount(ts.store, 'OrderRested', 1);
    const beforeOrder = await accountState(ts, USER_B);
    const buy = orderPlaced({ userId: USER_B, marketId: 1, side: 'buy', price: '101', quantity: '1' });
    poisoned.add(buy.orderId);
    await ts.store.appendToStream(buy.stream, [buy.event], { expectedRevision: 'no_stream' });
    await waitFor('the order answered', async () => (await ofOrder(buy.orderId)).some((e) => e.type === 'ReservationReleased'));

    const events = await ofOrder(buy.orderId);
    expect(events.map((e) => e.type)).toEqual(['OrderPlaced', 'OrderAccepted', 'OrderRejectedByEngine', 'ReservationReleased']);
    const [, accepted, rejected, released] = events;
    // 1 × (101 + the 20 bps taker fee) = 101.202 USD was reserved, and all of it comes back
    expect(accepted?.data).toMatchObject({ reservedAsset: 'USD', reservedAmount: '101.202' });
    expect(rejected).toMatchObject({ stream: 'market-1', data: { userId: USER_B, marketId: 1, reason: 'engine_error', rejectedQuantity: '1' } });
    expect(rejected?.metadata).toMatchObject({ causationId: accepted?.eventId, inputPosition: accepted?.globalPosition.toString() });
    expect(released).toMatchObject({ stream: `account-${USER_B}`, data: { asset: 'USD', amount: '101.202', cause: 'rejected' } });
    expect(released?.metadata).toMatchObject({ causationId: rejected?.eventId });
    const afterOrder = await accountState(ts, USER_B);
    expect(afterOrder.balances.get('USD')).toEqual(beforeOrder.balances.get('USD'));
    expect(afterOrder.balances.get('USD')?.reserved).toBe(0n);
    expect(afterOrder.openOrders.has(buy.orderId)).toBe(false);
    expect(await deadLetters()).toEqual([{ handler: 'execution', reason: 'decider', event_id: accepted?.eventId, event_type: 'OrderAccepted' }]);

    // An amend: B's bid at 99 rests; B asks for 100 (risk reserves 1.002 more), which the decider throws on.
    const bid = orderPlaced({ userId: USER_B, marketId: 1, side: 'buy', price: '99', quantity: '1' });
    await ts.store.appendToStream(bid.stream, [bid.event], { expectedRevision: 'no_stream' });
    await waitForCount(ts.store, 'OrderRested', 2);
    const beforeAmend = await accountState(ts, USER_B);
    expect(beforeAmend.balances.get('USD')?.reserved).toBe(99_198_000_000_000n);
    const requestId = bid.orderId.replace(/^.{8}/, 'aaaaaaaa');
    poisoned.add(requestId);
    const amend = newEvent('OrderAmendRequested', { orderId: bid.orderId, userId: USER_B, marketId: 1, requestId, newPrice: '100', newQuantity: null, requestedAt: '2025-01-01T00:10:00.000Z' }, USER_B);
    await ts.store.appendToStream(bid.stream, [amend], { expectedRevision: 0n });
    await waitFor('the amend answered', async () => (await ofOrder(bid.orderId)).some((e) => e.type === 'ReservationReleased'));
    const amendEvents = (await ofOrder(bid.orderId)).slice(4);
    expect(amendEvents.map((e) => e.type)).toEqual(['OrderAmendRequested', 'OrderAmendAccepted', 'OrderAmendRejectedByEngine', 'ReservationReleased']);
    const [, amendAccepted, refused, amendReleased] = amendEvents;
    expect(amendAccepted?.data).toMatchObject({ reservationDelta: '1.002' });
    expect(refused).toMatchObject({ stream: 'market-1', data: { requestId, newPrice: '100', newQuantity: '1', reason: 'engine_error', price: '99', quantity: '1', remainingQuantity: '1' } });
    expect(amendReleased).toMatchObject({ data: { amount: '1.002', cause: 'amend_rejected', requestId } });
    const afterAmend = await accountState(ts, USER_B);
    expect(afterAmend.balances.get('USD')).toEqual(beforeAmend.balances.get('USD'));
    expect(afterAmend.openOrders.get(bid.orderId)).toEqual(beforeAmend.openOrders.get(bid.orderId));
    expect((await deadLetters()).map((l) => l.event_type)).toEqual(['OrderAccepted', 'OrderAmendAccepted']);
    await engine.stop();

    // A fresh engine (its checkpoint from the start: every input redelivered, the defect fixed)
    // rebuilds market-1 through both answers, decides none of the old inputs again, and goes on:
    // A's sell at 99 trades with B's bid, which still rests at its old terms.
    const { counts, final } = await freshEngineSellsInto(ts, bid.orderId, 'engine-error-replay');
    expect(final.OrderRejectedByEngine).toBe(counts.OrderRejectedByEngine);
    expect(final.OrderAmendRejectedByEngine).toBe(counts.OrderAmendRejectedByEngine);
    expect(await deadLetters()).toHaveLength(2);
    expect((await accountState(ts, USER_B)).balances.get('USD')?.reserved).toBe(0n);
  });
});

describe('single-node mode: an order and a cancel the account decider cannot decide', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('inproc_risk_engine_error');
    await seedMarketAndDeposits(ts.store);
  });
  afterAll(async () => ts?.close());

  it('dead-letters each and refuses it on the account stream (engine_error): the order ends rejected, nothing reserved, the balances as they were', async () => {
    // core-domain's account decider, except that it throws on the orders and requests named in `poisoned`.
    const poisoned = new Set<string>();
    const failing: AccountDecider = {
      ...accountDecider,
      decide(command, state) {
        if ((command.kind === 'PlaceOrder' && poisoned.has(command.order.orderId)) || (command.kind === 'CancelOrder' && poisoned.has(command.request.requestId)))
          throw new Error('simulated account decider defect');
        return accountDecider.decide(command, state);
      },
    };
    const engine = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, logger: quietLogger, checkpointName: 'risk-engine-error', accountDecider: failing, tuning: { poisonAttempts: 2 } });
    const ofOrder = (orderId: string) => eventsOfOrder(ts, orderId);
    const deadLetters = () => deadLetterRows(ts);

    // A's ask at 101 rests: B's buy at 101 would trade against it, had risk accepted it.
    await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '101', quantity: '1' });
    await waitForCount(ts.store, 'OrderRested', 1);
    const beforeOrder = await accountState(ts, USER_B);
    const buy = orderPlaced({ userId: USER_B, marketId: 1, side: 'buy', price: '101', quantity: '1' });
    poisoned.add(buy.orderId);
    await ts.store.appendToStream(buy.stream, [buy.event], { expectedRevision: 'no_stream' });
    await waitFor('the order answered', async () => (await ofOrder(buy.orderId)).some((e) => e.type === 'OrderRejected'));
    await waitForQuiet(ts.store, 500);

    const events = await ofOrder(buy.orderId);
    expect(events.map((e) => e.type)).toEqual(['OrderPlaced', 'OrderRejected']);
    const [placed, rejected] = events;
    expect(rejected).toMatchObject({ stream: `account-${USER_B}`, data: { userId: USER_B, marketId: 1, reason: 'engine_error', rule: 'engine.error', limit: null, observed: null } });
    expect(rejected?.metadata).toMatchObject({ causationId: placed?.eventId, inputPosition: placed?.globalPosition.toString() });
    // the order's own story: rejected, engine_error (what command-api and the read models fold)
    let order = orderDecider.initialState();
    for (const e of events) order = orderDecider.evolve(order, parseEvent(e.type, 1, e.data));
    expect(order).toMatchObject({ status: 'rejected', rejectReason: 'engine_error', remainingQuantity: '0' });
    const afterOrder = await accountState(ts, USER_B);
    expect(afterOrder.balances).toEqual(beforeOrder.balances);
    expect(afterOrder.balances.get('USD')?.reserved).toBe(0n);
    expect(afterOrder.openOrders.has(buy.orderId)).toBe(false);
    // nothing reached the market: A's ask still rests untouched
    expect((await allEvents(ts.store)).filter((e) => e.stream === 'market-1').map((e) => e.type)).toEqual(['OrderEntered', 'OrderRested']);
    expect(await deadLetters()).toEqual([{ handler: 'risk', reason: 'decider', event_id: placed?.eventId, event_type: 'OrderPlaced' }]);

    // A cancel: B's bid at 99 rests; B's cancel of it is what the decider throws on.
    const bid = orderPlaced({ userId: USER_B, marketId: 1, side: 'buy', price: '99', quantity: '1' });
    await ts.store.appendToStream(bid.stream, [bid.event], { expectedRevision: 'no_stream' });
    await waitForCount(ts.store, 'OrderRested', 2);
    const beforeCancel = await accountState(ts, USER_B);
    const requestId = bid.orderId.replace(/^.{8}/, 'cccccccc');
    poisoned.add(requestId);
    const cancel = newEvent('OrderCancelRequested', { orderId: bid.orderId, userId: USER_B, marketId: 1, requestId, requestedAt: '2025-01-01T00:10:00.000Z' }, USER_B);
    await ts.store.appendToStream(bid.stream, [cancel], { expectedRevision: 0n });
    await waitFor('the cancel answered', async () => (await ofOrder(bid.orderId)).some((e) => e.type === 'OrderCancelRejected'));
    await waitForQuiet(ts.store, 500);
    expect((await ofOrder(bid.orderId)).map((e) => e.type)).toEqual(['OrderPlaced', 'OrderAccepted', 'OrderEntered', 'OrderRested', 'OrderCancelRequested', 'OrderCancelRejected']);
    expect((await ofOrder(bid.orderId)).at(-1)).toMatchObject({ stream: `account-${USER_B}`, data: { requestId, reason: 'engine_error' } });
    const afterCancel = await accountState(ts, USER_B);
    expect(afterCancel.balances).toEqual(beforeCancel.balances);
    expect(afterCancel.openOrders.get(bid.orderId)).toEqual(beforeCancel.openOrders.get(bid.orderId));
    expect((await deadLetters()).map((l) => l.event_type)).toEqual(['OrderPlaced', 'OrderCancelRequested']);
    await engine.stop();

    // A fresh engine (its checkpoint from the start: every input redelivered, the defect fixed)
    // decides none of the answered inputs again, and goes on: A's sell at 99 trades with B's bid,
    // which is still open in the book and in the account.
    const { counts, final } = await freshEngineSellsInto(ts, bid.orderId, 'risk-engine-error-replay');
    expect(final.OrderRejected).toBe(counts.OrderRejected);
    expect(final.OrderCancelRejected).toBe(counts.OrderCancelRejected);
    expect(final.OrderCancelAccepted).toBeUndefined();
    expect(await deadLetters()).toHaveLength(2);
    expect((await accountState(ts, USER_B)).balances.get('USD')?.reserved).toBe(0n);
  });
});
