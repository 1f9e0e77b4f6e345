/**
 * Kafka mode end to end, on a real broker and a real PostgreSQL: relay → Kafka → risk → Kafka →
 * execution, then crashes (SIGKILL of a child process) of each component mid-stream, redelivery
 * by seeking the consumer groups back, and two execution handler instances sharing the markets.
 */
import { describeWith, getKafka, type TestKafka } from '@tradecore/testkit';
import type { RecordedEvent } from '@tradecore/event-store';
import type { ConsumerConfig, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresCheckpointStore } from './checkpoints.ts';
import { DEFAULT_FETCH, startKafkaEngine, type KafkaEngine } from './kafka-engine.ts';
import { engineMetrics } from './observability.ts';
import { startRelay, type Relay } from './relay.ts';
import { topicName } from './routing.ts';
import {
  USER_A,
  USER_B,
  allEvents,
  appendOrder,
  countTypes,
  createTestStore,
  quietLogger,
  seedMarketAndDeposits,
  spawnEngine,
  testKafkaClient,
  waitFor,
  waitForCount,
  waitForQuiet,
  type EngineProcess,
  type TestStore,
} from './test-support.ts';

const clock = { now: () => new Date('2025-01-02T00:00:00.000Z') };

/** Users 21..28 (even: sellers, odd: buyers), markets 1..4: N sells rest first, then N buys cross them. */
const SELLERS = [21, 23, 25, 27];
const BUYERS = [22, 24, 26, 28];
const MARKETS = [1, 2, 3, 4];

async function phaseSells(ts: TestStore, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await appendOrder(ts.store, { userId: SELLERS[i % 4]!, marketId: MARKETS[i % 4]!, side: 'sell', price: '100', quantity: '1' });
}
async function phaseBuys(ts: TestStore, n: number, onEach?: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < n; i++) {
    await appendOrder(ts.store, { userId: BUYERS[i % 4]!, marketId: MARKETS[(i + 1) % 4]!, side: 'buy', price: '100', quantity: '1' });
    await onEach?.(i);
  }
}

/** Exactly-once checks: one decision per input, one fill per order and party. */
function assertNoDoubles(events: readonly RecordedEvent[]): void {
  const byCause = new Map<string, number>();
  for (const e of events) {
    if (!e.metadata.causationId || !e.stream.startsWith('account-')) continue;
    const k = `${e.stream}|${e.metadata.causationId}|${e.type}`;
    byCause.set(k, (byCause.get(k) ?? 0) + 1);
  }
  const trades = events.filter((e) => e.type === 'TradeExecuted').map((e) => e.data as { takerOrderId: string; makerOrderId: string });
  expect(new Set(trades.map((t) => t.takerOrderId)).size).toBe(trades.length);
  expect(new Set(trades.map((t) => t.makerOrderId)).size).toBe(trades.length);
  const fills = events.filter((e) => e.type === 'FillSettled').map((e) => `${(e.data as { tradeId: string }).tradeId}|${(e.data as { orderId: string }).orderId}`);
  expect(new Set(fills).size).toBe(fills.length);
  const accepted = events.filter((e) => e.type === 'OrderAccepted').map((e) => (e.data as { orderId: string }).orderId);
  expect(new Set(accepted).size).toBe(accepted.length);
}

describeWith(getKafka, 'Kafka mode: walking skeleton (relay → Kafka → risk → execution)', (tk) => {
  let ts: TestStore;
  let kafka: Kafka;
  let relay: Relay;
  let engine: KafkaEngine;
  beforeAll(async () => {
    ts = await createTestStore('skeleton');
    kafka = testKafkaClient(tk.brokers);
    await seedMarketAndDeposits(ts.store);
  });
  afterAll(async () => {
    await engine?.stop().catch(() => undefined);
    await relay?.stop().catch(() => undefined);
    await ts?.close();
    await tk.deleteTopics().catch(() => undefined);
  });

  it('a resting sell and a crossing buy end in FillSettled on both accounts', async () => {
    const metrics = engineMetrics();
    // The handlers' consumers fetch as DEFAULT_FETCH says (the broker holds a fetch for 64 KiB or 10 ms).
    const consumerConfigs: ConsumerConfig[] = [];
    const consumer = kafka.consumer.bind(kafka);
    kafka.consumer = (config) => (consumerConfigs.push(config), consumer(config));
    relay = await startRelay({ store: ts.store, kafka, topicPrefix: tk.prefix, checkpoints: await createPostgresCheckpointStore(ts.pool), logger: quietLogger, metrics });
    engine = await startKafkaEngine({ store: ts.store, kafka, topicPrefix: tk.prefix, clock, logger: quietLogger, metrics });
    expect(consumerConfigs.map((c) => [c.groupId, c.minBytes, c.maxWaitTimeInMs])).toEqual([
      [`${tk.prefix}tradecore-risk`, DEFAULT_FETCH.minBytes, DEFAULT_FETCH.maxWaitTimeInMs],
      [`${tk.prefix}tradecore-execution`, DEFAULT_FETCH.minBytes, DEFAULT_FETCH.maxWaitTimeInMs],
    ]);
    expect(DEFAULT_FETCH).toEqual({ minBytes: 65_536, maxWaitTimeInMs: 10 });
    const sell = await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '100', quantity: '1' });
    await waitForCount(ts.store, 'OrderRested', 1);
    const buy = await appendOrder(ts.store, { userId: USER_B, marketId: 1, side: 'buy', price: '100', quantity: '1' });
    const events = await waitForCount(ts.store, 'FillSettled', 2);
    expect(events.find((e) => e.type === 'TradeExecuted')?.data).toMatchObject({ takerOrderId: buy, makerOrderId: sell });
    expect(events.filter((e) => e.type === 'FillSettled').map((e) => e.stream).sort()).toEqual([`account-${USER_A}`, `account-${USER_B}`]);
    expect(countTypes(events)).toMatchObject({ OrderPlaced: 2, OrderAccepted: 2, OrderEntered: 2, OrderRested: 1, TradeExecuted: 1, FillSettled: 2 });
  });
});

interface Run {
  ts: TestStore;
  tk: TestKafka;
  procs: Map<string, EngineProcess>;
  env: { DATABASE_URL: string; KAFKA_BROKERS: string; TOPIC_PREFIX: string };
}

async function startRun(tk: TestKafka, name: string): Promise<Run> {
  const ts = await createTestStore(name);
  await seedMarketAndDeposits(ts.store, MARKETS, [...SELLERS, ...BUYERS]);
  const env = { DATABASE_URL: ts.db.url, KAFKA_BROKERS: tk.brokers.join(','), TOPIC_PREFIX: tk.prefix };
  const procs = new Map<string, EngineProcess>();
  for (const role of ['relay', 'risk', 'execution']) procs.set(role, await spawnEngine([role], env));
  return { ts, tk, procs, env };
}

async function endRun(run: Run | undefined): Promise<void> {
  if (!run) return;
  for (const p of run.procs.values()) await p.stop().catch(() => undefined);
  await run.ts.close();
  await run.tk.deleteTopics().catch(() => undefined);
}

const N = 40;

describe('Kafka mode: crashes, redelivery', () => {
  let reference: Record<string, number> | undefined;
  const runs: Run[] = [];
  afterAll(async () => {
    for (const r of runs) await endRun(r);
  });

  describeWith(getKafka, 'reference run without a crash, then a seek back over every offset', (tk) => {
    it('decides every input once; seeking the consumer groups back to the start appends nothing', async () => {
      const run = await startRun(tk, 'crash_ref');
      runs.push(run);
      await phaseSells(run.ts, N);
      await waitForCount(run.ts.store, 'OrderRested', N);
      await phaseBuys(run.ts, N);
      await waitForCount(run.ts.store, 'FillSettled', 2 * N);
      const events = await waitForQuiet(run.ts.store, 1_500);
      reference = countTypes(events);
      expect(reference).toMatchObject({ OrderPlaced: 2 * N, OrderAccepted: 2 * N, OrderRested: N, TradeExecuted: N, FillSettled: 2 * N });
      assertNoDoubles(events);

      // Redeliver: stop the handlers, seek both groups back to offset 0, start them again.
      await run.procs.get('risk')!.stop();
      await run.procs.get('execution')!.stop();
      const kafka = testKafkaClient(tk.brokers);
      const admin = kafka.admin();
      await admin.connect();
      try {
        for (const [group, topic] of [
          ['risk', 'account-inbox'],
          ['execution', 'market-inbox'],
        ] as const) {
          await admin.resetOffsets({ groupId: `${tk.prefix}tradecore-${group}`, topic: topicName(tk.prefix, topic), earliest: true });
        }
        const head = await run.ts.store.headPosition();
        run.procs.set('risk', await spawnEngine(['risk'], run.env));
        run.procs.set('execution', await spawnEngine(['execution'], run.env));
        // Wait until both groups have consumed everything again.
        for (const [group, topic] of [
          ['risk', 'account-inbox'],
          ['execution', 'market-inbox'],
        ] as const) {
          const high = await admin.fetchTopicOffsets(topicName(tk.prefix, topic));
          await waitFor(`${group} caught up after the seek`, async () => {
            const [committed] = await admin.fetchOffsets({ groupId: `${tk.prefix}tradecore-${group}`, topics: [topicName(tk.prefix, topic)] });
            return high.every((h) => h.high === '0' || committed!.partitions.find((p) => p.partition === h.partition)?.offset === h.high);
          }, 60_000, 250);
        }
        expect(await run.ts.store.headPosition()).toBe(head);
        expect(countTypes(await allEvents(run.ts.store))).toEqual(reference);
      } finally {
        await admin.disconnect();
      }
    }, 180_000);
  });

  for (const victim of ['relay', 'risk', 'execution'] as const) {
    describeWith(getKafka, `kill -9 of the ${victim} mid-stream`, (tk) => {
      it(`restarts and ends with the same event counts as the run without a crash`, async () => {
        const run = await startRun(tk, `crash_${victim}`);
        runs.push(run);
        await phaseSells(run.ts, N);
        await waitForCount(run.ts.store, 'OrderRested', N);
        let killedAt = -1;
        await phaseBuys(run.ts, N, async (i) => {
          if (i === Math.floor(N / 3)) {
            await new Promise((r) => setTimeout(r, 150));
            killedAt = (await allEvents(run.ts.store)).filter((e) => e.type === 'TradeExecuted').length;
            await run.procs.get(victim)!.kill9();
            run.procs.set(victim, await spawnEngine([victim], run.env));
          }
        });
        await waitForCount(run.ts.store, 'FillSettled', 2 * N, 90_000);
        const events = await waitForQuiet(run.ts.store, 1_500);
        expect(killedAt).toBeGreaterThanOrEqual(0);
        expect(killedAt).toBeLessThan(N);
        assertNoDoubles(events);
        const counts = countTypes(events);
        expect(counts).toMatchObject({ OrderPlaced: 2 * N, OrderAccepted: 2 * N, OrderRested: N, TradeExecuted: N, FillSettled: 2 * N });
        if (reference) expect(counts).toEqual(reference);
      }, 180_000);
    });
  }
});

describeWith(getKafka, 'Kafka mode: two execution handler instances', (tk) => {
  let ts: TestStore;
  const engines: KafkaEngine[] = [];
  let relay: Relay | undefined;
  beforeAll(async () => {
    ts = await createTestStore('two_exec');
    await seedMarketAndDeposits(ts.store, [1, 2, 3, 4, 5, 6, 7, 8], [...SELLERS, ...BUYERS]);
  });
  afterAll(async () => {
    for (const e of engines) await e.stop().catch(() => undefined);
    await relay?.stop().catch(() => undefined);
    await ts?.close();
    await tk.deleteTopics().catch(() => undefined);
  });

  it('never two owners of a market at once, never a double fill, across a join and a leave', async () => {
    const metrics = engineMetrics();
    const kafka = testKafkaClient(tk.brokers);
    relay = await startRelay({ store: ts.store, kafka, topicPrefix: tk.prefix, checkpoints: await createPostgresCheckpointStore(ts.pool), logger: quietLogger, metrics });
    engines.push(await startKafkaEngine({ store: ts.store, kafka, topicPrefix: tk.prefix, clock, logger: quietLogger, metrics, handlers: ['risk'] }));
    type Interval = { instance: string; partition: number; from: number; to: number };
    const owned: Interval[] = [];
    const processing: Interval[] = [];
    const open = new Map<string, { partitions: readonly number[]; from: number }>();
    const instance = async (id: string) =>
      startKafkaEngine({
        store: ts.store,
        kafka: testKafkaClient(tk.brokers, `exec-${id}`),
        topicPrefix: tk.prefix,
        clock,
        logger: quietLogger,
        metrics,
        handlers: ['execution'],
        sessionTimeoutMs: 6_000,
        onAssignment: (_h, partitions) => open.set(id, { partitions, from: performance.now() }),
        onRevocation: () => {
          const o = open.get(id);
          if (o) for (const p of o.partitions) owned.push({ instance: id, partition: p, from: o.from, to: performance.now() });
          open.delete(id);
        },
        onBatch: (b) => processing.push({ instance: id, partition: b.partition, from: b.startedAt, to: b.endedAt }),
      });
    const x = await instance('x');
    engines.push(x);
    const sells = 64;
    for (let i = 0; i < sells; i++) await appendOrder(ts.store, { userId: SELLERS[i % 4]!, marketId: 1 + (i % 8), side: 'sell', price: '100', quantity: '1' });
    await waitForCount(ts.store, 'OrderRested', sells);
    let y: KafkaEngine | undefined;
    for (let i = 0; i < sells; i++) {
      await appendOrder(ts.store, { userId: BUYERS[i % 4]!, marketId: 1 + ((i + 3) % 8), side: 'buy', price: '100', quantity: '1' });
      if (i === 16) {
        y = await instance('y');
        engines.push(y);
      }
      if (i === 40) {
        await x.stop();
        const o = open.get('x');
        if (o) for (const p of o.partitions) owned.push({ instance: 'x', partition: p, from: o.from, to: performance.now() });
        open.delete('x');
      }
    }
    const events = await waitForCount(ts.store, 'FillSettled', 2 * sells, 90_000);
    await waitForQuiet(ts.store, 1_000);
    expect(y).toBeDefined();
    // Both instances owned partitions at some point, and processed batches.
    expect(new Set(owned.map((o) => o.instance)).size + (open.has('y') ? 1 : 0)).toBeGreaterThanOrEqual(2);
    for (const [id, o] of open) for (const p of o.partitions) owned.push({ instance: id, partition: p, from: o.from, to: performance.now() });
    const overlaps = (list: Interval[]) =>
      list.filter((a) => list.some((b) => b.instance !== a.instance && b.partition === a.partition && a.from < b.to && b.from < a.to));
    expect(overlaps(owned)).toEqual([]);
    expect(overlaps(processing)).toEqual([]);
    expect(new Set(processing.map((p) => p.instance))).toEqual(new Set(['x', 'y']));
    const all = await allEvents(ts.store);
    assertNoDoubles(all);
    expect(countTypes(all)).toMatchObject({ OrderPlaced: 2 * sells, OrderAccepted: 2 * sells, OrderRested: sells, TradeExecuted: sells, FillSettled: 2 * sells });
    void events;
  }, 180_000);
});
