/**
 * The operator's answer to a market fact the risk handler dead-lettered, end to end (single-node
 * engine, PostgreSQL): the account decider throws on a TradeExecuted, the pipeline dead-letters it
 * on both accounts and goes on deciding later inputs (so a redelivery would skip it), then
 * `tradectl redrive` — the CLI as an operator runs it, a process of its own — settles it with the
 * decider fixed: the accounts end where they would have been, with the handler's derived event ids,
 * exactly once (a second redrive and a redelivery append nothing). A fill or an applied amend that
 * a later fill of the same, still open order overtook is settled late: the account ends as if they
 * came in order; an applied amend a later applied amend overtook has nothing left to apply.
 * The other market facts the same way: an order's close (OrderCancelled, and OrderRejectedByEngine
 * after the market decider threw too) releases the order's reservation once; an applied amend
 * (OrderAmended) releases what the new terms no longer need, a refused one (OrderAmendRejectedByEngine)
 * what the amend had added. The race with another writer of the account stream is provoked in
 * packages/tradectl/src/commands/redrive.test.ts (it needs a seam inside redrive's connection).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  accountDecider,
  createMarketDecider,
  createOrderBook,
  formatAmount,
  parseAmount,
  parseEvent,
  reservedByOrders,
  type AccountDecider,
  type AccountState,
  type EventData,
  type MarketDecider,
} from '@tradecore/core-domain';
import type { RecordedEvent } from '@tradecore/event-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derivedEventId } from './ids.ts';
import { startInProcessEngine } from './in-process.ts';
import {
  USER_A,
  USER_B,
  allEvents,
  appendOrder,
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
const TRADECTL = fileURLToPath(new URL('../../tradectl/bin/tradectl.mjs', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** Runs the tradectl CLI in a process of its own against the test database. */
function tradectl(args: readonly string[], url: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TRADECTL, ...args, '--url', url], { cwd: REPO_ROOT, env: { ...process.env, DATABASE_URL: url }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out, err }));
  });
}

async function accountState(ts: TestStore, userId: number): Promise<AccountState> {
  let s = accountDecider.initialState();
  for (const e of await ts.store.readStream(`account-${userId}`)) s = accountDecider.evolve(s, parseEvent(e.type, 1, e.data), e.metadata);
  return s;
}

/**
 * Events committed in the log. Readers of the whole log stop below the oldest transaction running on
 * the server (another database's too): what the CLI appended may not be visible to them yet.
 */
async function committed(ts: TestStore): Promise<number> {
  return Number((await ts.pool.query<{ n: string }>('select count(*)::text as n from event_store.events')).rows[0]?.n);
}

/** Every event of the log, once all committed ones are visible to readers. */
async function visibleEvents(ts: TestStore): Promise<RecordedEvent[]> {
  let events: RecordedEvent[] = [];
  await waitFor('every committed event visible', async () => (events = await allEvents(ts.store)).length === (await committed(ts)), 60_000, 50);
  return events;
}

async function deadLetterRows(ts: TestStore): Promise<{ handler: string; reason: string; event_id: string; event_type: string }[]> {
  return (await ts.pool.query<{ handler: string; reason: string; event_id: string; event_type: string }>('select handler, reason, event_id, event_type from engine_dead_letters order by id')).rows;
}

/** core-domain's account decider, except that it throws on settling the trades of the taker orders in `poisoned`. */
function failingOnTrades(poisoned: ReadonlySet<string>): AccountDecider {
  return {
    ...accountDecider,
    decide(command, state) {
      if (command.kind === 'SettleTrade' && poisoned.has(command.trade.takerOrderId)) throw new Error('simulated account decider defect (settlement)');
      return accountDecider.decide(command, state);
    },
  };
}

/**
 * The reconciliation: each account's balances (available + reserved per asset, the fold of its
 * stream) equal its deposits plus what its FillSettled events moved, its reserved amounts equal
 * what its open orders hold, and every trade of the log is settled once on each side.
 */
async function reconcile(ts: TestStore, users: readonly number[]): Promise<void> {
  const fills: string[] = [];
  for (const u of users) {
    const expected = new Map<string, bigint>();
    const add = (asset: string, v: bigint) => expected.set(asset, (expected.get(asset) ?? 0n) + v);
    for (const e of await ts.store.readStream(`account-${u}`)) {
      const d = e.data as Record<string, string>;
      if (e.type === 'FundsDeposited') add(d.asset!, parseAmount(d.amount!));
      if (e.type === 'FillSettled') {
        fills.push(`${d.tradeId}|${u}`);
        const qty = parseAmount(d.quantity!);
        const notional = parseAmount(d.notional!);
        const fee = parseAmount(d.fee!);
        add(d.baseAsset!, d.side === 'buy' ? qty : -qty);
        add(d.quoteAsset!, d.side === 'buy' ? -(notional + fee) : notional - fee);
      }
    }
    const state = await accountState(ts, u);
    const totals = new Map([...state.balances].map(([asset, b]) => [asset, b.available + b.reserved]));
    expect(totals).toEqual(expected);
    const held = reservedByOrders(state);
    for (const [asset, b] of state.balances) expect(b.reserved).toBe(held.get(asset) ?? 0n);
  }
  expect(new Set(fills).size).toBe(fills.length);
  const parties = (await visibleEvents(ts))
    .filter((e) => e.type === 'TradeExecuted')
    .flatMap((e) => {
      const d = e.data as { tradeId: string; takerUserId: number; makerUserId: number };
      return [`${d.tradeId}|${d.takerUserId}`, `${d.tradeId}|${d.makerUserId}`];
    })
    .filter((p) => users.some((u) => p.endsWith(`|${u}`)));
  expect(fills.sort()).toEqual(parties.sort());
}

function tradeOf(events: readonly RecordedEvent[], takerOrderId: string): RecordedEvent {
  const t = events.find((e) => e.type === 'TradeExecuted' && (e.data as { takerOrderId: string }).takerOrderId === takerOrderId);
  if (!t) throw new Error(`no trade of taker order ${takerOrderId}`);
  return t;
}

/** An account's available + reserved of `asset`. */
const total = (s: AccountState, asset: string) => (s.balances.get(asset)?.available ?? 0n) + (s.balances.get(asset)?.reserved ?? 0n);

/**
 * A fresh engine from the start of the log (every input redelivered, the decider fixed) while A
 * sells `quantity` at 100 into B's bid: waits for `settled` FillSettled in all, checks the log holds
 * exactly that many (none settled twice), and returns B's account.
 */
async function sellIntoTheBidWithAFreshEngine(ts: TestStore, checkpointName: string, quantity: string, settled: number): Promise<AccountState> {
  const fresh = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, logger: quietLogger, checkpointName });
  await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '100', quantity });
  await waitForCount(ts.store, 'FillSettled', settled);
  await waitForQuiet(ts.store, 1_000);
  await fresh.stop();
  expect((await ts.pool.query("select 1 from event_store.events where type = 'FillSettled'")).rowCount).toBe(settled);
  return accountState(ts, USER_B);
}

interface RedriveJson {
  exitCode: number;
  dryRun: boolean;
  input: { eventId: string; type: string; position: string };
  accounts: { userId: number; stream: string; outcome: string; reason?: string; events: { eventId: string; type: string; data: Record<string, unknown>; metadata: Record<string, unknown> }[] }[];
}

describe('tradectl redrive: a trade the risk handler dead-lettered, settled once the decider is fixed', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('redrive_trade');
    await seedMarketAndDeposits(ts.store);
  });
  afterAll(async () => ts?.close());

  it('settles both sides after later inputs were applied, as they would have been; a second redrive and a redelivery append nothing', async () => {
    const poisoned = new Set<string>();
    const engine = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, logger: quietLogger, checkpointName: 'redrive', accountDecider: failingOnTrades(poisoned), tuning: { poisonAttempts: 2 } });

    // B's bid 3 @ 100 rests; A sells 1 into it: the trade whose settlement throws on both accounts.
    const bidId = await appendOrder(ts.store, { userId: USER_B, marketId: 1, side: 'buy', price: '100', quantity: '3' });
    await waitForCount(ts.store, 'OrderRested', 1);
    const sell = orderPlaced({ userId: USER_A, marketId: 1, side: 'sell', price: '100', quantity: '1' });
    poisoned.add(sell.orderId);
    await ts.store.appendToStream(sell.stream, [sell.event], { expectedRevision: 'no_stream' });
    await waitFor('both settlements dead-lettered', async () => (await deadLetterRows(ts)).length >= 2);
    // Later inputs of both accounts are decided: a redelivery of the trade would now be skipped.
    await appendOrder(ts.store, { userId: USER_B, marketId: 1, side: 'buy', price: '90', quantity: '1' });
    await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '110', quantity: '1' });
    await waitForCount(ts.store, 'OrderRested', 3);
    await waitForQuiet(ts.store, 1_000);
    await engine.stop();

    const before = await visibleEvents(ts);
    const trade = tradeOf(before, sell.orderId);
    expect(trade.data).toMatchObject({ makerOrderId: bidId, price: '100', quantity: '1', makerRemainingQuantity: '2', takerRemainingQuantity: '0' });
    expect((await deadLetterRows(ts)).map((l) => [l.handler, l.reason, l.event_id, l.event_type])).toEqual([
      ['risk', 'decider', trade.eventId, 'TradeExecuted'],
      ['risk', 'decider', trade.eventId, 'TradeExecuted'],
    ]);
    expect(before.filter((e) => e.type === 'FillSettled')).toEqual([]);
    for (const u of [USER_A, USER_B]) expect((await accountState(ts, u)).lastInputPosition).toBeGreaterThan(trade.globalPosition);
    const bidBefore = (await accountState(ts, USER_B)).openOrders.get(bidId);
    expect(bidBefore).toMatchObject({ remaining: '3', filled: '0' });
    const bidAccepted = before.find((e) => e.type === 'OrderAccepted' && (e.data as { orderId: string }).orderId === bidId);
    const bidReserved = parseAmount((bidAccepted?.data as { reservedAmount: string }).reservedAmount);
    expect(bidBefore?.reserved).toBe(bidReserved);

    // --dry-run: what each account would get, nothing appended.
    const dry = await tradectl(['redrive', trade.eventId, '--dry-run', '--format', 'json'], ts.db.url);
    expect(dry.err).toBe('');
    expect(dry.code).toBe(0);
    const dj = JSON.parse(dry.out) as RedriveJson;
    expect(dj).toMatchObject({ dryRun: true, exitCode: 0, input: { eventId: trade.eventId, type: 'TradeExecuted', position: trade.globalPosition.toString() } });
    expect(dj.accounts.map((a) => [a.userId, a.outcome, a.events.map((e) => [e.type, e.eventId])])).toEqual([
      [USER_A, 'would_append', [['FillSettled', derivedEventId(trade.eventId, `account-${USER_A}`, 0)]]],
      [USER_B, 'would_append', [['FillSettled', derivedEventId(trade.eventId, `account-${USER_B}`, 0)]]],
    ]);
    expect(await committed(ts)).toBe(before.length);

    // The redrive: one FillSettled per account, with the live handler's ids and metadata.
    const run = await tradectl(['redrive', trade.eventId], ts.db.url);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out).toContain(`account-${USER_A}: appended after revision`);
    expect(run.out).toContain(`account-${USER_B}: appended after revision`);
    const settled = [...(await ts.store.readStream(`account-${USER_A}`)), ...(await ts.store.readStream(`account-${USER_B}`))].filter((e) => e.type === 'FillSettled');
    expect(settled.map((e) => [e.stream, e.eventId])).toEqual([
      [`account-${USER_A}`, derivedEventId(trade.eventId, `account-${USER_A}`, 0)],
      [`account-${USER_B}`, derivedEventId(trade.eventId, `account-${USER_B}`, 0)],
    ]);
    for (const e of settled)
      expect(e.metadata).toMatchObject({ causationId: trade.eventId, correlationId: trade.metadata.correlationId, inputPosition: trade.globalPosition.toString(), redrive: true });
    expect(await committed(ts)).toBe(before.length + 2);

    // Where the accounts would have been had the trade settled at once (maker fee 10 bps, taker 20).
    const a = await accountState(ts, USER_A);
    const b = await accountState(ts, USER_B);
    expect(total(a, 'USD')).toBe(parseAmount('1000099.8'));
    expect(total(a, 'M1')).toBe(parseAmount('9999'));
    expect(a.balances.get('M1')?.reserved).toBe(parseAmount('1')); // the ask 1 @ 110
    expect(a.openOrders.has(sell.orderId)).toBe(false);
    expect(total(b, 'USD')).toBe(parseAmount('999899.9'));
    expect(total(b, 'M1')).toBe(parseAmount('10001'));
    expect(b.openOrders.get(bidId)).toMatchObject({ remaining: '2', filled: '1', reserved: (bidReserved * 2n) / 3n });
    expect((bidReserved * 2n) % 3n).toBe(0n);
    // The watermark stays where the later inputs left it.
    expect(b.lastInputPosition).toBe((await accountState(ts, USER_B)).lastInputPosition);
    expect(b.lastInputPosition).toBeGreaterThan(trade.globalPosition);
    await reconcile(ts, [USER_A, USER_B]);

    // Again: already applied, nothing appended, exit 3.
    const again = await tradectl(['redrive', trade.eventId], ts.db.url);
    expect(again.code).toBe(3);
    expect(again.out).toContain(`account-${USER_B}: nothing appended: account-${USER_B} already applied it: FillSettled ${derivedEventId(trade.eventId, `account-${USER_B}`, 0)}`);
    expect(await committed(ts)).toBe(before.length + 2);

    // A fresh engine from the start of the log (every input redelivered, the decider fixed) settles
    // nothing twice, and the bid fills on: A sells 2 more into it, which closes it.
    const bFinal = await sellIntoTheBidWithAFreshEngine(ts, 'redrive-replay', '2', 4);
    expect(bFinal.openOrders.has(bidId)).toBe(false);
    expect(total(bFinal, 'M1')).toBe(parseAmount('10003'));
    expect(total(bFinal, 'USD')).toBe(parseAmount('999699.7'));
    await reconcile(ts, [USER_A, USER_B]);
  });
});

describe('tradectl redrive: a fill a later fill of the same open order overtook', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('redrive_overtaken');
    await seedMarketAndDeposits(ts.store);
  });
  afterAll(async () => ts?.close());

  it('is settled late on that account (its share freed, the remaining kept, `late: true`) and normally on the other; the accounts end as in order', async () => {
    const poisoned = new Set<string>();
    const engine = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, logger: quietLogger, checkpointName: 'redrive-overtaken', accountDecider: failingOnTrades(poisoned), tuning: { poisonAttempts: 2 } });
    const bidId = await appendOrder(ts.store, { userId: USER_B, marketId: 1, side: 'buy', price: '100', quantity: '3' });
    await waitForCount(ts.store, 'OrderRested', 1);
    const first = orderPlaced({ userId: USER_A, marketId: 1, side: 'sell', price: '100', quantity: '1' });
    poisoned.add(first.orderId);
    await ts.store.appendToStream(first.stream, [first.event], { expectedRevision: 'no_stream' });
    await waitFor('both settlements dead-lettered', async () => (await deadLetterRows(ts)).length >= 2);
    // A second fill of B's bid settles: B's account now takes the bid's remaining (1) from it.
    await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '100', quantity: '1' });
    await waitForCount(ts.store, 'FillSettled', 2);
    await waitForQuiet(ts.store, 1_000);
    await engine.stop();

    const before = await visibleEvents(ts);
    const trade = tradeOf(before, first.orderId);
    const bidAccepted = before.find((e) => e.type === 'OrderAccepted' && (e.data as { orderId: string }).orderId === bidId);
    const bidReserved = parseAmount((bidAccepted?.data as { reservedAmount: string }).reservedAmount);
    // Overtaken: the remaining already counts the dead-lettered fill, the reservation does not.
    expect((await accountState(ts, USER_B)).openOrders.get(bidId)).toMatchObject({ remaining: '1', filled: '1', reserved: (bidReserved * 2n) / 3n });

    const r = await tradectl(['redrive', trade.eventId, '--format', 'json'], ts.db.url);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as RedriveJson;
    const [ra, rb] = j.accounts;
    expect(ra).toMatchObject({ userId: USER_A, outcome: 'appended' });
    expect(ra?.events.map((e) => e.data.late)).toEqual([undefined]);
    expect(rb).toMatchObject({ userId: USER_B, outcome: 'appended' });
    expect(rb?.events).toHaveLength(1);
    expect(rb?.events[0]).toMatchObject({
      type: 'FillSettled',
      eventId: derivedEventId(trade.eventId, `account-${USER_B}`, 0),
      data: { tradeId: (trade.data as { tradeId: string }).tradeId, orderId: bidId, quantity: '1', remainingQuantity: '1', late: true, reservationReleased: formatAmount(bidReserved / 3n) },
      metadata: { causationId: trade.eventId, inputPosition: trade.globalPosition.toString(), redrive: true },
    });
    // B's bid as if both fills had settled in order: 2 filled, 1 open, a third of the reservation held.
    const b = await accountState(ts, USER_B);
    expect(b.openOrders.get(bidId)).toMatchObject({ remaining: '1', filled: '2', coverQuantity: '1', reserved: bidReserved / 3n });
    expectReservedHeldByOrders(b);
    await reconcile(ts, [USER_A, USER_B]);
    // Text: a second run appends nothing anywhere (exit 3).
    const count = await committed(ts);
    const t = await tradectl(['redrive', trade.eventId], ts.db.url);
    expect(t.code).toBe(3);
    expect(t.out).toContain(`account-${USER_A}: nothing appended: account-${USER_A} already applied it`);
    expect(t.out).toContain(`account-${USER_B}: nothing appended: account-${USER_B} already applied it`);
    expect(await committed(ts)).toBe(count);

    // A fresh engine (every input redelivered, the decider fixed) settles nothing twice, and the
    // bid's last lot fills: it closes with nothing held, the totals those of three fills at 100.
    const bFinal = await sellIntoTheBidWithAFreshEngine(ts, 'redrive-overtaken-replay', '1', 6);
    expect(bFinal.openOrders.has(bidId)).toBe(false);
    expect(bFinal.balances.get('USD')?.reserved).toBe(0n);
    expect(total(bFinal, 'M1')).toBe(parseAmount('10003'));
    expect(total(bFinal, 'USD')).toBe(parseAmount('999699.7'));
    await reconcile(ts, [USER_A, USER_B]);
  });
});

/**
 * core-domain's account decider, except that it throws on the market facts about the orders (a
 * close, an applied amend) and amend requests (a refused amend) named in `poisoned`.
 */
function failingOnFacts(poisoned: ReadonlySet<string>): AccountDecider {
  return {
    ...accountDecider,
    decide(command, state) {
      if (command.kind === 'ReleaseOrder' && poisoned.has(command.event.data.orderId)) throw new Error('simulated account decider defect (release)');
      if (command.kind === 'ApplyAmend' && poisoned.has(command.amended.orderId)) throw new Error('simulated account decider defect (amend)');
      if (command.kind === 'DropAmend' && poisoned.has(command.refused.requestId)) throw new Error('simulated account decider defect (dropped amend)');
      return accountDecider.decide(command, state);
    },
  };
}

/** An account's balance of `asset` as exact decimal strings. */
function balanceOf(s: AccountState, asset: string): { available: string; reserved: string } {
  const b = s.balances.get(asset);
  return { available: formatAmount(b?.available ?? 0n), reserved: formatAmount(b?.reserved ?? 0n) };
}

/** The account's reserved amounts equal what its open orders hold, asset by asset. */
function expectReservedHeldByOrders(s: AccountState): void {
  const held = reservedByOrders(s);
  for (const [asset, b] of s.balances) expect(b.reserved).toBe(held.get(asset) ?? 0n);
}

function factOf(events: readonly RecordedEvent[], type: string, orderId: string): RecordedEvent {
  const f = events.find((e) => e.type === type && (e.data as { orderId?: string }).orderId === orderId);
  if (!f) throw new Error(`no ${type} of order ${orderId}`);
  return f;
}

describe('tradectl redrive: closes the risk handler dead-lettered (OrderCancelled, OrderRejectedByEngine)', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('redrive_release');
    await seedMarketAndDeposits(ts.store);
  });
  afterAll(async () => ts?.close());

  it('releases each reservation once, with the handler ids; the account then reserves what its open orders hold; a second redrive appends nothing (exit 3)', async () => {
    const poisoned = new Set<string>();
    // The market decider throws on the accepted orders in `enginePoisoned`: the execution handler
    // answers OrderRejectedByEngine (engine_error), which the account decider then throws on too.
    const enginePoisoned = new Set<string>();
    const realMarket = createMarketDecider({ createBook: () => createOrderBook('fast') });
    const marketDecider: MarketDecider = {
      ...realMarket,
      decide(command, state) {
        if (command.kind === 'AcceptedOrder' && enginePoisoned.has(command.order.orderId)) throw new Error('simulated market decider defect');
        return realMarket.decide(command, state);
      },
    };
    const engine = await startInProcessEngine({
      store: ts.store,
      pool: ts.pool,
      clock,
      logger: quietLogger,
      checkpointName: 'redrive-release',
      accountDecider: failingOnFacts(poisoned),
      marketDecider,
      tuning: { poisonAttempts: 2 },
    });

    // B's bids: 2 @ 80 stays open (2 × 80 × 1.002 = 160.32 USD held); 1 @ 90 (90.18) rests and is cancelled.
    const keepId = await appendOrder(ts.store, { userId: USER_B, marketId: 1, side: 'buy', price: '80', quantity: '2' });
    const cancelled = orderPlaced({ userId: USER_B, marketId: 1, side: 'buy', price: '90', quantity: '1' });
    await ts.store.appendToStream(cancelled.stream, [cancelled.event], { expectedRevision: 'no_stream' });
    await waitForCount(ts.store, 'OrderRested', 2);
    poisoned.add(cancelled.orderId);
    const cancel = newEvent('OrderCancelRequested', { orderId: cancelled.orderId, userId: USER_B, marketId: 1, requestId: cancelled.orderId.replace(/^.{8}/, 'cccccccc'), requestedAt: '2025-01-01T00:10:00.000Z' }, USER_B);
    await ts.store.appendToStream(cancelled.stream, [cancel], { expectedRevision: 0n });
    await waitFor('the release of the cancel dead-lettered', async () => (await deadLetterRows(ts)).some((l) => l.event_type === 'OrderCancelled'));
    // B's bid 1 @ 70 (70.14) never reaches the book: the market answers OrderRejectedByEngine, whose release throws.
    const rejected = orderPlaced({ userId: USER_B, marketId: 1, side: 'buy', price: '70', quantity: '1' });
    enginePoisoned.add(rejected.orderId);
    poisoned.add(rejected.orderId);
    await ts.store.appendToStream(rejected.stream, [rejected.event], { expectedRevision: 'no_stream' });
    await waitFor('the release of the engine rejection dead-lettered', async () => (await deadLetterRows(ts)).some((l) => l.event_type === 'OrderRejectedByEngine'));
    // A later input of B is decided (a redelivery of either fact would now be skipped): a bid 1 @ 60 (60.12).
    const laterId = await appendOrder(ts.store, { userId: USER_B, marketId: 1, side: 'buy', price: '60', quantity: '1' });
    await waitForCount(ts.store, 'OrderRested', 3);
    await waitForQuiet(ts.store, 1_000);
    await engine.stop();

    const before = await visibleEvents(ts);
    const cancelledFact = factOf(before, 'OrderCancelled', cancelled.orderId);
    const rejectedFact = factOf(before, 'OrderRejectedByEngine', rejected.orderId);
    expect(rejectedFact.data).toMatchObject({ reason: 'engine_error', rejectedQuantity: '1' });
    expect(new Set((await deadLetterRows(ts)).map((l) => `${l.handler} ${l.event_type} ${l.event_id}`))).toEqual(
      new Set([`risk OrderCancelled ${cancelledFact.eventId}`, 'execution OrderAccepted ' + factOf(before, 'OrderAccepted', rejected.orderId).eventId, `risk OrderRejectedByEngine ${rejectedFact.eventId}`]),
    );
    expect(before.filter((e) => e.type === 'ReservationReleased')).toEqual([]);
    const b0 = await accountState(ts, USER_B);
    expect(b0.lastInputPosition).toBeGreaterThan(rejectedFact.globalPosition);
    expect([...b0.openOrders.keys()].sort()).toEqual([keepId, cancelled.orderId, rejected.orderId, laterId].sort());
    expect(balanceOf(b0, 'USD')).toEqual({ available: '999619.24', reserved: '380.76' });

    // The cancel: its reservation (90.18) is released, once, with the live handler's id and metadata.
    const stream = `account-${USER_B}`;
    const run = await tradectl(['redrive', cancelledFact.eventId, '--format', 'json'], ts.db.url);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    const rj = JSON.parse(run.out) as RedriveJson;
    const releaseId = derivedEventId(cancelledFact.eventId, stream, 0);
    expect(rj.accounts.map((a) => [a.userId, a.outcome, a.events.map((e) => [e.type, e.eventId])])).toEqual([[USER_B, 'appended', [['ReservationReleased', releaseId]]]]);
    const released = (await ts.store.readStream(stream)).filter((e) => e.type === 'ReservationReleased');
    expect(released.map((e) => e.eventId)).toEqual([releaseId]);
    expect(released[0]?.data).toEqual({ orderId: cancelled.orderId, userId: USER_B, marketId: 1, asset: 'USD', amount: '90.18', cause: 'cancelled' });
    expect(released[0]?.metadata).toMatchObject({ causationId: cancelledFact.eventId, correlationId: cancelledFact.metadata.correlationId, inputPosition: cancelledFact.globalPosition.toString(), redrive: true });
    expect(await committed(ts)).toBe(before.length + 1);
    const b1 = await accountState(ts, USER_B);
    expect(b1.openOrders.has(cancelled.orderId)).toBe(false);
    expect(balanceOf(b1, 'USD')).toEqual({ available: '999709.42', reserved: '290.58' });
    expect(b1.lastInputPosition).toBe(b0.lastInputPosition);

    // Again: already applied (its derived id is in the stream), nothing appended, exit 3.
    const again = await tradectl(['redrive', cancelledFact.eventId], ts.db.url);
    expect(again.err).toBe('');
    expect(again.code).toBe(3);
    expect(again.out).toContain(`${stream}: nothing appended: ${stream} already applied it: ReservationReleased ${releaseId}`);
    expect(await committed(ts)).toBe(before.length + 1);

    // The engine's rejection: the rejected order's 70.14 comes back, cause "rejected".
    const rejRun = await tradectl(['redrive', rejectedFact.eventId], ts.db.url);
    expect(rejRun.err).toBe('');
    expect(rejRun.code).toBe(0);
    expect(rejRun.out).toContain(`${stream}: appended after revision`);
    const rejReleaseId = derivedEventId(rejectedFact.eventId, stream, 0);
    const tail = (await ts.store.readStream(stream)).at(-1);
    expect(tail).toMatchObject({ eventId: rejReleaseId, type: 'ReservationReleased', data: { orderId: rejected.orderId, asset: 'USD', amount: '70.14', cause: 'rejected' } });
    expect(tail?.metadata).toMatchObject({ causationId: rejectedFact.eventId, inputPosition: rejectedFact.globalPosition.toString(), redrive: true });
    const rejAgain = await tradectl(['redrive', rejectedFact.eventId], ts.db.url);
    expect(rejAgain.code).toBe(3);
    expect(rejAgain.out).toContain(`already applied it: ReservationReleased ${rejReleaseId}`);
    expect(await committed(ts)).toBe(before.length + 2);

    // What is left reserved is exactly what the two open bids hold: 160.32 + 60.12.
    const b2 = await accountState(ts, USER_B);
    expect([...b2.openOrders.keys()].sort()).toEqual([keepId, laterId].sort());
    expect(balanceOf(b2, 'USD')).toEqual({ available: '999779.56', reserved: '220.44' });
    expectReservedHeldByOrders(b2);
    await reconcile(ts, [USER_B]);
  });
});

describe('tradectl redrive: an applied amend that later facts about the same open order overtook', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('redrive_amend_overtaken');
    await seedMarketAndDeposits(ts.store);
  });
  afterAll(async () => ts?.close());

  /** core-domain's account decider, except that it throws on applying an amend of `orderId` to `price`. */
  const failingOnAmendTo = (orderId: string, price: string): AccountDecider => ({
    ...accountDecider,
    decide(command, state) {
      if (command.kind === 'ApplyAmend' && command.amended.orderId === orderId && command.amended.price === price) throw new Error('simulated account decider defect (amend)');
      return accountDecider.decide(command, state);
    },
  });
  const amendTo = (orderId: string, newPrice: string, tag: string) =>
    newEvent('OrderAmendRequested', { orderId, userId: USER_B, marketId: 1, requestId: orderId.replace(/^.{8}/, tag), newPrice, newQuantity: null, requestedAt: '2025-01-01T00:10:00.000Z' }, USER_B);

  it('after a later fill: applied late (its terms, the fill\'s remaining, the excess released), the account as in order', async () => {
    const bid = orderPlaced({ userId: USER_B, marketId: 1, side: 'buy', price: '90', quantity: '2' });
    const engine = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, logger: quietLogger, checkpointName: 'redrive-amend-overtaken', accountDecider: failingOnAmendTo(bid.orderId, '85'), tuning: { poisonAttempts: 2 } });
    // B's bid 2 @ 90 (180.36 held) is amended to 85: the book applies it, the account decider throws on it.
    await ts.store.appendToStream(bid.stream, [bid.event], { expectedRevision: 'no_stream' });
    await waitForCount(ts.store, 'OrderRested', 1);
    await ts.store.appendToStream(bid.stream, [amendTo(bid.orderId, '85', 'aaaaaaaa')], { expectedRevision: 0n });
    await waitFor('the applied amend dead-lettered', async () => (await deadLetterRows(ts)).some((l) => l.event_type === 'OrderAmended'));
    // A sells 1 into the amended bid at 85: B's fill settles (the bid stays open, 1 remaining).
    await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '85', quantity: '1' });
    await waitForCount(ts.store, 'FillSettled', 2);
    await waitForQuiet(ts.store, 1_000);
    await engine.stop();

    const before = await visibleEvents(ts);
    const amendedFact = factOf(before, 'OrderAmended', bid.orderId);
    const fill = before.find((e) => e.type === 'FillSettled' && (e.data as { orderId: string }).orderId === bid.orderId);
    expect(fill?.data).toMatchObject({ price: '85', remainingQuantity: '1', reservationReleased: '90.18' });
    expect((await accountState(ts, USER_B)).openOrders.get(bid.orderId)).toMatchObject({ price: '90', remaining: '1', reserved: parseAmount('90.18') });
    const r = await tradectl(['redrive', amendedFact.eventId, '--format', 'json'], ts.db.url);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as RedriveJson;
    expect(j.accounts.map((a) => [a.userId, a.outcome])).toEqual([[USER_B, 'appended']]);
    // The bid at 85 with 1 open needs 85.17 (taker fee headroom 0.2 %): 5.01 of the 90.18 goes back.
    expect(j.accounts[0]?.events).toMatchObject([
      {
        type: 'ReservationReleased',
        eventId: derivedEventId(amendedFact.eventId, `account-${USER_B}`, 0),
        data: { orderId: bid.orderId, amount: '5.01', cause: 'amended', price: '85', quantity: '2', remainingQuantity: '1' },
        metadata: { causationId: amendedFact.eventId, redrive: true },
      },
    ]);
    const b = await accountState(ts, USER_B);
    expect(b.openOrders.get(bid.orderId)).toMatchObject({ price: '85', quantity: '2', remaining: '1', filled: '1', reserved: parseAmount('85.17'), pendingAmends: [] });
    expectReservedHeldByOrders(b);
    await reconcile(ts, [USER_A, USER_B]);
    const again = await tradectl(['redrive', amendedFact.eventId], ts.db.url);
    expect(again.code).toBe(3);
  });

  it('after a later applied amend: nothing left to apply (exit 3), nothing appended', async () => {
    const bid = orderPlaced({ userId: USER_B, marketId: 1, side: 'buy', price: '70', quantity: '2' });
    const engine = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, logger: quietLogger, checkpointName: 'redrive-amend-superseded', accountDecider: failingOnAmendTo(bid.orderId, '65'), tuning: { poisonAttempts: 2 } });
    await ts.store.appendToStream(bid.stream, [bid.event], { expectedRevision: 'no_stream' });
    await waitFor('the bid rested', async () => (await visibleEvents(ts)).some((e) => e.type === 'OrderRested' && (e.data as { orderId: string }).orderId === bid.orderId));
    // Amended to 65 (the account decider throws on it), then to 60 (applied).
    await ts.store.appendToStream(bid.stream, [amendTo(bid.orderId, '65', 'bbbbbbbb')], { expectedRevision: 0n });
    // (The test before left one dead-lettered OrderAmended in this database.)
    await waitFor('the first amend dead-lettered', async () => (await deadLetterRows(ts)).filter((l) => l.event_type === 'OrderAmended').length >= 2);
    await ts.store.appendToStream(bid.stream, [amendTo(bid.orderId, '60', 'cccccccc')], { expectedRevision: 1n });
    await waitFor('the second amend applied', async () => (await accountState(ts, USER_B)).openOrders.get(bid.orderId)?.price === '60');
    await waitForQuiet(ts.store, 1_000);
    await engine.stop();

    const events = await visibleEvents(ts);
    const first = events.find((e) => e.type === 'OrderAmended' && (e.data as { orderId: string; price: string }).orderId === bid.orderId && (e.data as { price: string }).price === '65')!;
    const count = await committed(ts);
    const r = await tradectl(['redrive', first.eventId, '--format', 'json'], ts.db.url);
    expect(r.err).toBe('');
    expect(r.code).toBe(3);
    const j = JSON.parse(r.out) as RedriveJson;
    expect(j.accounts[0]).toMatchObject({ userId: USER_B, outcome: 'nothing_to_apply', events: [] });
    expect(j.accounts[0]?.reason).toContain(`a later applied amend of order ${bid.orderId}`);
    expect(await committed(ts)).toBe(count);
    const b = await accountState(ts, USER_B);
    expect(b.openOrders.get(bid.orderId)).toMatchObject({ price: '60', quantity: '2', remaining: '2', pendingAmends: [] });
    expectReservedHeldByOrders(b);
  });
});

describe('tradectl redrive: amends the risk handler dead-lettered (OrderAmended, OrderAmendRejectedByEngine)', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('redrive_amend');
    await seedMarketAndDeposits(ts.store);
  });
  afterAll(async () => ts?.close());

  it('applies the amend (the excess released) and drops the refused one (what it added released), each once, as the live handler would', async () => {
    const poisoned = new Set<string>();
    const engine = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, logger: quietLogger, checkpointName: 'redrive-amend', accountDecider: failingOnFacts(poisoned), tuning: { poisonAttempts: 2 } });
    const stream = `account-${USER_B}`;

    // A's ask 1 @ 101 rests.
    await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '101', quantity: '1' });
    await waitForCount(ts.store, 'OrderRested', 1);
    // B's bid 2 @ 90 (2 × 90 × 1.002 = 180.36 held) is amended to 85: the book applies it, the account decider throws.
    const amendedBid = orderPlaced({ userId: USER_B, marketId: 1, side: 'buy', price: '90', quantity: '2' });
    await ts.store.appendToStream(amendedBid.stream, [amendedBid.event], { expectedRevision: 'no_stream' });
    await waitForCount(ts.store, 'OrderRested', 2);
    poisoned.add(amendedBid.orderId);
    const amend = newEvent('OrderAmendRequested', { orderId: amendedBid.orderId, userId: USER_B, marketId: 1, requestId: amendedBid.orderId.replace(/^.{8}/, 'aaaaaaaa'), newPrice: '85', newQuantity: null, requestedAt: '2025-01-01T00:10:00.000Z' }, USER_B);
    await ts.store.appendToStream(amendedBid.stream, [amend], { expectedRevision: 0n });
    await waitFor('the applied amend dead-lettered', async () => (await deadLetterRows(ts)).some((l) => l.event_type === 'OrderAmended'));
    // B's post-only bid 1 @ 100 (100.2 held) asks for 101, where A's ask is: risk reserves 1.002 more, the book refuses (post only).
    const droppedBid = orderPlaced({ userId: USER_B, marketId: 1, side: 'buy', price: '100', quantity: '1' });
    await ts.store.appendToStream(droppedBid.stream, [{ ...droppedBid.event, data: { ...(droppedBid.event.data as EventData<'OrderPlaced'>), postOnly: true } }], { expectedRevision: 'no_stream' });
    await waitForCount(ts.store, 'OrderRested', 3);
    const requestId = droppedBid.orderId.replace(/^.{8}/, 'bbbbbbbb');
    poisoned.add(requestId);
    const refusedAmend = newEvent('OrderAmendRequested', { orderId: droppedBid.orderId, userId: USER_B, marketId: 1, requestId, newPrice: '101', newQuantity: null, requestedAt: '2025-01-01T00:20:00.000Z' }, USER_B);
    await ts.store.appendToStream(droppedBid.stream, [refusedAmend], { expectedRevision: 0n });
    await waitFor('the refused amend dead-lettered', async () => (await deadLetterRows(ts)).some((l) => l.event_type === 'OrderAmendRejectedByEngine'));
    // A later input of B is decided: a bid 1 @ 60 (60.12).
    const laterId = await appendOrder(ts.store, { userId: USER_B, marketId: 1, side: 'buy', price: '60', quantity: '1' });
    await waitForCount(ts.store, 'OrderRested', 4);
    await waitForQuiet(ts.store, 1_000);
    await engine.stop();

    const before = await visibleEvents(ts);
    const amendedFact = factOf(before, 'OrderAmended', amendedBid.orderId);
    expect(amendedFact.data).toMatchObject({ price: '85', quantity: '2', remainingQuantity: '2' });
    const refusedFact = factOf(before, 'OrderAmendRejectedByEngine', droppedBid.orderId);
    expect(refusedFact.data).toMatchObject({ requestId, reason: 'post_only_would_take', newPrice: '101' });
    expect((await deadLetterRows(ts)).map((l) => [l.handler, l.event_type, l.event_id])).toEqual([
      ['risk', 'OrderAmended', amendedFact.eventId],
      ['risk', 'OrderAmendRejectedByEngine', refusedFact.eventId],
    ]);
    expect(before.filter((e) => e.type === 'ReservationReleased')).toEqual([]);
    const b0 = await accountState(ts, USER_B);
    expect(b0.lastInputPosition).toBeGreaterThan(refusedFact.globalPosition);
    expect(b0.openOrders.get(amendedBid.orderId)).toMatchObject({ price: '90', reserved: parseAmount('180.36'), pendingAmends: [{ newPrice: '85' }] });
    expect(b0.openOrders.get(droppedBid.orderId)).toMatchObject({ price: '100', reserved: parseAmount('101.202'), pendingAmends: [{ requestId, newPrice: '101' }] });
    expect(balanceOf(b0, 'USD')).toEqual({ available: '999658.318', reserved: '341.682' });

    // The applied amend: the bid is now 2 @ 85 (170.34 held), the 10.02 beyond it released.
    const run = await tradectl(['redrive', amendedFact.eventId, '--format', 'json'], ts.db.url);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    const amendReleaseId = derivedEventId(amendedFact.eventId, stream, 0);
    expect((JSON.parse(run.out) as RedriveJson).accounts.map((a) => [a.userId, a.outcome, a.events.map((e) => [e.type, e.eventId])])).toEqual([[USER_B, 'appended', [['ReservationReleased', amendReleaseId]]]]);
    const applied = (await ts.store.readStream(stream)).at(-1);
    expect(applied).toMatchObject({ eventId: amendReleaseId, type: 'ReservationReleased' });
    expect(applied?.data).toEqual({ orderId: amendedBid.orderId, userId: USER_B, marketId: 1, asset: 'USD', amount: '10.02', cause: 'amended', price: '85', quantity: '2', remainingQuantity: '2' });
    expect(applied?.metadata).toMatchObject({ causationId: amendedFact.eventId, correlationId: amendedFact.metadata.correlationId, inputPosition: amendedFact.globalPosition.toString(), redrive: true });
    const b1 = await accountState(ts, USER_B);
    expect(b1.openOrders.get(amendedBid.orderId)).toMatchObject({ price: '85', quantity: '2', remaining: '2', reserved: parseAmount('170.34'), pendingAmends: [] });
    expect(balanceOf(b1, 'USD')).toEqual({ available: '999668.338', reserved: '331.662' });
    const again = await tradectl(['redrive', amendedFact.eventId], ts.db.url);
    expect(again.code).toBe(3);
    expect(again.out).toContain(`${stream}: nothing appended: ${stream} already applied it: ReservationReleased ${amendReleaseId}`);
    expect(await committed(ts)).toBe(before.length + 1);

    // The refused amend: what it added (1.002) is released, the bid keeps its terms, nothing pending.
    const drop = await tradectl(['redrive', refusedFact.eventId, '--format', 'json'], ts.db.url);
    expect(drop.err).toBe('');
    expect(drop.code).toBe(0);
    const dropReleaseId = derivedEventId(refusedFact.eventId, stream, 0);
    expect((JSON.parse(drop.out) as RedriveJson).accounts.map((a) => [a.outcome, a.events.map((e) => e.eventId)])).toEqual([['appended', [dropReleaseId]]]);
    const dropped = (await ts.store.readStream(stream)).at(-1);
    expect(dropped).toMatchObject({ eventId: dropReleaseId, type: 'ReservationReleased' });
    expect(dropped?.data).toEqual({ orderId: droppedBid.orderId, userId: USER_B, marketId: 1, asset: 'USD', amount: '1.002', cause: 'amend_rejected', requestId });
    expect(dropped?.metadata).toMatchObject({ causationId: refusedFact.eventId, inputPosition: refusedFact.globalPosition.toString(), redrive: true });
    const dropAgain = await tradectl(['redrive', refusedFact.eventId], ts.db.url);
    expect(dropAgain.code).toBe(3);
    expect(dropAgain.out).toContain(`already applied it: ReservationReleased ${dropReleaseId}`);
    expect(await committed(ts)).toBe(before.length + 2);

    // Where the account would have been: 170.34 + 100.2 + 60.12 held by the three open bids.
    const b2 = await accountState(ts, USER_B);
    expect(b2.openOrders.get(droppedBid.orderId)).toMatchObject({ price: '100', reserved: parseAmount('100.2'), pendingAmends: [] });
    expect([...b2.openOrders.keys()].sort()).toEqual([amendedBid.orderId, droppedBid.orderId, laterId].sort());
    expect(balanceOf(b2, 'USD')).toEqual({ available: '999669.34', reserved: '330.66' });
    expect(b2.lastInputPosition).toBe(b0.lastInputPosition);
    expectReservedHeldByOrders(b2);
    await reconcile(ts, [USER_A, USER_B]);
  });
});
