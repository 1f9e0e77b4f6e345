/**
 * pnpm bench:load — a short whole-system load run: single-node Tradecore on a fresh database, a
 * 20 s ramp (5 geometric steps, BENCH_LOAD_FROM → BENCH_LOAD_TO commands/s, default 100 → 1600) by 100
 * simulated traders from a second process, then the proof (tradectl verify + diff,
 * reconciliation). Prints the step table and, as its last line, `RESULT {json}`. Exit 1 when the
 * proof fails. Extra arguments go to `pnpm loadtest` (e.g. `-- --postgres private`).
 */
import { parseOptions, runLoadtest } from '../src/main.ts';
import { textReport } from '../src/report.ts';

const argv = [
  '--mode',
  'single-node',
  '--ramp',
  process.env.BENCH_LOAD_SECONDS ?? '20',
  '--steps',
  '5',
  '--from',
  process.env.BENCH_LOAD_FROM ?? '100',
  '--to',
  process.env.BENCH_LOAD_TO ?? '1600',
  '--traders',
  '100',
  '--name',
  `bench-load-${Date.now()}`,
  ...process.argv.slice(2).filter((a) => a !== '--'),
];
const { report, exitCode } = await runLoadtest(parseOptions(argv), argv);
console.log(textReport(report));
const peakRow = report.peak && report.peak.index >= 0 ? report.steps[report.peak.index] : undefined;
console.log(
  `RESULT ${JSON.stringify({
    bench: 'load',
    mode: report.mode,
    peakTargetPerS: report.peak?.rate ?? 0,
    peakAcceptedPerS: report.peak?.acceptedRate ?? 0,
    peakP99Ms: peakRow?.latency.p99 ?? null,
    peakLagP99Ms: peakRow?.lag.p99 ?? null,
    overallCommandsPerS: report.overall.commandsPerS,
    p50Ms: report.overall.latency.p50,
    p99Ms: report.overall.latency.p99,
    p999Ms: report.overall.latency.p999,
    lagP99Ms: report.overall.lag.p99,
    proof: report.proof?.ok ?? false,
    failures: report.failures,
  })}`,
);
process.exitCode = exitCode;
