/**
 * Matching benchmark: one deterministic seeded flow per scenario through the fast book, the
 * reference book and the npm package `nodejs-order-book`, side by side in one process.
 *
 *   pnpm bench:matching                 (root script)
 *   BENCH_OPS=200000 pnpm bench:matching
 *
 * Per engine and flow: an untimed warm-up pass, a throughput pass (one clock read around the
 * whole run: ops/s), and a latency pass (process.hrtime.bigint around every operation:
 * p50/p99/p99.9; the clock read itself adds a few tens of ns). The reference book is O(n) per
 * operation, so it runs on a prefix of each flow. Prints a table, then `RESULT {json}` last.
 */
import { OrderBook as NobBook, Side as NobSide } from 'nodejs-order-book';
import type { LimitOrderOptions } from 'nodejs-order-book';
import { FastBook } from '../src/book/fast-book.ts';
import { ReferenceBook } from '../src/book/reference-book.ts';
import type { BookCommand, OrderBook } from '../src/book/types.ts';
import { cancelHeavyFlow, exchangeCoreFlow } from './flows.ts';
import type { Flow, NobOp } from './flows.ts';

const OPS = Number(process.env.BENCH_OPS ?? 1_000_000);
const REFERENCE_OPS = Math.min(OPS, Number(process.env.BENCH_REFERENCE_OPS ?? 100_000));
const GOAL_OPS_PER_SEC = 1_000_000;
const GOAL_SPEEDUP = 10;

interface Engine {
  name: string;
  /** Builds a fresh book holding the flow's prefill. */
  prepare(flow: Flow): void;
  /** Runs ops [0, count) of the flow; returns a checksum (events or fills) so work cannot be skipped. */
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
      case 0: {
        const options: LimitOrderOptions = {
          id: op.id,
          side: op.side === 'buy' ? NobSide.BUY : NobSide.SELL,
          size: op.size,
          price: op.price,
          timeInForce: op.tif as LimitOrderOptions['timeInForce'],
        };
        return book.limit(options).done.length;
      }
      case 1:
        return book.modify(op.id, { price: op.price, size: op.size }).done.length;
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
  opsPerSec: number;
  p50Ns: number;
  p99Ns: number;
  p999Ns: number;
  maxNs: number;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function measure(engine: Engine, flow: Flow): Measurement {
  const count = engine.ops(flow);
  // Warm-up (JIT) on the same flow, then throughput, then latency; a fresh book each time.
  engine.prepare(flow);
  engine.run(flow, count);
  engine.prepare(flow);
  const t0 = process.hrtime.bigint();
  engine.run(flow, count);
  const elapsedNs = Number(process.hrtime.bigint() - t0);
  engine.prepare(flow);
  const lat = new Float64Array(count);
  engine.runTimed(flow, count, lat);
  lat.sort();
  return {
    engine: engine.name,
    ops: count,
    opsPerSec: Math.round((count / elapsedNs) * 1e9),
    p50Ns: percentile(lat, 0.5),
    p99Ns: percentile(lat, 0.99),
    p999Ns: percentile(lat, 0.999),
    maxNs: lat[lat.length - 1]!,
  };
}

const fmt = (n: number) => n.toLocaleString('en-US');
const pad = (s: string, w: number) => (s.length >= w ? s : ' '.repeat(w - s.length) + s);

function main(): void {
  console.log(`matching benchmark: node ${process.version}, ${OPS.toLocaleString('en-US')} ops per flow (reference book: first ${REFERENCE_OPS.toLocaleString('en-US')})`);
  const results: Record<string, { description: string; mix: Record<string, number>; engines: Measurement[]; fastVsNob: number; fastVsReference: number }> = {};
  for (const makeFlow of [exchangeCoreFlow, cancelHeavyFlow]) {
    const flow = makeFlow(OPS);
    const engines = [
      ourEngine('fast', () => new FastBook(), OPS),
      ourEngine('reference', () => new ReferenceBook(), REFERENCE_OPS),
      nobEngine(),
    ];
    const ms = engines.map((e) => measure(e, flow));
    const [fast, reference, nob] = ms as [Measurement, Measurement, Measurement];
    results[flow.name] = {
      description: flow.description,
      mix: flow.mix,
      engines: ms,
      fastVsNob: Math.round((fast.opsPerSec / nob.opsPerSec) * 10) / 10,
      fastVsReference: Math.round((fast.opsPerSec / reference.opsPerSec) * 10) / 10,
    };
    console.log(`\n${flow.name}: ${flow.description}`);
    console.log(`  prefill ${fmt(flow.prefill.length)} orders; measured mix ${JSON.stringify(flow.mix)}`);
    console.log(`  ${pad('engine', 18)} ${pad('ops', 10)} ${pad('ops/s', 12)} ${pad('p50 ns', 8)} ${pad('p99 ns', 8)} ${pad('p99.9 ns', 9)} ${pad('max ns', 10)}`);
    for (const m of ms)
      console.log(`  ${pad(m.engine, 18)} ${pad(fmt(m.ops), 10)} ${pad(fmt(m.opsPerSec), 12)} ${pad(fmt(m.p50Ns), 8)} ${pad(fmt(m.p99Ns), 8)} ${pad(fmt(m.p999Ns), 9)} ${pad(fmt(m.maxNs), 10)}`);
    console.log(`  fast vs nodejs-order-book: ${results[flow.name]!.fastVsNob}x; fast vs reference: ${results[flow.name]!.fastVsReference}x`);
  }
  const flows = Object.values(results);
  const minFastOps = Math.min(...flows.map((r) => r.engines[0]!.opsPerSec));
  const minSpeedup = Math.min(...flows.map((r) => r.fastVsNob));
  const goal = { minOpsPerSec: GOAL_OPS_PER_SEC, minSpeedupVsNob: GOAL_SPEEDUP, fastMinOpsPerSec: minFastOps, fastMinSpeedupVsNob: minSpeedup, met: minFastOps >= GOAL_OPS_PER_SEC && minSpeedup >= GOAL_SPEEDUP };
  console.log(`\ngoal: fast ≥ ${fmt(GOAL_OPS_PER_SEC)} ops/s and ≥ ${GOAL_SPEEDUP}x nodejs-order-book → ${goal.met ? 'met' : 'NOT met'} (min ${fmt(minFastOps)} ops/s, min ${minSpeedup}x)`);
  console.log(`RESULT ${JSON.stringify({ bench: 'matching', node: process.version, ops: OPS, referenceOps: REFERENCE_OPS, goal, flows: results })}`);
}

main();
