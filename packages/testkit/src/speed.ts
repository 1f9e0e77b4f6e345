/**
 * How fast this machine runs the kind of work Tradecore's server does, as one figure, so that
 * reports from different days (or machines of the same shape) can be compared. The machines here
 * are virtual and shared: the same benchmark has run 3× slower on one day than on the day before,
 * with the same code. A report that carries this figure shows when that happened.
 *
 * The work is fixed and deterministic: build an event-like object, serialise it, parse it back,
 * hash the text (SHA-256), keep it in a bounded Map. Its digest is returned so a test can check
 * the work is the same on every machine. Run it while the machine is otherwise quiet (before the
 * load); it uses one core.
 */
import { createHash } from 'node:crypto';

export interface MachineSpeed {
  /** Event round trips per run. */
  iterations: number;
  /** Fastest run, ms: the figure to compare (lower is faster). */
  bestMs: number;
  /** Median run, ms: best and median far apart means the machine was not quiet. */
  medianMs: number;
  runs: number;
  /** Chained SHA-256 of every serialised event: equal on every machine for equal iterations. */
  digest: string;
}

function oneRun(iterations: number): { ms: number; digest: string } {
  const kept = new Map<string, unknown>();
  let chain = createHash('sha256');
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const event = {
      eventId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      stream: `order-${i % 997}`,
      type: i % 3 === 0 ? 'OrderPlaced' : i % 3 === 1 ? 'OrderAccepted' : 'TradeExecuted',
      data: { orderId: `o-${i}`, userId: i % 200, marketId: (i % 4) + 1, side: i % 2 === 0 ? 'buy' : 'sell', price: `${100 + (i % 50)}.25`, quantity: `${(i % 9) + 1}.5` },
      metadata: { correlationId: `c-${i}`, causationId: null, schemaVersion: 1 },
      streamRevision: String(i % 7),
      globalPosition: String(i),
    };
    const text = JSON.stringify(event);
    const back = JSON.parse(text) as typeof event;
    const hash = createHash('sha256').update(text).digest('hex');
    kept.set(back.stream, back.data);
    if (kept.size > 512) kept.delete(kept.keys().next().value!);
    chain = chain.update(hash);
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return { ms, digest: chain.digest('hex') };
}

/** Runs the fixed work `runs` times (after one warm-up run) and reports the best and median times. */
export function measureMachineSpeed(options: { iterations?: number; runs?: number } = {}): MachineSpeed {
  const iterations = options.iterations ?? 50_000;
  const runs = Math.max(1, options.runs ?? 5);
  oneRun(Math.min(iterations, 5_000));
  const times: number[] = [];
  let digest = '';
  for (let r = 0; r < runs; r++) {
    const run = oneRun(iterations);
    times.push(run.ms);
    digest = run.digest;
  }
  times.sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return { iterations, bestMs: round(times[0]!), medianMs: round(times[Math.floor((times.length - 1) / 2)]!), runs, digest };
}

/** One line for a report: `machine speed: 412.3 ms best / 430.1 median for 50,000 event round trips (lower is faster)`. */
export function describeMachineSpeed(s: MachineSpeed): string {
  return `machine speed: ${s.bestMs} ms best / ${s.medianMs} ms median of ${s.runs} runs for ${s.iterations.toLocaleString('en-US')} event round trips (JSON, SHA-256, Map; one core; lower is faster)`;
}
