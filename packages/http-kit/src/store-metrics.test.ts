import { createPostgresEventStore, WrongExpectedRevisionError, type NewEvent } from '@tradecore/event-store';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetricsRegistry } from './ops.ts';
import { instrumentEventStore } from './store-metrics.ts';

const event = (id: string, type: string): NewEvent => ({
  eventId: id,
  type,
  data: { n: 1 },
  metadata: { correlationId: 'c', causationId: null, userId: null, occurredAt: '2025-01-01T00:00:00.000Z', schemaVersion: 1 },
});

describe('instrumentEventStore (real PostgreSQL store)', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase('store_metrics');
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('times appends by outcome, counts appended events by type, and leaves the rest of the store as it is', async () => {
    const registry = createMetricsRegistry('test');
    const store = instrumentEventStore(createPostgresEventStore({ pool }), registry);
    await store.ready();
    await store.appendToStream('s-1', [event('00000000-0000-4000-8000-000000000001', 'A'), event('00000000-0000-4000-8000-000000000002', 'B')], { expectedRevision: 'no_stream' });
    await store.appendToStream('account-7', [
      { ...event('00000000-0000-4000-8000-000000000004', 'OrderRejected'), data: { orderId: 'o1', reason: 'insufficient_funds' } },
      { ...event('00000000-0000-4000-8000-000000000005', 'OrderRejected'), data: { orderId: 'o2', reason: 'insufficient_funds' } },
      { ...event('00000000-0000-4000-8000-000000000006', 'OrderCancelRejected'), data: { orderId: 'o3', reason: 'order_not_open' } },
    ]);
    await store.appendToStream('market-1', [{ ...event('00000000-0000-4000-8000-000000000007', 'OrderAmendRejectedByEngine'), data: { orderId: 'o4', reason: 'post_only_would_take' } }]);
    await expect(store.appendToStream('s-1', [event('00000000-0000-4000-8000-000000000003', 'A')], { expectedRevision: 'no_stream' })).rejects.toBeInstanceOf(WrongExpectedRevisionError);
    expect((await store.readStream('s-1')).map((e) => e.type)).toEqual(['A', 'B']);

    const metrics = await registry.getMetricsAsJSON();
    const append = metrics.find((m) => m.name === 'tradecore_event_store_append_seconds')!;
    // A histogram's JSON values carry their series name (_bucket, _sum, _count) beside the labels.
    const count = (outcome: string) =>
      append.values.find((v) => (v as { metricName?: string }).metricName === 'tradecore_event_store_append_seconds_count' && v.labels.outcome === outcome)?.value;
    expect(count('ok')).toBe(3);
    expect(count('conflict')).toBe(1);
    expect(count('error')).toBeUndefined();
    const appended = metrics.find((m) => m.name === 'tradecore_events_appended_total')!;
    expect(Object.fromEntries(appended.values.map((v) => [v.labels.type, v.value]))).toEqual({ A: 1, B: 1, OrderRejected: 2, OrderCancelRejected: 1, OrderAmendRejectedByEngine: 1 });
    const rejections = metrics.find((m) => m.name === 'tradecore_rejections_total')!;
    expect(rejections.values.map((v) => [v.labels.type, v.labels.reason, v.value])).toEqual([
      ['OrderRejected', 'insufficient_funds', 2],
      ['OrderCancelRejected', 'order_not_open', 1],
      ['OrderAmendRejectedByEngine', 'post_only_would_take', 1],
    ]);
    await store.close();
  });
});
