/**
 * Faults: poison inputs are retried with backoff a bounded number of times, then dead-lettered
 * (Kafka topic or engine_dead_letters table), counted and logged, and the handler goes on; an
 * unavailable store stops an ordered handler instead of skipping. An accepted order the market
 * decider throws on is, besides, answered on the market stream (OrderRejectedByEngine engine_error)
 * exactly once, however often it is redelivered; likewise a trader's order, amend or cancel the
 * account decider throws on is refused on the account stream (engine_error), and a market fact is not.
 */
import {
  accountDecider,
  balancesView,
  createMarketDecider,
  createOrderBook,
  parseEvent,
  type AccountCommand,
  type AccountDecider,
  type MarketDecider,
} from '@tradecore/core-domain';
import { describeWith, getKafka } from '@tradecore/testkit';
import { EventStoreUnavailableError, type EventStore, type NewEvent, type RecordedEvent } from '@tradecore/event-store';
import type { KafkaMessage } from 'kafkajs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresCheckpointStore } from './checkpoints.ts';
import type { DeadLetter } from './dead-letter.ts';
import { createExecutionHandler } from './execution-handler.ts';
import { createRiskHandler } from './risk-handler.ts';
import type { HandlerDeps } from './handler-deps.ts';
import { derivedEventId } from './ids.ts';
import { inputFromEvent, type InboxHandler } from './inbox.ts';
import { startInProcessEngine } from './in-process.ts';
import { startKafkaEngine } from './kafka-engine.ts';
import { engineMetrics } from './observability.ts';
import { startRelay } from './relay.ts';
import { BROADCAST_KEY, accountPartition, marketPartition, topicName } from './routing.ts';
import {
  USER_A,
  USER_B,
  appendOrder,
  collectTopic,
  createTestStore,
  newEvent,
  orderPlaced,
  quietLogger,
  seedMarketAndDeposits,
  testKafkaClient,
  waitFor,
  waitForCount,
  type TestStore,
} from './test-support.ts';

const clock = { now: () => new Date('2025-01-02T00:00:00.000Z') };

function capturingLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { logger: pino({ level: 'warn' }, sink), lines };
}

async function deadLetterCount(metrics: ReturnType<typeof engineMetrics>, handler: string, reason: string): Promise<number> {
  const m = await metrics.deadLetters.get();
  return m.values.find((v) => v.labels.handler === handler && v.labels.reason === reason)?.value ?? 0;
}


/** Handler deps as a host builds them, except that dead letters are kept in `letters`; two poison attempts, fast store retries. */
function keptLetterDeps(store: EventStore, letters: DeadLetter[], storeAttempts: number): HandlerDeps {
  return {
    store,
    clock,
    logger: quietLogger,
    metrics: engineMetrics(),
    deadLetters: {
      publish: (letter) => {
        letters.push(letter);
        return Promise.resolve();
      },
    },
    signal: new AbortController().signal,
    tuning: { poisonAttempts: 2, storeAttempts, storeBackoff: { initialMs: 5, maxMs: 10 } },
  };
}

describe('faults in single-node mode', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('faults');
    await seedMarketAndDeposits(ts.store);
  });
  afterAll(async () => ts?.close());

  it('dead-letters a schema failure after bounded retries (table, counter, log line) and keeps deciding', async () => {
    const metrics = engineMetrics();
    const { logger, lines } = capturingLogger();
    const engine = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, logger, metrics, tuning: { poisonAttempts: 3 } });
    const bad = orderPlaced({ userId: USER_A, marketId: 1, side: 'sell', price: '100', quantity: '1' });
    (bad.event.data as { quantity: string }).quantity = '-1';
    await ts.store.appendToStream(bad.stream, [bad.event], { expectedRevision: 'no_stream' });
    const good = await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '100', quantity: '1' });
    const events = await waitForCount(ts.store, 'OrderRested', 1);
    expect(events.find((e) => e.type === 'OrderAccepted')?.data).toMatchObject({ orderId: good });
    const rows = await waitFor('dead letter row', async () => {
      const r = await ts.pool.query<{ handler: string; reason: string; event_id: string; attempts: number }>('select handler, reason, event_id, attempts from engine_dead_letters');
      return r.rows.length > 0 ? r.rows : null;
    });
    expect(rows).toEqual([{ handler: 'risk', reason: 'schema', event_id: bad.event.eventId, attempts: 3 }]);
    expect(await deadLetterCount(metrics, 'risk', 'schema')).toBe(1);
    expect((await metrics.retries.get()).values.find((v) => v.labels.kind === 'poison')?.value).toBe(2);
    expect(lines.some((l) => l.includes('poison input dead-lettered') && l.includes(bad.event.eventId))).toBe(true);
    await engine.stop();
  });

  it('stops rather than skips when the store stays unavailable', async () => {
    const before = await ts.store.headPosition();
    const metrics = engineMetrics();
    // The store reads fine until it is told to go away; then every stream read and append fails.
    let down = false;
    const unavailable = () => Promise.reject(new EventStoreUnavailableError('simulated outage'));
    const flaky: EventStore = {
      ...ts.store,
      appendToStream: (...a) => (down ? unavailable() : ts.store.appendToStream(...a)),
      readStream: (...a) => (down ? unavailable() : ts.store.readStream(...a)),
      readAll: (...a) => ts.store.readAll(...a),
      headPosition: () => ts.store.headPosition(),
      subscribeToAll: (h, o) => ts.store.subscribeToAll(h, o),
      close: async () => undefined,
    };
    const checkpoints = await createPostgresCheckpointStore(ts.pool);
    await checkpoints.save('outage', before);
    const engine = await startInProcessEngine({
      store: flaky,
      pool: ts.pool,
      clock,
      logger: quietLogger,
      metrics,
      checkpointName: 'outage',
      checkpoints,
      tuning: { storeAttempts: 3, storeBackoff: { initialMs: 10, maxMs: 20 } },
    });
    down = true;
    await appendOrder(ts.store, { userId: USER_B, marketId: 1, side: 'buy', price: '1', quantity: '1' });
    await expect(engine.done).rejects.toThrow(/stopping rather than skipping/);
    // Nothing was skipped: the checkpoint did not move past the input it could not decide.
    expect(await checkpoints.load('outage')).toBe(before);
    expect((await metrics.retries.get()).values.find((v) => v.labels.kind === 'store')?.value).toBeGreaterThanOrEqual(2);
    await engine.stop();
  });
});

/** The fast-book market decider, except that deciding an accepted order of one of `poisoned` throws. */
function failingDecider(poisoned: ReadonlySet<string>, options: { killSwitches?: boolean } = {}): MarketDecider {
  const real = createMarketDecider({ createBook: () => createOrderBook('fast') });
  return {
    ...real,
    decide(command, state) {
      if (command.kind === 'KillSwitch' && options.killSwitches) throw new Error('simulated decider defect on a kill switch');
      if (command.kind === 'AcceptedOrder' && poisoned.has(command.order.orderId)) throw new Error(`simulated decider defect on ${command.order.orderId}`);
      if (command.kind === 'CancelRequest' && poisoned.has(command.request.orderId)) throw new Error(`simulated decider defect on the cancel of ${command.request.orderId}`);
      return real.decide(command, state);
    },
  };
}

describe('an accepted order the market decider cannot decide', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('faults_answer');
    await seedMarketAndDeposits(ts.store, [1, 2, 3, 4]);
  });
  afterAll(async () => ts?.close());

  /** The execution handler as a host runs it, with its dead letters kept in `letters`. */
  async function executionHandler(store: EventStore, marketId: number, decider: MarketDecider, letters: DeadLetter[], storeAttempts = 3): Promise<InboxHandler> {
    const handler = createExecutionHandler({ ...keptLetterDeps(store, letters, storeAttempts), marketDecider: decider });
    await handler.assigned([marketPartition(marketId)]);
    return handler;
  }

  /** Risk's acceptance of a buy of `quantity` at 100 (what the market inbox carries), as recorded. */
  async function accepted(marketId: number, data: Record<string, unknown> = {}): Promise<RecordedEvent> {
    const placed = orderPlaced({ userId: USER_B, marketId, side: 'buy', price: '100', quantity: '1' });
    const order = placed.event.data as Record<string, unknown>;
    const event = newEvent(
      'OrderAccepted',
      {
        orderId: placed.orderId,
        userId: USER_B,
        marketId,
        side: 'buy',
        type: 'limit',
        timeInForce: 'GTC',
        price: '100',
        protectionPrice: null,
        quantity: order.quantity,
        postOnly: false,
        selfTradePrevention: 'cancel_newest',
        reservedAsset: 'USD',
        reservedAmount: '100.2',
        checks: [],
        ...data,
      },
      USER_B,
    );
    await ts.store.appendToStream(`account-${USER_B}`, [event], { expectedRevision: 'any' });
    return (await ts.store.readStream(`account-${USER_B}`)).find((e) => e.eventId === event.eventId)!;
  }

  const deliver = (handler: InboxHandler, input: RecordedEvent, marketId: number) => handler.handle(marketPartition(marketId), [inputFromEvent(input, String(marketId), marketPartition(marketId))]);
  const marketStream = async (marketId: number) => ts.store.readStream(`market-${marketId}`);

  it('dead-letters it and rejects it on the market stream (engine_error, the whole quantity), once however often it is redelivered', async () => {
    const input = await accepted(1, { quantity: '2.5', reservedAmount: '250.5' });
    const orderId = (input.data as { orderId: string }).orderId;
    const poisoned = new Set([orderId]);
    const letters: DeadLetter[] = [];
    const handler = await executionHandler(ts.store, 1, failingDecider(poisoned), letters);
    await deliver(handler, input, 1);

    expect(letters.map((l) => [l.handler, l.reason, l.input.event?.eventId, l.attempts])).toEqual([['execution', 'decider', input.eventId, 2]]);
    const [rejection, ...rest] = await marketStream(1);
    expect(rest).toEqual([]);
    expect(rejection).toMatchObject({
      // the id a decision of this input would have: a second append of it is the store's idempotent retry
      eventId: derivedEventId(input.eventId, 'market-1', 0),
      type: 'OrderRejectedByEngine',
      data: { orderId, userId: USER_B, marketId: 1, reason: 'engine_error', rejectedQuantity: '2.5' },
      metadata: { causationId: input.eventId, inputPosition: input.globalPosition.toString(), correlationId: input.metadata.correlationId },
    });

    // Redelivered to the same handler, and to a fresh one (a restart, the decider still failing):
    // the stream marks the input applied, so nothing is decided, dead-lettered or appended again.
    await deliver(handler, input, 1);
    await deliver(await executionHandler(ts.store, 1, failingDecider(poisoned), letters), input, 1);
    // and once the defect is fixed, the redelivered input is still not decided again
    await deliver(await executionHandler(ts.store, 1, failingDecider(new Set()), letters), input, 1);
    expect(letters).toHaveLength(1);
    expect((await marketStream(1)).map((e) => e.eventId)).toEqual([rejection!.eventId]);
  });

  it('after a crash between the dead letter and the append, the redelivered input is answered once', async () => {
    const input = await accepted(2);
    const orderId = (input.data as { orderId: string }).orderId;
    const letters: DeadLetter[] = [];
    // The market append fails as if the process died right after publishing the dead letter: one
    // attempt, then the handler stops without having appended anything.
    const crashing: EventStore = {
      ...ts.store,
      appendToStream: (stream, events, o) => (stream === 'market-2' ? Promise.reject(new EventStoreUnavailableError('simulated crash')) : ts.store.appendToStream(stream, events, o)),
    };
    const first = await executionHandler(crashing, 2, failingDecider(new Set([orderId])), letters, 1);
    await expect(deliver(first, input, 2)).rejects.toThrow(/stopping rather than skipping/);
    expect(letters.map((l) => l.reason)).toEqual(['decider']);
    expect(await marketStream(2)).toEqual([]);

    // The input comes again (no checkpoint or offset moved past it): it fails again, is dead-lettered
    // again (a dead letter is published at least once) and answered, once.
    const second = await executionHandler(ts.store, 2, failingDecider(new Set([orderId])), letters);
    await deliver(second, input, 2);
    await deliver(second, input, 2);
    expect(letters.map((l) => l.reason)).toEqual(['decider', 'decider']);
    expect((await marketStream(2)).map((e) => [e.type, (e.data as { orderId: string; reason: string }).orderId, (e.data as { reason: string }).reason])).toEqual([
      ['OrderRejectedByEngine', orderId, 'engine_error'],
    ]);
  });

  it('answers neither an input that failed its schema (nothing in it can be trusted) nor a cancel (it holds no money)', async () => {
    // A schema failure: the decider never runs on it.
    const bad = await accepted(3, { quantity: '-1' });
    // A resting order, then risk's acceptance of its cancel, which the decider throws on.
    const resting = await accepted(3);
    const orderId = (resting.data as { orderId: string }).orderId;
    const cancel = newEvent('OrderCancelAccepted', { orderId, userId: USER_B, marketId: 3, requestId: orderId.replace(/^.{8}/, 'cccccccc') }, USER_B);
    await ts.store.appendToStream(`account-${USER_B}`, [cancel], { expectedRevision: 'any' });
    const cancelRecorded = (await ts.store.readStream(`account-${USER_B}`)).find((e) => e.eventId === cancel.eventId)!;
    const letters: DeadLetter[] = [];
    const handler = await executionHandler(ts.store, 3, failingDecider(new Set()), letters);
    await deliver(handler, bad, 3);
    await deliver(handler, resting, 3);
    expect(letters.map((l) => l.reason)).toEqual(['schema']);
    const rested = (await marketStream(3)).map((e) => e.type);
    expect(rested).toEqual(['OrderEntered', 'OrderRested']);

    await deliver(await executionHandler(ts.store, 3, failingDecider(new Set([orderId])), letters), cancelRecorded, 3);
    expect(letters.map((l) => [l.reason, l.input.event?.type])).toEqual([
      ['schema', 'OrderAccepted'],
      ['decider', 'OrderCancelAccepted'],
    ]);
    // the order still rests, and its reservation with it: the trader can cancel again
    expect((await marketStream(3)).map((e) => e.type)).toEqual(rested);
  });

  // Last in this block: the kill switch it engages blocks USER_B from here on.
  it("keeps a kill-switched account's resting orders from trading when the kill switch itself is dead-lettered: the next order sweeps them first", async () => {
    const letters: DeadLetter[] = [];
    const handler = await executionHandler(ts.store, 4, failingDecider(new Set(), { killSwitches: true }), letters);
    // USER_B's buy of 1 at 100 rests in market 4.
    const bid = await accepted(4, { quantity: '1' });
    const bidId = (bid.data as { orderId: string }).orderId;
    await deliver(handler, bid, 4);
    expect((await marketStream(4)).map((e) => e.type)).toEqual(['OrderEntered', 'OrderRested']);

    // USER_B is kill-switched, and the market decider throws on the kill switch: dead-lettered,
    // nothing on the market stream, the bid still rests.
    const killSwitch = newEvent('KillSwitchEngaged', { scope: 'user', marketId: null, userId: USER_B, reason: 'risk limit', changedBy: 1 }, 1);
    await ts.store.appendToStream('control', [killSwitch], { expectedRevision: 'any' });
    const killSwitchRecorded = (await ts.store.readStream('control')).find((e) => e.eventId === killSwitch.eventId)!;
    await handler.handle(marketPartition(4), [inputFromEvent(killSwitchRecorded, BROADCAST_KEY, marketPartition(4))]);
    expect(letters.map((l) => [l.handler, l.reason, l.input.event?.type])).toEqual([['execution', 'decider', 'KillSwitchEngaged']]);
    expect((await marketStream(4)).map((e) => e.type)).toEqual(['OrderEntered', 'OrderRested']);

    // USER_A's sell of 1 at 100 would cross the bid. It does not trade with it: the bid is
    // cancelled for the kill switch first, and the sell rests.
    const sellPlaced = orderPlaced({ userId: USER_A, marketId: 4, side: 'sell', price: '100', quantity: '1' });
    const sell = newEvent(
      'OrderAccepted',
      {
        orderId: sellPlaced.orderId,
        userId: USER_A,
        marketId: 4,
        side: 'sell',
        type: 'limit',
        timeInForce: 'GTC',
        price: '100',
        protectionPrice: null,
        quantity: '1',
        postOnly: false,
        selfTradePrevention: 'cancel_newest',
        reservedAsset: 'M4',
        reservedAmount: '1',
        checks: [],
      },
      USER_A,
    );
    await ts.store.appendToStream(`account-${USER_A}`, [sell], { expectedRevision: 'any' });
    const sellRecorded = (await ts.store.readStream(`account-${USER_A}`)).find((e) => e.eventId === sell.eventId)!;
    await deliver(handler, sellRecorded, 4);
    const after = (await marketStream(4)).slice(2).map((e) => [e.type, (e.data as { orderId: string }).orderId, (e.data as { reason?: string }).reason]);
    expect(after).toEqual([
      ['OrderCancelled', bidId, 'kill_switch'],
      ['OrderEntered', sellPlaced.orderId, undefined],
      ['OrderRested', sellPlaced.orderId, undefined],
    ]);
    expect(letters).toHaveLength(1);
  });
});

/** core-domain's account decider, except that deciding a request or trade named in `poisoned` throws. */
function failingAccountDecider(poisoned: ReadonlySet<string>): AccountDecider {
  const idOf = (command: AccountCommand): string | null => {
    switch (command.kind) {
      case 'PlaceOrder':
        return command.order.orderId;
      case 'AmendOrder':
      case 'CancelOrder':
        return command.request.requestId;
      case 'SettleTrade':
        return command.trade.tradeId;
      case 'ReleaseOrder':
      case 'ApplyAmend':
      case 'DropAmend':
        return null;
    }
  };
  return {
    ...accountDecider,
    decide(command, state) {
      const id = idOf(command);
      if (id !== null && poisoned.has(id)) throw new Error(`simulated account decider defect on ${command.kind} ${id}`);
      return accountDecider.decide(command, state);
    },
  };
}

describe('a request the account decider cannot decide', () => {
  let ts: TestStore;
  const [U1, U2, U3, U4] = [21, 22, 23, 24];
  beforeAll(async () => {
    ts = await createTestStore('faults_risk_answer');
    await seedMarketAndDeposits(ts.store, [1], [U1, U2, U3, U4]);
  });
  afterAll(async () => ts?.close());

  /** The risk handler as a host runs it, with its dead letters kept in `letters`. */
  async function riskHandler(store: EventStore, decider: AccountDecider, letters: DeadLetter[], storeAttempts = 3): Promise<InboxHandler> {
    const handler = createRiskHandler({ ...keptLetterDeps(store, letters, storeAttempts), accountDecider: decider });
    await handler.assigned([]);
    return handler;
  }

  /** Appends a trader's request (or a market fact) to `stream` and returns it as recorded. */
  async function recorded(stream: string, event: NewEvent): Promise<RecordedEvent> {
    await ts.store.appendToStream(stream, [event], { expectedRevision: 'any' });
    return (await ts.store.readStream(stream)).find((e) => e.eventId === event.eventId)!;
  }
  const placeBuy = async (userId: number, quantity = '1') => {
    const p = orderPlaced({ userId, marketId: 1, side: 'buy', price: '100', quantity });
    return { orderId: p.orderId, input: await recorded(p.stream, p.event) };
  };
  const deliver = (handler: InboxHandler, input: RecordedEvent, userId: number) =>
    handler.handle(accountPartition(userId), [inputFromEvent(input, String(userId), accountPartition(userId))]);
  /** The account stream's decisions (the deposits of the seed left out). */
  const decisions = async (userId: number) => (await ts.store.readStream(`account-${userId}`)).filter((e) => e.type !== 'FundsDeposited');
  const balances = async (userId: number) => {
    let s = accountDecider.initialState();
    for (const e of await ts.store.readStream(`account-${userId}`)) s = accountDecider.evolve(s, parseEvent(e.type, 1, e.data), e.metadata);
    return balancesView(s);
  };

  it('dead-letters an order it throws on and rejects it (engine_error), once however often it is redelivered; nothing is reserved', async () => {
    const before = await balances(U1);
    const { orderId, input } = await placeBuy(U1, '2.5');
    const letters: DeadLetter[] = [];
    await deliver(await riskHandler(ts.store, failingAccountDecider(new Set([orderId])), letters), input, U1);

    expect(letters.map((l) => [l.handler, l.reason, l.input.event?.eventId, l.attempts])).toEqual([['risk', 'decider', input.eventId, 2]]);
    const [rejection, ...rest] = await decisions(U1);
    expect(rest).toEqual([]);
    expect(rejection).toMatchObject({
      // the id a decision of this input would have: a second append of it is the store's idempotent retry
      eventId: derivedEventId(input.eventId, `account-${U1}`, 0),
      type: 'OrderRejected',
      data: { orderId, userId: U1, marketId: 1, reason: 'engine_error', rule: 'engine.error', limit: null, observed: null },
      metadata: { causationId: input.eventId, inputPosition: input.globalPosition.toString(), correlationId: input.metadata.correlationId },
    });
    expect(await balances(U1)).toEqual(before);

    // Redelivered to the same kind of handler, to a fresh one, and to one with the defect fixed:
    // the account marks the input applied, so nothing is decided, dead-lettered or appended again.
    const same = await riskHandler(ts.store, failingAccountDecider(new Set([orderId])), letters);
    await deliver(same, input, U1);
    await deliver(same, input, U1);
    await deliver(await riskHandler(ts.store, failingAccountDecider(new Set([orderId])), letters), input, U1);
    await deliver(await riskHandler(ts.store, accountDecider, letters), input, U1);
    expect(letters).toHaveLength(1);
    expect((await decisions(U1)).map((e) => e.eventId)).toEqual([rejection!.eventId]);
  });

  it('after a crash between the dead letter and the append, the redelivered order is answered once', async () => {
    const { orderId, input } = await placeBuy(U2);
    const letters: DeadLetter[] = [];
    // The account append fails as if the process died right after publishing the dead letter.
    const crashing: EventStore = {
      ...ts.store,
      appendToStream: (stream, events, o) => (stream === `account-${U2}` ? Promise.reject(new EventStoreUnavailableError('simulated crash')) : ts.store.appendToStream(stream, events, o)),
    };
    await expect(deliver(await riskHandler(crashing, failingAccountDecider(new Set([orderId])), letters, 1), input, U2)).rejects.toThrow(/stopping rather than skipping/);
    expect(letters.map((l) => l.reason)).toEqual(['decider']);
    expect(await decisions(U2)).toEqual([]);

    // Redelivered (no checkpoint or offset moved past it): dead-lettered again (at least once), answered once.
    const second = await riskHandler(ts.store, failingAccountDecider(new Set([orderId])), letters);
    await deliver(second, input, U2);
    await deliver(second, input, U2);
    expect(letters.map((l) => l.reason)).toEqual(['decider', 'decider']);
    expect((await decisions(U2)).map((e) => [e.type, (e.data as { orderId: string }).orderId, (e.data as { reason: string }).reason])).toEqual([['OrderRejected', orderId, 'engine_error']]);
  });

  it('refuses an amend and a cancel it throws on (engine_error), and answers nothing the account already decided', async () => {
    const { orderId, input } = await placeBuy(U3);
    const letters: DeadLetter[] = [];
    await deliver(await riskHandler(ts.store, accountDecider, letters), input, U3);
    const opened = await balances(U3);
    expect((await decisions(U3)).map((e) => e.type)).toEqual(['OrderAccepted']);
    // The order is open in the account: a redelivery of its placement to a decider that now throws
    // is skipped as applied. No dead letter, and above all no rejection of an open order.
    await deliver(await riskHandler(ts.store, failingAccountDecider(new Set([orderId])), letters), input, U3);
    expect(letters).toEqual([]);

    const amendId = orderId.replace(/^.{8}/, 'aaaaaaaa');
    const cancelId = orderId.replace(/^.{8}/, 'cccccccc');
    const amend = await recorded(`order-${orderId}`, newEvent('OrderAmendRequested', { orderId, userId: U3, marketId: 1, requestId: amendId, newPrice: '101', newQuantity: null, requestedAt: '2025-01-01T00:10:00.000Z' }, U3));
    const cancel = await recorded(`order-${orderId}`, newEvent('OrderCancelRequested', { orderId, userId: U3, marketId: 1, requestId: cancelId, requestedAt: '2025-01-01T00:11:00.000Z' }, U3));
    const handler = await riskHandler(ts.store, failingAccountDecider(new Set([amendId, cancelId])), letters);
    await handler.handle(accountPartition(U3), [amend, cancel].map((e) => inputFromEvent(e, String(U3), accountPartition(U3))));
    expect(letters.map((l) => [l.reason, l.input.event?.type])).toEqual([
      ['decider', 'OrderAmendRequested'],
      ['decider', 'OrderCancelRequested'],
    ]);
    const [, amendAnswer, cancelAnswer, ...rest] = await decisions(U3);
    expect(rest).toEqual([]);
    expect(amendAnswer).toMatchObject({
      eventId: derivedEventId(amend.eventId, `account-${U3}`, 0),
      type: 'OrderAmendRejected',
      data: { orderId, requestId: amendId, reason: 'engine_error', rule: 'engine.error', limit: null, observed: null },
      metadata: { inputPosition: amend.globalPosition.toString() },
    });
    expect(cancelAnswer).toMatchObject({
      eventId: derivedEventId(cancel.eventId, `account-${U3}`, 0),
      type: 'OrderCancelRejected',
      data: { orderId, requestId: cancelId, reason: 'engine_error' },
      metadata: { inputPosition: cancel.globalPosition.toString() },
    });
    // the order keeps its terms and its reservation
    expect(await balances(U3)).toEqual(opened);
  });

  it("answers neither a market fact it throws on (a trade to settle) nor an input that failed its schema", async () => {
    const { orderId, input } = await placeBuy(U4);
    const letters: DeadLetter[] = [];
    await deliver(await riskHandler(ts.store, accountDecider, letters), input, U4);
    const tradeId = orderId.replace(/^.{8}/, 'tttttttt');
    const trade = await recorded(
      'market-1',
      newEvent(
        'TradeExecuted',
        {
          tradeId,
          marketId: 1,
          price: '100',
          quantity: '1',
          takerSide: 'buy',
          takerOrderId: orderId,
          takerUserId: U4,
          makerOrderId: orderId.replace(/^.{8}/, 'mmmmmmmm'),
          makerUserId: U1,
          takerFee: '0.2',
          makerFee: '0.1',
          takerRemainingQuantity: '0',
          makerRemainingQuantity: '0',
          executedAt: '2025-01-01T00:12:00.000Z',
        },
        null,
      ),
    );
    const bad = orderPlaced({ userId: U4, marketId: 1, side: 'buy', price: '100', quantity: '1' });
    (bad.event.data as { quantity: string }).quantity = '-1';
    const badInput = await recorded(bad.stream, bad.event);
    const handler = await riskHandler(ts.store, failingAccountDecider(new Set([tradeId])), letters);
    await handler.handle(accountPartition(U4), [trade, badInput].map((e) => inputFromEvent(e, String(U4), accountPartition(U4))));
    expect(letters.map((l) => [l.reason, l.input.event?.type])).toEqual([
      ['decider', 'TradeExecuted'],
      ['schema', 'OrderPlaced'],
    ]);
    // The trade stays dead-lettered for operators: no refusal of it, no settlement.
    expect((await decisions(U4)).map((e) => e.type)).toEqual(['OrderAccepted']);
  });

  it('dead-letters an input keyed by a user it does not concern, and an event the account inbox does not carry, deciding and answering nothing', async () => {
    const letters: DeadLetter[] = [];
    const handler = await riskHandler(ts.store, accountDecider, letters);
    const before = { u2: await decisions(U2), u3: await decisions(U3) };
    // U3's order and a trade between U3 and U1, both keyed by U2; a book event keyed by U2.
    const { orderId, input } = await placeBuy(U3);
    const trade = await recorded(
      'market-1',
      newEvent(
        'TradeExecuted',
        {
          tradeId: orderId.replace(/^.{8}/, 'kkkkkkkk'),
          marketId: 1,
          price: '100',
          quantity: '1',
          takerSide: 'buy',
          takerOrderId: orderId,
          takerUserId: U3,
          makerOrderId: orderId.replace(/^.{8}/, 'nnnnnnnn'),
          makerUserId: U1,
          takerFee: '0.2',
          makerFee: '0.1',
          takerRemainingQuantity: '0',
          makerRemainingQuantity: '0',
          executedAt: '2025-01-01T00:13:00.000Z',
        },
        null,
      ),
    );
    const rested = await recorded('market-1', newEvent('OrderRested', { orderId, userId: U2, marketId: 1, side: 'buy', price: '100', remainingQuantity: '1' }, null));
    await handler.handle(accountPartition(U2), [input, trade, rested].map((e) => inputFromEvent(e, String(U2), accountPartition(U2))));
    expect(letters.map((l) => [l.reason, l.input.event?.type, l.error.message])).toEqual([
      ['decider', 'OrderPlaced', `input ${input.eventId} for user ${U3} arrived keyed by user ${U2}`],
      ['decider', 'TradeExecuted', `trade ${(trade.data as { tradeId: string }).tradeId} arrived keyed by user ${U2}, not a party`],
      ['decider', 'OrderRested', 'OrderRested is not an account-inbox input'],
    ]);
    // No engine_error answer on either account: the inputs are not U2's, and U3 never got its own.
    expect(await decisions(U2)).toEqual(before.u2);
    expect(await decisions(U3)).toEqual(before.u3);
  });
});

describeWith(getKafka, 'faults in Kafka mode', (tk) => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('faults_kafka');
    await seedMarketAndDeposits(ts.store);
  });
  afterAll(async () => {
    await ts?.close();
    await tk.deleteTopics().catch(() => undefined);
  });

  it('publishes poison inputs to the dead-letter topic keyed as they came, and goes on', async () => {
    const kafka = testKafkaClient(tk.brokers);
    const metrics = engineMetrics();
    const relay = await startRelay({ store: ts.store, kafka, topicPrefix: tk.prefix, checkpoints: await createPostgresCheckpointStore(ts.pool), logger: quietLogger, metrics });
    const engine = await startKafkaEngine({ store: ts.store, kafka, topicPrefix: tk.prefix, clock, logger: quietLogger, metrics, tuning: { poisonAttempts: 2 } });
    try {
      // A schema failure (relayed) and an undecodable message (written straight to the inbox).
      const bad = orderPlaced({ userId: USER_A, marketId: 1, side: 'sell', price: 'x', quantity: '1' });
      await ts.store.appendToStream(bad.stream, [bad.event], { expectedRevision: 'no_stream' });
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: topicName(tk.prefix, 'market-inbox'), messages: [{ key: '1', partition: 0, value: 'not json' }] });
      await producer.disconnect();
      const good = await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '100', quantity: '1' });
      await ts.store.appendToStream('control', [newEvent('KillSwitchReleased', { scope: 'global', marketId: null, userId: null, reason: 'noop', changedBy: 1 }, 1)], { expectedRevision: 'any' });
      const events = await waitForCount(ts.store, 'OrderRested', 1);
      expect(events.find((e) => e.type === 'OrderRested')?.data).toMatchObject({ orderId: good });
      const letters = await collectTopic(kafka, topicName(tk.prefix, 'dead-letter'), (m) => m.length >= 2);
      const byReason: Record<string, KafkaMessage> = Object.fromEntries(letters.map((m) => [m.headers?.reason?.toString() ?? '', m]));
      expect(byReason.schema?.key?.toString()).toBe(String(USER_A));
      expect(byReason.schema?.headers?.eventId?.toString()).toBe(bad.event.eventId);
      expect(byReason.schema?.headers?.attempts?.toString()).toBe('2');
      expect(byReason.decode?.key?.toString()).toBe('1');
      expect(byReason.decode?.value?.toString()).toBe('not json');
      expect(await deadLetterCount(metrics, 'risk', 'schema')).toBe(1);
      expect(await deadLetterCount(metrics, 'execution', 'decode')).toBe(1);
    } finally {
      await engine.stop();
      await relay.stop();
    }
  });
});
