/**
 * pnpm bench:pipeline — orders/s and latency from OrderPlaced to TradeExecuted through the relay,
 * Kafka, the risk handler and the execution handler, on this machine (real PostgreSQL, real Kafka).
 *
 * Load: BENCH_ORDERS orders (default 20,000) offered open-loop at BENCH_RATE orders/s (default
 * 6,000) by BENCH_WRITERS concurrent appenders (the command-api's OrderPlaced appends), in pairs
 * of a sell and a buy at the same price from two users in one of BENCH_MARKETS markets, so every
 * pair trades once whatever the interleaving. Latency of a trade = its TradeExecuted recordedAt
 * minus the later of its two orders' OrderPlaced recordedAt (database clock). Throughput = orders
 * decided (rested or traded) / time from the first OrderPlaced to the last decision.
 * BENCH_MODE=processes runs relay, risk and execution as child processes (default: one process).
 *
 * Prints a table, then `RESULT {json}` as the last line.
 */
import { getKafka, isSkip } from '@tradecore/testkit';
import type { RecordedEvent } from '@tradecore/event-store';
import { v5 as uuidv5 } from 'uuid';
import { createPostgresCheckpointStore } from '../src/checkpoints.ts';
import { systemClock } from '../src/ids.ts';
import { startKafkaEngine } from '../src/kafka-engine.ts';
import { engineMetrics } from '../src/observability.ts';
import { startRelay } from '../src/relay.ts';
import {
  TEST_NAMESPACE,
  allEvents,
  createTestStore,
  deposit,
  marketListed,
  quietLogger,
  spawnEngine,
  testKafkaClient,
  type EngineProcess,
} from '../src/test-support.ts';

const ORDERS = Number(process.env.BENCH_ORDERS ?? 20_000) & ~1;
const RATE = Number(process.env.BENCH_RATE ?? 6_000);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 48);
const USERS = Number(process.env.BENCH_USERS ?? 400) & ~1;
const MARKETS = Number(process.env.BENCH_MARKETS ?? 8);
const MODE = process.env.BENCH_MODE ?? 'single';
/** `full` (default): to TradeExecuted. `risk`: relay + Kafka + risk only, to OrderAccepted. */
const STAGE = process.env.BENCH_STAGE === 'risk' ? 'risk' : 'full';
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 180_000);
const GOAL = { ordersPerSecond: 5_000, p99Ms: 100 };

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function main(): Promise<void> {
  const tk = await getKafka();
  if (isSkip(tk)) {
    console.log(`pipeline benchmark skipped: ${tk.skip}`);
    console.log(`RESULT ${JSON.stringify({ bench: 'pipeline', skipped: tk.skip })}`);
    return;
  }
  const ts = await createTestStore('bench_pipeline');
  const kafka = testKafkaClient(tk.brokers, 'bench-pipeline');
  const stops: Array<() => Promise<void>> = [];
  try {
    const users = Array.from({ length: USERS }, (_, i) => 1000 + i);
    const markets = Array.from({ length: MARKETS }, (_, i) => i + 1);
    await ts.store.appendToStream('markets', markets.map((m) => marketListed(m)), { expectedRevision: 'no_stream' });
    for (const u of users)
      await ts.store.appendToStream(`account-${u}`, [deposit(u, 'USD', '100000000'), ...markets.map((m) => deposit(u, `M${m}`, '1000000'))], { expectedRevision: 'no_stream' });
    const startPosition = await ts.store.headPosition();

    if (MODE === 'processes') {
      const env = { DATABASE_URL: ts.db.url, KAFKA_BROKERS: tk.brokers.join(','), TOPIC_PREFIX: tk.prefix };
      const procs: EngineProcess[] = [];
      for (const roles of STAGE === 'risk' ? [['relay'], ['risk']] : [['relay'], ['risk'], ['execution']]) procs.push(await spawnEngine(roles, env));
      stops.push(async () => {
        for (const p of procs) await p.stop();
      });
    } else {
      const metrics = engineMetrics();
      const relay = await startRelay({ store: ts.store, kafka, topicPrefix: tk.prefix, checkpoints: await createPostgresCheckpointStore(ts.pool), logger: quietLogger, metrics });
      const engine = await startKafkaEngine({ store: ts.store, kafka, topicPrefix: tk.prefix, clock: systemClock, logger: quietLogger, metrics, handlers: STAGE === 'risk' ? ['risk'] : undefined });
      stops.push(() => relay.stop(), () => engine.stop());
    }

    // Warm-up: one pair per market through the whole pipeline (consumer groups joined, caches warm).
    const placedAt: number[] = [];
    const orderAt = () => new Date().toISOString();
    const place = async (i: number, tag: string) => {
      const pair = Math.floor(i / 2);
      const sell = i % 2 === 0;
      const userId = users[(2 * pair + (sell ? 0 : 1)) % USERS]!;
      const marketId = markets[pair % MARKETS]!;
      const orderId = uuidv5(`${tag}-${i}`, TEST_NAMESPACE);
      const at = orderAt();
      await ts.store.appendToStream(
        `order-${orderId}`,
        [
          {
            eventId: uuidv5(`${tag}-${i}-placed`, TEST_NAMESPACE),
            type: 'OrderPlaced',
            data: {
              orderId,
              userId,
              marketId,
              side: sell ? 'sell' : 'buy',
              type: 'limit',
              timeInForce: 'GTC',
              price: '100',
              quantity: '1',
              postOnly: false,
              selfTradePrevention: 'cancel_newest',
              clientOrderId: null,
              requestHash: 'bench',
              placedAt: at,
            },
            metadata: { correlationId: orderId, causationId: null, userId, occurredAt: at, schemaVersion: 1 },
          },
        ],
        { expectedRevision: 'no_stream' },
      );
    };
    for (let i = 0; i < 2 * MARKETS; i++) await place(i, 'warmup');
    const warmDeadline = Date.now() + 60_000;
    const target = STAGE === 'risk' ? 'OrderAccepted' : 'TradeExecuted';
    const perOrder = STAGE === 'risk' ? 1 : 0.5;
    while ((await countType(ts, startPosition, target)) < MARKETS * 2 * perOrder) {
      if (Date.now() > warmDeadline) throw new Error('warm-up trades did not arrive within 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const measureFrom = await ts.store.headPosition();

    // Load: open loop at RATE.
    const t0 = performance.now();
    let next = 0;
    let lateMax = 0;
    const writer = async () => {
      for (;;) {
        const i = next++;
        if (i >= ORDERS) return;
        const due = t0 + (i * 1000) / RATE;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        else lateMax = Math.max(lateMax, -wait);
        await place(i, 'load');
        placedAt[i] = performance.now();
      }
    };
    await Promise.all(Array.from({ length: WRITERS }, writer));
    const offeredSeconds = (performance.now() - t0) / 1000;

    const deadline = Date.now() + TIMEOUT_MS;
    let trades = 0;
    for (;;) {
      trades = await countType(ts, measureFrom, target);
      if (trades >= ORDERS * perOrder || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const events = (await allEvents(ts.store)).filter((e) => e.globalPosition > measureFrom);
    const placed = new Map<string, RecordedEvent>();
    for (const e of events) if (e.type === 'OrderPlaced') placed.set((e.data as { orderId: string }).orderId, e);
    const latencies: number[] = [];
    let firstPlaced = Number.POSITIVE_INFINITY;
    let lastDecision = 0;
    for (const e of placed.values()) firstPlaced = Math.min(firstPlaced, Date.parse(e.recordedAt));
    const counts: Record<string, number> = {};
    for (const e of events) {
      counts[e.type] = (counts[e.type] ?? 0) + 1;
      if (e.type === target || e.type === 'OrderRested') lastDecision = Math.max(lastDecision, Date.parse(e.recordedAt));
      if (e.type === 'OrderAccepted' && STAGE === 'risk') {
        const p = placed.get((e.data as { orderId: string }).orderId);
        if (p) latencies.push(Date.parse(e.recordedAt) - Date.parse(p.recordedAt));
        continue;
      }
      if (e.type !== 'TradeExecuted') continue;
      const d = e.data as { takerOrderId: string; makerOrderId: string };
      const a = placed.get(d.takerOrderId);
      const b = placed.get(d.makerOrderId);
      if (!a || !b) continue;
      latencies.push(Date.parse(e.recordedAt) - Math.max(Date.parse(a.recordedAt), Date.parse(b.recordedAt)));
    }
    latencies.sort((x, y) => x - y);
    const seconds = (lastDecision - firstPlaced) / 1000;
    const ordersPerSecond = Math.round(ORDERS / seconds);
    const result = {
      bench: 'pipeline',
      mode: MODE,
      orders: ORDERS,
      offeredRate: RATE,
      offeredSeconds: Number(offeredSeconds.toFixed(2)),
      writerLagMaxMs: Math.round(lateMax),
      trades,
      stage: STAGE,
      complete: trades >= ORDERS * perOrder,
      ordersPerSecond,
      p50Ms: percentile(latencies, 50),
      p90Ms: percentile(latencies, 90),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies[latencies.length - 1] ?? null,
      events: counts,
      goal: GOAL,
      goalMet: STAGE === 'full' && trades >= ORDERS * perOrder && ordersPerSecond >= GOAL.ordersPerSecond && percentile(latencies, 99) <= GOAL.p99Ms,
      machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    };
    console.log(STAGE === 'risk' ? '\nPipeline (risk stage only): OrderPlaced → relay → Kafka → risk → OrderAccepted' : '\nPipeline: OrderPlaced → relay → Kafka → risk → Kafka → execution → TradeExecuted');
    console.table({
      orders: { value: ORDERS },
      'offered rate (orders/s)': { value: RATE },
      'offer took (s)': { value: result.offeredSeconds },
      [`${target} (expected)`]: { value: `${trades} (${ORDERS * perOrder})` },
      'throughput (orders/s)': { value: ordersPerSecond },
      'latency p50 (ms)': { value: result.p50Ms },
      'latency p90 (ms)': { value: result.p90Ms },
      'latency p99 (ms)': { value: result.p99Ms },
      'latency max (ms)': { value: result.maxMs },
      [`goal ≥ ${GOAL.ordersPerSecond}/s, p99 ≤ ${GOAL.p99Ms} ms`]: { value: result.goalMet ? 'met' : 'not met' },
    });
    console.log(`RESULT ${JSON.stringify(result)}`);
  } finally {
    for (const s of stops) await s().catch((e: unknown) => console.error('stop failed', e));
    await ts.close();
    await tk.deleteTopics().catch(() => undefined);
  }
}

async function countType(ts: Awaited<ReturnType<typeof createTestStore>>, from: bigint, type: string): Promise<number> {
  const r = await ts.pool.query<{ n: string }>(`select count(*)::text as n from event_store.events where type = $1 and position > $2::bigint`, [type, from.toString()]);
  return Number(r.rows[0]?.n ?? 0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
