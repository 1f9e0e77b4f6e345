import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresCheckpointStore } from './checkpoints.ts';
import { startInProcessEngine } from './in-process.ts';
import { engineMetrics } from './observability.ts';
import {
  USER_A,
  USER_B,
  allEvents,
  appendOrder,
  countTypes,
  deposit,
  createTestStore,
  newEvent,
  quietLogger,
  seedMarketAndDeposits,
  waitForCount,
  waitFor,
  waitForQuiet,
  type TestStore,
} from './test-support.ts';

const clock = { now: () => new Date('2025-01-02T00:00:00.000Z') };

describe('risk handler (in-process host, real PostgreSQL)', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('risk');
    await seedMarketAndDeposits(ts.store);
  });
  afterAll(async () => ts?.close());

  it('accepts and rejects with derived ids and causal metadata, never decides twice, honours the kill switch from the next event', async () => {
    const metrics = engineMetrics();
    const engine = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, handlers: ['risk'], logger: quietLogger, metrics });
    const ok = await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '100', quantity: '1' });
    const tooBig = await appendOrder(ts.store, { userId: USER_B, marketId: 1, side: 'buy', price: '100', quantity: '1001' });
    let events = await waitForCount(ts.store, 'OrderRejected', 1);
    events = await waitForCount(ts.store, 'OrderAccepted', 1);
    const accepted = events.find((e) => e.type === 'OrderAccepted')!;
    const placed = events.find((e) => e.type === 'OrderPlaced' && (e.data as { orderId: string }).orderId === ok)!;
    expect(accepted.stream).toBe(`account-${USER_A}`);
    expect(accepted.metadata).toMatchObject({
      causationId: placed.eventId,
      correlationId: placed.metadata.correlationId,
      userId: USER_A,
      inputPosition: placed.globalPosition.toString(),
      occurredAt: '2025-01-02T00:00:00.000Z',
    });
    const rejected = events.find((e) => e.type === 'OrderRejected')!;
    expect(rejected.data).toMatchObject({ orderId: tooBig });

    // Kill switch: engaged now, so the next order is rejected.
    await ts.store.appendToStream('control', [newEvent('KillSwitchEngaged', { scope: 'global', marketId: null, userId: null, reason: 'test', changedBy: 1 }, 1)], { expectedRevision: 'any' });
    await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '100', quantity: '1' });
    events = await waitForCount(ts.store, 'OrderRejected', 2);
    expect(events.filter((e) => e.type === 'OrderRejected').map((e) => (e.data as { reason: string }).reason)).toEqual(['max_order_quantity', 'kill_switch']);
    await engine.stop();

    // Redelivery: replay everything from position 0 — nothing new is decided.
    const before = countTypes(await waitForQuiet(ts.store, 1_000));
    const checkpoints = await createPostgresCheckpointStore(ts.pool);
    const replay = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, handlers: ['risk'], logger: quietLogger, metrics, checkpointName: 'replay-from-zero', checkpoints });
    const head = await ts.store.headPosition();
    await waitFor('replay at head', async () => replay.checkpoint() >= head);
    await waitForQuiet(ts.store, 500);
    await replay.stop();
    expect(countTypes(await allEvents(ts.store))).toEqual(before);
  });

  it('decides again on the fresh account when a deposit lands between two decisions (expected-revision conflict)', async () => {
    await ts.store.appendToStream('control', [newEvent('KillSwitchReleased', { scope: 'global', marketId: null, userId: null, reason: 'test', changedBy: 1 }, 1)], { expectedRevision: 'any' });
    const metrics = engineMetrics();
    const engine = await startInProcessEngine({ store: ts.store, pool: ts.pool, clock, handlers: ['risk'], logger: quietLogger, metrics, checkpointName: 'deposits' });
    const user = 31;
    await ts.store.appendToStream(`account-${user}`, [deposit(user, 'USD', '1')], { expectedRevision: 'no_stream' });
    const poor = await appendOrder(ts.store, { userId: user, marketId: 1, side: 'buy', price: '100', quantity: '1' });
    await waitFor('the first order is rejected', async () => (await ts.store.readStream(`account-${user}`)).some((e) => e.type === 'OrderRejected'));
    // command-api deposits while the risk handler holds the account in its cache.
    await ts.store.appendToStream(`account-${user}`, [deposit(user, 'USD', '1000')], { expectedRevision: 'any' });
    const rich = await appendOrder(ts.store, { userId: user, marketId: 1, side: 'buy', price: '100', quantity: '1' });
    await waitFor('the second order is accepted', async () => (await ts.store.readStream(`account-${user}`)).some((e) => e.type === 'OrderAccepted'));
    const decisions = (await ts.store.readStream(`account-${user}`)).filter((e) => e.type !== 'FundsDeposited');
    expect(decisions.map((e) => [e.type, (e.data as { orderId: string }).orderId])).toEqual([
      ['OrderRejected', poor],
      ['OrderAccepted', rich],
    ]);
    // The cached account (without the deposit) lost the race on its expected revision and was caught up.
    expect((await metrics.retries.get()).values.find((v) => v.labels.kind === 'conflict')?.value).toBeGreaterThanOrEqual(1);
    await engine.stop();
  });
});
