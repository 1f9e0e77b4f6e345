/**
 * pnpm bench:pipeline — orders/s and latency from OrderPlaced to TradeExecuted through the relay,
 * Kafka, the risk handler and the execution handler, on this machine (real PostgreSQL event store,
 * real Kafka broker).
 *
 * Orders come in pairs — a sell and a buy at the same price from two users in one of
 * BENCH_MARKETS markets — so every pair trades exactly once, whatever the interleaving.
 *
 * Phase 0, warm-up (single mode): BENCH_WARMUP orders (default 4,000; 0: none) run through a relay
 * and an engine started for them alone, which are stopped once every warm-up order is settled.
 * An engine serves for hours; the phases below measure this process with its code compiled by the
 * JIT, not the first seconds of a cold process (with a cold process, a 10,000-order drain used
 * about 11 % more engine CPU per order than a 20,000-order one).
 * Phase 1, capacity: BENCH_DRAIN orders (default 10,000) are appended (the command-api's
 * OrderPlaced appends, BENCH_WRITERS at a time, nothing else running: that is the store's append
 * rate) before the pipeline starts; then relay, risk and execution drain the backlog. Capacity =
 * orders / (last TradeExecuted − first OrderAccepted), database clock.
 * Phase 2, latency: once the drain's settlements are done, BENCH_ORDERS orders (default 4,000)
 * offered open-loop at BENCH_RATE orders/s (default 400) while the pipeline runs. Latency of a trade = its TradeExecuted recordedAt minus
 * the later of its two OrderPlaced recordedAt; p50/p90/p99.
 * BENCH_MODE=processes runs relay, risk and execution as three child processes (default: one);
 * BENCH_RELAY_PROCESS=1 runs only the relay in a child process; BENCH_RELAY_BATCH sets the relay's
 * read batch; BENCH_RELAY_RAW=0 makes the relay read parsed events instead of raw ones. Single mode also reports the handlers' batches during the drain and, for the latency
 * phase, this process's GC pauses and event-loop delay (is a p99 a pause of the engine?).
 *
 * Prints a table, then `RESULT {json}` as the last line. The goal (≥ 5,000 orders/s, p99 ≤ 100 ms)
 * is reported as met or not, with the figures reached.
 */
import { cpuMsBetween, describeMachineSpeed, getKafka, isSkip, measureMachineSpeed, localKafkaBrokerPid, machineCpuMs, postgresBackendCpu, processCpuMs } from '@tradecore/testkit';
import { writeFileSync } from 'node:fs';
import inspector from 'node:inspector';
import type { RecordedEvent } from '@tradecore/event-store';
import os from 'node:os';
import { PerformanceObserver, constants as perfConstants, monitorEventLoopDelay } from 'node:perf_hooks';
import { v5 as uuidv5 } from 'uuid';
import { createPostgresCheckpointStore } from '../src/checkpoints.ts';
import { systemClock } from '../src/ids.ts';
import { startKafkaEngine, type KafkaEngineOptions } from '../src/kafka-engine.ts';
import { engineMetrics, type EngineMetrics } from '../src/observability.ts';
import { startRelay } from '../src/relay.ts';
import { createPostgresSnapshotStore } from '../src/snapshots.ts';
import { TEST_NAMESPACE, createTestStore, deposit, marketListed, quietLogger, spawnEngine, testKafkaClient, type EngineProcess, type TestStore } from '../src/test-support.ts';

const DRAIN = Number(process.env.BENCH_DRAIN ?? 10_000) & ~1;
const WARMUP = Number(process.env.BENCH_WARMUP ?? 4_000) & ~1;
const ORDERS = Number(process.env.BENCH_ORDERS ?? 4_000) & ~1;
const RATE = Number(process.env.BENCH_RATE ?? 400);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 32);
const USERS = Number(process.env.BENCH_USERS ?? 400) & ~1;
const MARKETS = Number(process.env.BENCH_MARKETS ?? 8);
const MODE = process.env.BENCH_MODE === 'processes' ? 'processes' : 'single';
/** Single mode with BENCH_RELAY_PROCESS=1: the relay runs in a child process, the handlers here. */
const RELAY_PROCESS = MODE === 'single' && process.env.BENCH_RELAY_PROCESS === '1';
/** Events per relay read batch (default: the relay's, 1,000). */
const RELAY_BATCH = process.env.BENCH_RELAY_BATCH ? Number(process.env.BENCH_RELAY_BATCH) : undefined;
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 240_000);
/** BENCH_CPU_PROF=<file.cpuprofile>: a V8 CPU profile of the drain alone (single mode). */
const PROFILE_FILE = process.env.BENCH_CPU_PROF;
/**
 * BENCH_PGSS=1: the drain's statements by total execution time (pg_stat_statements; the server
 * must preload it, e.g. a private cluster started with shared_preload_libraries=pg_stat_statements
 * and pg_stat_statements.track=all to see inside the append function).
 */
const PGSS = process.env.BENCH_PGSS === '1';

async function startProfiler(): Promise<{ stopInto(file: string): Promise<void> }> {
  const session = new inspector.Session();
  session.connect();
  const post = <T>(method: string, params?: object): Promise<T> =>
    new Promise((done, fail) => session.post(method, params ?? {}, (err, result) => (err ? fail(err) : done(result as T))));
  await post('Profiler.enable');
  await post('Profiler.start');
  return {
    async stopInto(file) {
      const { profile } = await post<{ profile: unknown }>('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}
const GOAL = { ordersPerSecond: 5_000, p99Ms: 100 };

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** CPU ms of the local broker started by infra/kafka-local (null when the broker is elsewhere). */
function kafkaBrokerCpuMs(): number | null {
  const pid = localKafkaBrokerPid();
  return pid === null ? null : processCpuMs(pid);
}

/**
 * p50 and p99 of the engine's latency histograms during the latency phase, as the upper bound of
 * the bucket that holds the quantile (the histograms keep buckets, not samples).
 */
async function stageQuantiles(metrics: EngineMetrics): Promise<Record<string, { p50Ms: number | null; p99Ms: number | null; count: number }>> {
  const out: Record<string, { p50Ms: number | null; p99Ms: number | null; count: number }> = {};
  const add = async (label: string, name: string, handler?: string) => {
    const metric = metrics.registry.getSingleMetric(name);
    if (!metric) return;
    const { values } = await metric.get();
    const buckets = values
      .filter((v) => (v as { metricName?: string }).metricName === `${name}_bucket` && (handler === undefined || v.labels.handler === handler))
      .map((v) => ({ le: v.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(v.labels.le), n: v.value }))
      .sort((a, b) => a.le - b.le);
    const count = buckets[buckets.length - 1]?.n ?? 0;
    const q = (p: number): number | null => {
      if (count === 0) return null;
      const b = buckets.find((x) => x.n >= p * count);
      return b && Number.isFinite(b.le) ? b.le * 1000 : null;
    };
    out[label] = { p50Ms: q(0.5), p99Ms: q(0.99), count };
  };
  await add('relay: recorded → acked', 'tradecore_relay_event_age_seconds');
  await add('risk: recorded → handling', 'tradecore_engine_input_age_seconds', 'risk');
  await add('risk: batch', 'tradecore_engine_batch_seconds', 'risk');
  await add('execution: recorded → handling', 'tradecore_engine_input_age_seconds', 'execution');
  await add('execution: batch', 'tradecore_engine_batch_seconds', 'execution');
  return out;
}

async function countType(ts: TestStore, from: bigint, type: string): Promise<number> {
  // A count over the store's table: the benchmark's own progress probe, cheaper than reading events.
  const r = await ts.pool.query<{ n: string }>(`select count(*)::text as n from event_store.events where type = $1 and position > $2::bigint`, [type, from.toString()]);
  return Number(r.rows[0]?.n ?? 0);
}

async function eventsAfter(ts: TestStore, from: bigint): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  let cursor = from;
  for (;;) {
    const page = await ts.store.readAll({ fromPosition: cursor, maxCount: 5_000 });
    out.push(...page);
    if (page.length < 5_000) return out;
    cursor = page[page.length - 1]!.globalPosition;
  }
}

async function waitForType(ts: TestStore, from: bigint, type: string, n: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = await countType(ts, from, type);
    if (c >= n || Date.now() > deadline) return c;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function waitForTrades(ts: TestStore, from: bigint, n: number, timeoutMs: number): Promise<number> {
  return waitForType(ts, from, 'TradeExecuted', n, timeoutMs);
}

async function main(): Promise<void> {
  const tk = await getKafka();
  if (isSkip(tk)) {
    console.log(`pipeline benchmark skipped: ${tk.skip}`);
    console.log(`RESULT ${JSON.stringify({ bench: 'pipeline', skipped: tk.skip })}`);
    return;
  }
  // Before anything of the benchmark runs: the figure that makes runs of different days comparable.
  const speed = measureMachineSpeed();
  console.log(describeMachineSpeed(speed));
  // The store's subscriptions re-poll at most every POLL_MS while older transactions are still open.
  const ts = await createTestStore('bench_pipeline', { pollIntervalMs: Number(process.env.BENCH_POLL_MS ?? 25), poolSize: 24 });
  const kafka = testKafkaClient(tk.brokers, 'bench-pipeline');
  const stops: Array<() => Promise<void>> = [];
  const procs: EngineProcess[] = [];
  // Single mode: the engine's own latency histograms break the hops down (relay, queueing, handling).
  const metrics = engineMetrics();
  try {
    const users = Array.from({ length: USERS }, (_, i) => 1000 + i);
    const markets = Array.from({ length: MARKETS }, (_, i) => i + 1);
    await ts.store.appendToStream('markets', markets.map((m) => marketListed(m)), { expectedRevision: 'no_stream' });
    for (const u of users)
      await ts.store.appendToStream(`account-${u}`, [deposit(u, 'USD', '100000000'), ...markets.map((m) => deposit(u, `M${m}`, '1000000'))], { expectedRevision: 'no_stream' });

    const place = async (i: number, tag: string) => {
      const pair = Math.floor(i / 2);
      const sell = i % 2 === 0;
      const userId = users[(2 * pair + (sell ? 0 : 1)) % USERS]!;
      const marketId = markets[pair % MARKETS]!;
      const orderId = uuidv5(`${tag}-${i}`, TEST_NAMESPACE);
      const at = new Date().toISOString();
      await ts.store.appendToStream(
        `order-${orderId}`,
        [
          {
            eventId: uuidv5(`${tag}-${i}-placed`, TEST_NAMESPACE),
            type: 'OrderPlaced',
            data: { orderId, userId, marketId, side: sell ? 'sell' : 'buy', type: 'limit', timeInForce: 'GTC', price: '100', quantity: '1', postOnly: false, selfTradePrevention: 'cancel_newest', clientOrderId: null, requestHash: 'bench', placedAt: at },
            metadata: { correlationId: orderId, causationId: null, userId, occurredAt: at, schemaVersion: 1 },
          },
        ],
        { expectedRevision: 'no_stream' },
      );
    };
    /** Appends orders [0, n) of `tag`, open loop at `rate` (Infinity: as fast as the writers go). */
    const offer = async (n: number, rate: number, tag: string) => {
      const t0 = performance.now();
      let next = 0;
      let lagMax = 0;
      const writer = async () => {
        for (;;) {
          const i = next++;
          if (i >= n) return;
          if (Number.isFinite(rate)) {
            const wait = t0 + (i * 1000) / rate - performance.now();
            if (wait > 1) await new Promise((r) => setTimeout(r, wait));
            else lagMax = Math.max(lagMax, -wait);
          }
          await place(i, tag);
        }
      };
      await Promise.all(Array.from({ length: WRITERS }, writer));
      return { seconds: (performance.now() - t0) / 1000, lagMaxMs: Math.round(lagMax) };
    };

    // The relay and the engine of this process, as the warm-up and the drain start them.
    const startLocalRelay = async () =>
      startRelay({ store: ts.store, kafka, topicPrefix: tk.prefix, ...(RELAY_BATCH ? { batchSize: RELAY_BATCH } : {}), rawReads: process.env.BENCH_RELAY_RAW !== '0', checkpoints: await createPostgresCheckpointStore(ts.pool), logger: quietLogger, metrics });
    const startLocalEngine = async (onBatch?: KafkaEngineOptions['onBatch']) =>
      startKafkaEngine({ store: ts.store, kafka, topicPrefix: tk.prefix, clock: systemClock, logger: quietLogger, metrics, snapshots: await createPostgresSnapshotStore(ts.pool), ...(onBatch ? { onBatch } : {}) });

    // ---- phase 0: warm-up (single mode) ----
    let warmup: { orders: number; seconds: number } | null = null;
    if (MODE === 'single' && !RELAY_PROCESS && WARMUP > 0) {
      const t0 = performance.now();
      const warmFrom = await ts.store.headPosition();
      const relay = await startLocalRelay();
      const engine = await startLocalEngine();
      try {
        await offer(WARMUP, Number.POSITIVE_INFINITY, 'warmup');
        const settled = await waitForType(ts, warmFrom, 'FillSettled', WARMUP, TIMEOUT_MS);
        if (settled < WARMUP) throw new Error(`warm-up: ${settled} of ${WARMUP} orders settled within ${TIMEOUT_MS} ms`);
      } finally {
        // The next relay and engine resume from the checkpoint and the committed offsets.
        await engine.stop();
        await relay.stop();
      }
      warmup = { orders: WARMUP, seconds: Number(((performance.now() - t0) / 1000).toFixed(1)) };
      metrics.registry.resetMetrics();
    }

    // ---- phase 1: capacity (backlog drain) ----
    const drainFrom = await ts.store.headPosition();
    const preload = await offer(DRAIN, Number.POSITIVE_INFINITY, 'drain');
    const appendRate = Math.round(DRAIN / preload.seconds);
    // Where the drain's CPU goes: this process (relay, risk and execution in single mode), the
    // PostgreSQL backends of the bench database, the local Kafka broker, the whole machine.
    const profiler = MODE === 'single' && PROFILE_FILE ? await startProfiler() : undefined;
    if (PGSS) {
      await ts.pool.query('create extension if not exists pg_stat_statements');
      await ts.pool.query('select pg_stat_statements_reset()');
    }
    const cpuBefore = { node: process.cpuUsage(), pg: await postgresBackendCpu(ts.pool), kafka: kafkaBrokerCpuMs(), machine: machineCpuMs(), at: performance.now() };

    const roleCpuBefore = new Map<string, number | null>();
    // The handlers' batches while the backlog drains (single mode): how many, how large, how long.
    const drainBatches: Record<string, { batches: number; inputs: number; busyMs: number; maxInputs: number }> = {};
    let countBatches = true;
    if (MODE === 'processes') {
      const env = { DATABASE_URL: ts.db.url, KAFKA_BROKERS: tk.brokers.join(','), TOPIC_PREFIX: tk.prefix };
      for (const roles of [['relay'], ['risk'], ['execution']]) {
        const proc = await spawnEngine(roles, env);
        procs.push(proc);
        // Baseline once it is ready: start-up (tsx compiling the sources) is not the drain's work.
        roleCpuBefore.set(roles.join('+'), proc.child.pid === undefined ? null : processCpuMs(proc.child.pid));
      }
      stops.push(async () => {
        for (const p of procs) await p.stop();
      });
    } else if (RELAY_PROCESS) {
      // The relay in a child process, risk and execution here: does the relay's share of this
      // process's CPU limit the drain?
      const env = { DATABASE_URL: ts.db.url, KAFKA_BROKERS: tk.brokers.join(','), TOPIC_PREFIX: tk.prefix };
      const proc = await spawnEngine(['relay'], env);
      procs.push(proc);
      roleCpuBefore.set('relay', proc.child.pid === undefined ? null : processCpuMs(proc.child.pid));
      const engine = await startLocalEngine();
      stops.push(
        async () => {
          for (const p of procs) await p.stop();
        },
        () => engine.stop(),
      );
    } else {
      const relay = await startLocalRelay();
      const engine = await startLocalEngine((b) => {
        if (!countBatches) return;
        const st = (drainBatches[b.handler] ??= { batches: 0, inputs: 0, busyMs: 0, maxInputs: 0 });
        st.batches++;
        st.inputs += b.count;
        st.busyMs += b.endedAt - b.startedAt;
        st.maxInputs = Math.max(st.maxInputs, b.count);
      });
      stops.push(() => relay.stop(), () => engine.stop());
    }
    const drainTrades = await waitForTrades(ts, drainFrom, DRAIN / 2, TIMEOUT_MS);
    countBatches = false;
    // Relay read batches so far (one observation of the relayed-age histogram per batch).
    const relayBatchesInDrain = MODE === 'single' ? ((await stageQuantiles(metrics))['relay: recorded → acked']?.count ?? null) : null;
    // The drain's settlements (one FillSettled per order) still flow through risk after its last
    // trade: measuring latency before they are done would queue the first offered orders behind them.
    await waitForType(ts, drainFrom, 'FillSettled', DRAIN, TIMEOUT_MS);
    const cpuAfter = { node: process.cpuUsage(cpuBefore.node), pg: await postgresBackendCpu(ts.pool), kafka: kafkaBrokerCpuMs(), machine: machineCpuMs(), at: performance.now() };
    if (profiler) await profiler.stopInto(PROFILE_FILE!);
    if (PGSS) {
      const top = await ts.pool.query<{ ms: number; calls: string; rows: string; toplevel: boolean; query: string }>(
        `select round(total_exec_time::numeric)::int as ms, calls::text, rows::text, toplevel,
                left(regexp_replace(query, '\\s+', ' ', 'g'), 110) as query
           from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
          order by total_exec_time desc limit 20`,
      );
      console.log('drain statements (pg_stat_statements, total exec ms, calls, rows, top level):');
      for (const r of top.rows) console.log(`  ${String(r.ms).padStart(6)} ${r.calls.padStart(7)} ${r.rows.padStart(7)} ${r.toplevel ? 'top ' : 'in  '} ${r.query}`);
    }
    const roleCpuAfter = new Map(procs.map((p) => [p.roles.join('+'), p.child.pid === undefined ? null : processCpuMs(p.child.pid)]));
    const perOrder = (ms: number | null): number | null => (ms === null ? null : Number((ms / DRAIN).toFixed(3)));
    const pgMs = cpuMsBetween(cpuBefore.pg, cpuAfter.pg);
    const drainCpu = {
      // In processes mode the engine runs in children: this process only waits.
      nodeMsPerOrder: MODE === 'single' ? perOrder((cpuAfter.node.user + cpuAfter.node.system) / 1000) : null,
      postgresMsPerOrder: perOrder(pgMs),
      // Processes mode: each engine process (relay, risk, execution) on its own.
      perProcessMsPerOrder: Object.fromEntries(
        [...roleCpuBefore].map(([role, before]) => {
          const after = roleCpuAfter.get(role) ?? null;
          return [role, before === null || after === null ? null : perOrder(after - before)];
        }),
      ),
      kafkaMsPerOrder: perOrder(cpuBefore.kafka !== null && cpuAfter.kafka !== null ? cpuAfter.kafka - cpuBefore.kafka : null),
      machineBusyCores:
        cpuBefore.machine && cpuAfter.machine
          ? Number(((cpuAfter.machine.busyMs - cpuBefore.machine.busyMs) / ((cpuAfter.machine.totalMs - cpuBefore.machine.totalMs) / os.cpus().length)).toFixed(2))
          : null,
    };
    const latencyFrom = await ts.store.headPosition();
    const drained = await eventsAfter(ts, drainFrom);
    const firstAccepted = Math.min(...drained.filter((e) => e.type === 'OrderAccepted').map((e) => Date.parse(e.recordedAt)));
    const lastTrade = Math.max(...drained.filter((e) => e.type === 'TradeExecuted').map((e) => Date.parse(e.recordedAt)));
    const capacity = drainTrades >= DRAIN / 2 ? Math.round(DRAIN / ((lastTrade - firstAccepted) / 1000)) : 0;

    // ---- phase 2: latency at an offered rate ----
    metrics.registry.resetMetrics();
    // Pauses of this process while the latency phase runs (single mode: the engine's): the
    // garbage collector's, and the event loop's delay as a whole (GC, long synchronous work).
    const gcPauses: { ms: number; major: boolean }[] = [];
    const gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = ((e as unknown as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind;
        gcPauses.push({ ms: e.duration, major: kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR });
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    const offered = await offer(ORDERS, RATE, 'load');
    const latencyTrades = await waitForTrades(ts, latencyFrom, ORDERS / 2, TIMEOUT_MS);
    loopDelay.disable();
    gcObserver.disconnect();
    const gcSorted = gcPauses.map((g) => g.ms).sort((x, y) => x - y);
    const pauses = {
      gcCount: gcPauses.length,
      gcMajor: gcPauses.filter((g) => g.major).length,
      gcTotalMs: Math.round(gcSorted.reduce((a, b) => a + b, 0)),
      gcMaxMs: Number((gcSorted[gcSorted.length - 1] ?? 0).toFixed(1)),
      gcOver20Ms: gcSorted.filter((x) => x > 20).length,
      loopDelayP99Ms: Number((loopDelay.percentile(99) / 1e6).toFixed(1)),
      loopDelayMaxMs: Number((loopDelay.max / 1e6).toFixed(1)),
    };
    const events = await eventsAfter(ts, latencyFrom);
    const stages = MODE === 'single' ? await stageQuantiles(metrics) : null;
    const placed = new Map<string, RecordedEvent>();
    const accepted = new Map<string, RecordedEvent>();
    for (const e of events) if (e.type === 'OrderPlaced') placed.set((e.data as { orderId: string }).orderId, e);
    for (const e of events) if (e.type === 'OrderAccepted') accepted.set((e.data as { orderId: string }).orderId, e);
    // Where the time goes: OrderPlaced → OrderAccepted (relay, Kafka, risk) and the later
    // OrderAccepted of a pair → TradeExecuted (relay, Kafka, execution).
    const riskHop: number[] = [];
    const executionHop: number[] = [];
    for (const [orderId, a] of accepted) {
      const p = placed.get(orderId);
      if (p) riskHop.push(Date.parse(a.recordedAt) - Date.parse(p.recordedAt));
    }
    const latencies: number[] = [];
    let firstPlaced = Number.POSITIVE_INFINITY;
    let lastDecision = 0;
    for (const e of placed.values()) firstPlaced = Math.min(firstPlaced, Date.parse(e.recordedAt));
    const counts: Record<string, number> = {};
    for (const e of events) {
      counts[e.type] = (counts[e.type] ?? 0) + 1;
      if (e.type === 'TradeExecuted' || e.type === 'OrderRested') lastDecision = Math.max(lastDecision, Date.parse(e.recordedAt));
      if (e.type !== 'TradeExecuted') continue;
      const d = e.data as { takerOrderId: string; makerOrderId: string };
      const a = placed.get(d.takerOrderId);
      const b = placed.get(d.makerOrderId);
      if (a && b) latencies.push(Date.parse(e.recordedAt) - Math.max(Date.parse(a.recordedAt), Date.parse(b.recordedAt)));
      const aa = accepted.get(d.takerOrderId);
      const ba = accepted.get(d.makerOrderId);
      if (aa && ba) executionHop.push(Date.parse(e.recordedAt) - Math.max(Date.parse(aa.recordedAt), Date.parse(ba.recordedAt)));
    }
    latencies.sort((x, y) => x - y);
    riskHop.sort((x, y) => x - y);
    executionHop.sort((x, y) => x - y);
    const hop = (xs: readonly number[]) => ({ p50Ms: percentile(xs, 50), p99Ms: percentile(xs, 99) });
    const sustained = Math.round(Math.min(ORDERS, (counts.OrderRested ?? 0) + latencyTrades) / ((lastDecision - firstPlaced) / 1000));
    const p99 = percentile(latencies, 99);
    const result = {
      bench: 'pipeline',
      mode: MODE,
      storeAppendsPerSecond: appendRate,
      warmup,
      drain: { orders: DRAIN, trades: drainTrades, complete: drainTrades >= DRAIN / 2 },
      ordersPerSecond: capacity,
      drainCpu,
      drainBatches: MODE === 'single' ? { ...drainBatches, relay: relayBatchesInDrain } : null,
      latencyPhase: { orders: ORDERS, offeredRate: RATE, offerSeconds: Number(offered.seconds.toFixed(2)), writerLagMaxMs: offered.lagMaxMs, trades: latencyTrades, complete: latencyTrades >= ORDERS / 2, sustainedOrdersPerSecond: sustained },
      p50Ms: percentile(latencies, 50),
      p90Ms: percentile(latencies, 90),
      p99Ms: p99,
      maxMs: latencies[latencies.length - 1] ?? null,
      hops: { placedToAccepted: hop(riskHop), acceptedToTrade: hop(executionHop) },
      stages,
      pauses,
      goal: GOAL,
      goalMet: capacity >= GOAL.ordersPerSecond && p99 !== null && p99 <= GOAL.p99Ms && latencyTrades >= ORDERS / 2,
      machine: { cpus: os.cpus().length, loadAverage1m: Number(os.loadavg()[0]!.toFixed(1)), node: process.version, speedBestMs: speed.bestMs, speedMedianMs: speed.medianMs },
    };
    console.log('\nPipeline: OrderPlaced → relay → Kafka → risk → Kafka → execution → TradeExecuted');
    console.table({
      'warm-up before the phases (orders, seconds)': { value: warmup ? `${warmup.orders}, ${warmup.seconds}` : 'none' },
      'store appends/s (OrderPlaced alone)': { value: appendRate },
      [`capacity: drain of ${DRAIN} orders (orders/s)`]: { value: capacity },
      [`latency phase: offered (orders/s)`]: { value: RATE },
      'latency phase: sustained (orders/s)': { value: sustained },
      'latency p50 (ms)': { value: result.p50Ms },
      'latency p90 (ms)': { value: result.p90Ms },
      'latency p99 (ms)': { value: result.p99Ms },
      'latency max (ms)': { value: result.maxMs },
      'hop OrderPlaced → OrderAccepted p50 / p99 (ms)': { value: `${result.hops.placedToAccepted.p50Ms} / ${result.hops.placedToAccepted.p99Ms}` },
      'hop OrderAccepted → TradeExecuted p50 / p99 (ms)': { value: `${result.hops.acceptedToTrade.p50Ms} / ${result.hops.acceptedToTrade.p99Ms}` },
      ...(stages
        ? Object.fromEntries(Object.entries(stages).map(([k, v]) => [`stage ${k} p50 / p99 (ms, bucket bound)`, { value: `${v.p50Ms} / ${v.p99Ms}` }]))
        : {}),
      'latency phase: GC pauses (count, major, total ms, max ms, > 20 ms)': {
        value: `${pauses.gcCount}, ${pauses.gcMajor}, ${pauses.gcTotalMs}, ${pauses.gcMaxMs}, ${pauses.gcOver20Ms}`,
      },
      'latency phase: event-loop delay p99 / max (ms)': { value: `${pauses.loopDelayP99Ms} / ${pauses.loopDelayMaxMs}` },
      [`goal ≥ ${GOAL.ordersPerSecond}/s, p99 ≤ ${GOAL.p99Ms} ms`]: { value: result.goalMet ? 'met' : 'not met' },
      'drain CPU per order (ms): engine node / PostgreSQL / Kafka': { value: `${drainCpu.nodeMsPerOrder ?? 'n/a'} / ${drainCpu.postgresMsPerOrder ?? 'n/a'} / ${drainCpu.kafkaMsPerOrder ?? 'n/a'}` },
      ...(MODE === 'processes'
        ? { 'drain CPU per order (ms): relay / risk / execution processes': { value: ['relay', 'risk', 'execution'].map((r) => drainCpu.perProcessMsPerOrder[r] ?? 'n/a').join(' / ') } }
        : {}),
      'drain: machine busy (cores of 2)': { value: drainCpu.machineBusyCores ?? 'n/a' },
      'drain: relay read batches until the last trade': { value: relayBatchesInDrain ?? 'n/a' },
      ...Object.fromEntries(
        Object.entries(drainBatches).map(([h, b]) => [
          `drain: ${h} batches until the last trade (count, mean / max inputs, mean ms)`,
          { value: `${b.batches}, ${Math.round(b.inputs / b.batches)} / ${b.maxInputs}, ${Math.round(b.busyMs / b.batches)}` },
        ]),
      ),
      'load average (1 min)': { value: result.machine.loadAverage1m },
      'machine speed before the run (ms, best / median; lower is faster)': { value: `${speed.bestMs} / ${speed.medianMs}` },
    });
    console.log(`RESULT ${JSON.stringify(result)}`);
  } finally {
    for (const p of procs) if (p.child.exitCode !== null) console.error(`--- ${p.roles.join(',')} exited ${p.child.exitCode}:\n${p.output().slice(-3000)}`);
    for (const s of stops) await s().catch((e: unknown) => console.error('stop failed', e));
    await ts.close();
    await tk.deleteTopics().catch(() => undefined);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
