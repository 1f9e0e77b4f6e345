/**
 * Faults: poison inputs are retried with backoff a bounded number of times, then dead-lettered
 * (Kafka topic or engine_dead_letters table), counted and logged, and the handler goes on; an
 * unavailable store stops an ordered handler instead of skipping.
 */
import { describeWith, getKafka } from '@tradecore/testkit';
import { EventStoreUnavailableError, type EventStore } from '@tradecore/event-store';
import type { KafkaMessage } from 'kafkajs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresCheckpointStore } from './checkpoints.ts';
import { startInProcessEngine } from './in-process.ts';
import { startKafkaEngine } from './kafka-engine.ts';
import { engineMetrics } from './observability.ts';
import { startRelay } from './relay.ts';
import { topicName } from './routing.ts';
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
