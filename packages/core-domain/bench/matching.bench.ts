/**
 * Matching benchmark: one deterministic seeded flow per scenario through the fast book, the
 * reference book and the npm package `nodejs-order-book`, side by side in one process.
 *
 *   pnpm bench:matching                                   (root script)
 *   BENCH_OPS=300000 BENCH_ROUNDS=5 BENCH_REFERENCE_OPS=20000 pnpm bench:matching
 *
 * Per flow: every engine gets an untimed warm-up pass (JIT); then BENCH_ROUNDS rounds, each
 * running every engine once on a fresh book, interleaved so that load from other processes hits
 * all engines alike. A round reads the clocks once around the whole run: wall ops/s, and ops per
 * CPU-second (process.cpuUsage: user + system time of the process, GC threads included), which a
 * shared machine disturbs far less. Before each run the main thread pauses 150 ms so background
 * GC work left by the previous engine is not billed to the next; the engine order rotates every
 * round. No forced GC between runs: after a forced full GC, V8 shrinks the young generation and
 * the next run pays for it. Then a latency pass with
 * process.hrtime.bigint around every operation (p50/p99/p99.9; the clock pair itself costs the
 * "clock overhead" printed at the top, included in every figure). The reference book is O(n)
 * per operation, so it runs on a prefix of each flow.
 *
 * The goal (fast ≥ 1M ops/s and ≥ 10× nodejs-order-book) is judged on ops per CPU-second of the
 * best round (interference only ever adds time, so the best of several rounds is the least
 * disturbed one; the same statistic for every engine), and also reported on wall-clock best
 * rounds; medians and the load average are printed so a disturbed run shows as such.
 * Prints a table, then `RESULT {json}` as the last line.
 */
import { cpus, loadavg } from 'node:os';
import { OrderBook as NobBook } from 'nodejs-order-book';
import type { LimitOrderOptions } from 'nodejs-order-book';
import { FastBook } from '../src/book/fast-book.ts';
import { ReferenceBook } from '../src/book/reference-book.ts';
import type { BookCommand, OrderBook } from '../src/book/types.ts';
import { cancelHeavyFlow, exchangeCoreFlow } from './flows.ts';
import type { Flow, NobOp } from './flows.ts';

const OPS = Number(process.env.BENCH_OPS ?? 300_000);
const REFERENCE_OPS = Math.min(OPS, Number(process.env.BENCH_REFERENCE_OPS ?? 20_000));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const GOAL_OPS_PER_SEC = 1_000_000;
const GOAL_SPEEDUP = 10;

interface Engine {
  name: string;
  /** Builds a fresh book holding the flow's prefill. */
  prepare(flow: Flow): void;
  /** Runs ops [0, count) of the flow; returns a checksum (events or fills) so no work can be skipped. */
  run(flow: Flow, count: number): number;
  /** Same, timing each operation into `out`. */
  runTimed(flow: Flow, count: number, out: Float64Array): number;
  ops(flow: Flow): number;
}

function ourEngine(name: string, make: () => OrderBook, maxOps: number): Engine {
  let book: OrderBook = make();
  return {
    name,
    prepare(flow) {
      book = make();
      for (const c of flow.prefill) book.execute(c);
    },
    run(flow, count) {
      const ops: BookCommand[] = flow.ops;
      let events = 0;
      for (let i = 0; i < count; i++) events += book.execute(ops[i]!).length;
      return events;
    },
    runTimed(flow, count, out) {
      const ops: BookCommand[] = flow.ops;
      let events = 0;
      for (let i = 0; i < count; i++) {
        const t0 = process.hrtime.bigint();
        events += book.execute(ops[i]!).length;
        out[i] = Number(process.hrtime.bigint() - t0);
      }
      return events;
    },
    ops: (flow) => Math.min(maxOps, flow.ops.length),
  };
}

function nobEngine(): Engine {
  let book = new NobBook();
  const exec = (op: NobOp): number => {
    switch (op.k) {
      case 0:
        return book.limit(op.order as LimitOrderOptions).done.length;
      case 1:
        return book.modify(op.id, op.update).done.length;
      case 2:
        return book.cancel(op.id) === undefined ? 0 : 1;
    }
  };
  return {
    name: 'nodejs-order-book',
    prepare(flow) {
      book = new NobBook();
      for (const op of flow.nobPrefill) exec(op);
    },
    run(flow, count) {
      const ops = flow.nobOps;
      let sum = 0;
      for (let i = 0; i < count; i++) sum += exec(ops[i]!);
      return sum;
    },
    runTimed(flow, count, out) {
      const ops = flow.nobOps;
      let sum = 0;
      for (let i = 0; i < count; i++) {
        const t0 = process.hrtime.bigint();
        sum += exec(ops[i]!);
        out[i] = Number(process.hrtime.bigint() - t0);
      }
      return sum;
    },
    ops: (flow) => flow.nobOps.length,
  };
}

interface Measurement {
  engine: string;
  ops: number;
  /** Operations per CPU-second, best round (the goal's measure) and median round. */
  opsPerCpuSec: number;
  opsPerCpuSecMedian: number;
  /** Wall-clock throughput: best and median round. */
  opsPerSecBest: number;
  opsPerSecMedian: number;
  p50Ns: number;
  p99Ns: number;
  p999Ns: number;
  maxNs: number;
}

/**
 * Blocks the main thread briefly so that V8's background GC work left by the previous run (which
 * process.cpuUsage would bill to the next engine) finishes outside the measured window.
 */
const settle = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 150);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const percentile = (sorted: Float64Array, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

function measureAll(engines: Engine[], flow: Flow): Measurement[] {
  const wall = engines.map(() => [] as number[]);
  const cpu = engines.map(() => [] as number[]);
  for (const e of engines) {
    e.prepare(flow);
    e.run(flow, e.ops(flow));
  }
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order each round so no engine always runs right after the same other one.
    engines.forEach((_, k) => {
      const i = (k + round) % engines.length;
      const e = engines[i]!;
      const count = e.ops(flow);
      e.prepare(flow);
      settle();
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      e.run(flow, count);
      const elapsedNs = Number(process.hrtime.bigint() - t0);
      const c = process.cpuUsage(c0);
      wall[i]!.push((count / elapsedNs) * 1e9);
      cpu[i]!.push((count / (c.user + c.system)) * 1e6);
    });
  }
  return engines.map((e, i) => {
    const count = e.ops(flow);
    e.prepare(flow);
    const lat = new Float64Array(count);
    settle();
    e.runTimed(flow, count, lat);
    lat.sort();
    return {
      engine: e.name,
      ops: count,
      opsPerCpuSec: Math.round(Math.max(...cpu[i]!)),
      opsPerCpuSecMedian: Math.round(median(cpu[i]!)),
      opsPerSecBest: Math.round(Math.max(...wall[i]!)),
      opsPerSecMedian: Math.round(median(wall[i]!)),
      p50Ns: percentile(lat, 0.5),
      p99Ns: percentile(lat, 0.99),
      p999Ns: percentile(lat, 0.999),
      maxNs: lat[lat.length - 1]!,
    };
  });
}

/** Mean book shape over the measured flow (fast book, sampled every 1,000 operations) and trades per op. */
function bookShape(flow: Flow): { restingOrders: number; levels: number; tradesPerOp: number } {
  const book = new FastBook();
  for (const c of flow.prefill) book.execute(c);
  let orders = 0;
  let levels = 0;
  let samples = 0;
  let trades = 0;
  flow.ops.forEach((c, i) => {
    for (const e of book.execute(c)) if (e.kind === 'trade') trades++;
    if (i % 1_000 === 0) {
      const d = book.depth(Number.MAX_SAFE_INTEGER);
      orders += [...d.bids, ...d.asks].reduce((n, l) => n + l.orders, 0);
      levels += d.bids.length + d.asks.length;
      samples++;
    }
  });
  return { restingOrders: Math.round(orders / samples), levels: Math.round(levels / samples), tradesPerOp: Math.round((trades / flow.ops.length) * 1000) / 1000 };
}

/** Median cost of the clock pair wrapped around each operation in the latency pass. */
function clockOverheadNs(): number {
  const out = new Float64Array(200_000);
  for (let i = 0; i < out.length; i++) {
    const t0 = process.hrtime.bigint();
    out[i] = Number(process.hrtime.bigint() - t0);
  }
  return percentile(out.sort(), 0.5);
}

const fmt = (n: number) => n.toLocaleString('en-US');
const pad = (s: string, w: number) => (s.length >= w ? s : ' '.repeat(w - s.length) + s);
const ratio = (a: number, b: number) => Math.round((a / b) * 10) / 10;

function main(): void {
  const load0 = loadavg()[0]!;
  const clock = clockOverheadNs();
  console.log(
    `matching benchmark: node ${process.version}, ${cpus().length} cores, load average ${load0.toFixed(2)}, clock overhead ${clock} ns; ` +
      `${fmt(OPS)} ops per flow (reference book: first ${fmt(REFERENCE_OPS)}), ${ROUNDS} rounds`,
  );
  const flows: Record<string, unknown>[] = [];
  const verdicts: { cpuOps: number; cpuSpeedup: number; wallOps: number; wallSpeedup: number }[] = [];
  for (const makeFlow of [exchangeCoreFlow, cancelHeavyFlow]) {
    const flow = makeFlow(OPS);
    const shape = bookShape(flow);
    const engines = [ourEngine('fast', () => new FastBook(), OPS), ourEngine('reference', () => new ReferenceBook(), REFERENCE_OPS), nobEngine()];
    const ms = measureAll(engines, flow);
    const [fast, reference, nob] = ms as [Measurement, Measurement, Measurement];
    const v = {
      cpuOps: fast.opsPerCpuSec,
      cpuSpeedup: ratio(fast.opsPerCpuSec, nob.opsPerCpuSec),
      wallOps: fast.opsPerSecBest,
      wallSpeedup: ratio(fast.opsPerSecBest, nob.opsPerSecBest),
    };
    verdicts.push(v);
    flows.push({ name: flow.name, description: flow.description, mix: flow.mix, shape, engines: ms, fastVsNob: v, fastVsReferenceCpu: ratio(fast.opsPerCpuSec, reference.opsPerCpuSec) });

    console.log(`\n${flow.name}: ${flow.description}`);
    console.log(`  measured mix ${JSON.stringify(flow.mix)}; book: ~${fmt(shape.restingOrders)} resting orders over ~${fmt(shape.levels)} levels, ${shape.tradesPerOp} trades/op`);
    console.log(`  ${pad('engine', 18)} ${pad('ops', 8)} ${pad('ops/CPU-s', 10)} ${pad('(median)', 10)} ${pad('ops/s best', 11)} ${pad('(median)', 10)} ${pad('p50 ns', 7)} ${pad('p99 ns', 8)} ${pad('p99.9 ns', 10)} ${pad('max ns', 12)}`);
    for (const m of ms)
      console.log(
        `  ${pad(m.engine, 18)} ${pad(fmt(m.ops), 8)} ${pad(fmt(m.opsPerCpuSec), 10)} ${pad(fmt(m.opsPerCpuSecMedian), 10)} ${pad(fmt(m.opsPerSecBest), 11)} ${pad(fmt(m.opsPerSecMedian), 10)} ` +
          `${pad(fmt(m.p50Ns), 7)} ${pad(fmt(m.p99Ns), 8)} ${pad(fmt(m.p999Ns), 10)} ${pad(fmt(m.maxNs), 12)}`,
      );
    console.log(`  fast vs nodejs-order-book: ${v.cpuSpeedup}x per CPU-second (best rounds), ${v.wallSpeedup}x wall-clock (best rounds); fast vs reference: ${ratio(fast.opsPerCpuSec, reference.opsPerCpuSec)}x per CPU-second`);
  }
  const load1 = loadavg()[0]!;
  const min = (f: (v: (typeof verdicts)[number]) => number) => Math.min(...verdicts.map(f));
  const goal = {
    minOpsPerSec: GOAL_OPS_PER_SEC,
    minSpeedupVsNob: GOAL_SPEEDUP,
    cpu: { fastMinOpsPerSec: min((v) => v.cpuOps), fastMinSpeedup: min((v) => v.cpuSpeedup), met: min((v) => v.cpuOps) >= GOAL_OPS_PER_SEC && min((v) => v.cpuSpeedup) >= GOAL_SPEEDUP },
    wall: { fastMinOpsPerSec: min((v) => v.wallOps), fastMinSpeedup: min((v) => v.wallSpeedup), met: min((v) => v.wallOps) >= GOAL_OPS_PER_SEC && min((v) => v.wallSpeedup) >= GOAL_SPEEDUP },
    judgedOn: 'ops per CPU-second, best of the rounds',
    met: min((v) => v.cpuOps) >= GOAL_OPS_PER_SEC && min((v) => v.cpuSpeedup) >= GOAL_SPEEDUP,
    loadAverage: [Number(load0.toFixed(2)), Number(load1.toFixed(2))],
  };
  if (Math.max(load0, load1) > cpus().length)
    console.log(`\nnote: load average ${load0.toFixed(1)} → ${load1.toFixed(1)} on ${cpus().length} cores: other processes compete for the CPU, so wall-clock figures understate every engine.`);
  console.log(
    `\ngoal: fast ≥ ${fmt(GOAL_OPS_PER_SEC)} ops/s and ≥ ${GOAL_SPEEDUP}x nodejs-order-book → ` +
      `per CPU-second (best rounds) ${goal.cpu.met ? 'MET' : 'NOT met'} (min ${fmt(goal.cpu.fastMinOpsPerSec)} ops/s, min ${goal.cpu.fastMinSpeedup}x); ` +
      `wall-clock best rounds ${goal.wall.met ? 'met' : 'not met'} (min ${fmt(goal.wall.fastMinOpsPerSec)} ops/s, min ${goal.wall.fastMinSpeedup}x)`,
  );
  console.log(`RESULT ${JSON.stringify({ bench: 'matching', node: process.version, cores: cpus().length, clockOverheadNs: clock, ops: OPS, referenceOps: REFERENCE_OPS, rounds: ROUNDS, goal, flows })}`);
}

main();
