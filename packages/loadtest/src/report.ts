/**
 * Turning a run's raw material (the generator's windows and step totals, resource samples, the
 * proof) into the figures that get reported: per-step and overall tables, time series, memory
 * trend, the chart, text and Markdown.
 */
import { Histogram, summary, type HistogramJson } from './histogram.ts';
import { COLORS, renderChart, type Panel } from './plot.ts';
import type { ProfileSummary } from './profile.ts';
import type { Proof } from './proof.ts';
import type { MachineInfo } from './proc.ts';
import { describeMachineSpeed, type MachineSpeed } from '@tradecore/testkit';
import { findPeak, type PeakCriteria, type Peak } from './ramp.ts';
import { ANSWER_KINDS, type AnswerKind, type DoneMessage, type Kind, type StepTotals, type Window } from './protocol.ts';

export type LatencySummary = ReturnType<typeof summary>;

export interface ResourceSample {
  /** Seconds since the load started. */
  t: number;
  server: { cpuMs: number; rssBytes: number } | null;
  generator: { cpuMs: number; rssBytes: number } | null;
  /** Cumulative CPU of the PostgreSQL backends serving the run's database. */
  postgresCpuMs: number;
  kafkaCpuMs: number | null;
  /** Proportional set size of the PostgreSQL backends serving the run's database (absent in older runs). */
  postgresPssBytes?: number | null;
  /** Resident memory of the Kafka broker's JVM (absent in older runs). */
  kafkaRssBytes?: number | null;
  /** stealMs: older runs' reports lack it (their busyMs included steal). */
  machine: { busyMs: number; stealMs?: number; totalMs: number } | null;
  /** From the server's /metrics, when scraped in this window. */
  heapUsedBytes?: number;
  /** V8's heap as reserved (`nodejs_heap_size_total_bytes`): what the heap keeps of the RSS. */
  heapTotalBytes?: number;
  /** Memory of Buffers and other objects outside the V8 heap (`nodejs_external_memory_bytes`). */
  externalBytes?: number;
  eventLoopP99Ms?: number;
  /** The server's garbage-collection pauses so far, by kind (cumulative). */
  gc?: GcCounters;
  /** 1-minute load average of the machine. */
  loadAvg1?: number;
}

/** Cumulative GC pauses by kind (`minor`, `major`, `incremental`, `weakcb`), from prom-client's `nodejs_gc_duration_seconds`. */
export type GcCounters = Record<string, { count: number; seconds: number; over10ms: number }>;

export type ScrapedMetrics = Pick<ResourceSample, 'heapUsedBytes' | 'heapTotalBytes' | 'externalBytes' | 'eventLoopP99Ms' | 'gc'>;

/** The GC pauses of the server over the load, by kind, and their share of the wall time. */
export interface GcPauses {
  seconds: number;
  kinds: { kind: string; count: number; perSecond: number; totalMs: number; meanMs: number; over10ms: number }[];
  /** Percent of the wall time the server's main thread stood in a GC pause. */
  wallPercent: number;
}

/** The pauses between the first and the last sample of the load that carry GC counters; null without two. */
export function gcPausesOf(resources: readonly ResourceSample[]): GcPauses | null {
  const withGc = resources.filter((r) => r.gc !== undefined);
  const first = withGc[0];
  const last = withGc[withGc.length - 1];
  if (!first?.gc || !last?.gc || last.t <= first.t) return null;
  const seconds = last.t - first.t;
  const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
  let pausedS = 0;
  const kinds = Object.entries(last.gc)
    .map(([kind, end]) => {
      const start = first.gc?.[kind] ?? { count: 0, seconds: 0, over10ms: 0 };
      const count = end.count - start.count;
      const pause = end.seconds - start.seconds;
      pausedS += pause;
      return { kind, count, perSecond: round(count / seconds, 2), totalMs: round(pause * 1000), meanMs: count > 0 ? round((pause * 1000) / count, 2) : 0, over10ms: end.over10ms - start.over10ms };
    })
    .filter((k) => k.count > 0)
    .sort((a, b) => b.totalMs - a.totalMs);
  return { seconds: round(seconds), kinds, wallPercent: round((pausedS / seconds) * 100, 2) };
}

/** One line: each kind's pauses (how many, how often, mean, how many over 10 ms) and the share of wall time. */
export function gcPausesText(g: GcPauses): string {
  const kinds = g.kinds.map((k) => `${k.kind} ${k.count} (${k.perSecond}/s, mean ${k.meanMs} ms, ${k.over10ms} over 10 ms)`).join(', ');
  return `server GC pauses over ${g.seconds} s of load: ${kinds || 'none'}; ${g.wallPercent} % of the wall time`;
}

/** The server's heap (used, and reserved by V8), external memory and event-loop delay, from its /metrics text. */
export function serverMetricsOf(text: string): ScrapedMetrics {
  const gauge = (name: string): number | undefined => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([0-9.e+-]+)`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const lag = gauge('nodejs_eventloop_lag_p99_seconds');
  // prom-client's histogram: _count, _sum and the le="0.01" bucket per kind (labels in any order).
  const gc: GcCounters = {};
  const entry = (kind: string) => (gc[kind] ??= { count: 0, seconds: 0, over10ms: 0 });
  const within10ms = new Map<string, number>();
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_(count|sum|bucket)\{([^}]*)\}\s+([0-9.e+-]+)/gm)) {
    const labels = m[2] ?? '';
    const kind = /(?:^|,)kind="([^"]*)"/.exec(labels)?.[1];
    if (!kind) continue;
    const value = Number(m[3]);
    if (m[1] === 'count') entry(kind).count = value;
    else if (m[1] === 'sum') entry(kind).seconds = value;
    else if (/(?:^|,)le="0.01"/.test(labels)) within10ms.set(kind, value);
  }
  for (const [kind, c] of Object.entries(gc)) c.over10ms = c.count - (within10ms.get(kind) ?? c.count);
  return {
    heapUsedBytes: gauge('nodejs_heap_size_used_bytes'),
    heapTotalBytes: gauge('nodejs_heap_size_total_bytes'),
    externalBytes: gauge('nodejs_external_memory_bytes'),
    eventLoopP99Ms: lag !== undefined ? lag * 1000 : undefined,
    ...(Object.keys(gc).length > 0 ? { gc } : {}),
  };
}

export interface SeriesPoint {
  t: number;
  offeredPerS: number;
  acceptedPerS: number;
  /** 202 + 409 (a 409 is the right answer to amending or cancelling an order that is already final). */
  answeredPerS: number;
  p50: number | null;
  p99: number | null;
  lagP50: number | null;
  lagP99: number | null;
  /** Lag percentiles over the trailing 10 s (the lag is sampled, so one second holds few samples). */
  lagP50_10s: number | null;
  lagP99_10s: number | null;
  /** Log → read-model lag of the second's 202s (every one of them); null in older runs. */
  logLagP99?: number | null;
  serverRssMB: number | null;
  generatorRssMB: number | null;
  serverHeapMB: number | null;
  /** V8's reserved heap and the external memory (null in older runs). */
  serverHeapTotalMB?: number | null;
  serverExternalMB?: number | null;
  /** The run's PostgreSQL backends (PSS) and the Kafka broker (RSS); null or absent where not sampled. */
  postgresPssMB?: number | null;
  kafkaRssMB?: number | null;
  serverCpuPct: number | null;
  generatorCpuPct: number | null;
  postgresCpuPct: number | null;
  kafkaCpuPct: number | null;
  machineBusyPct: number | null;
  /** CPU the hypervisor took from this machine, % of the machine (null in older runs). */
  machineStealPct?: number | null;
  loadAvg1: number | null;
  eventLoopP99Ms: number | null;
}

export interface StepRow {
  label: string;
  rate: number;
  seconds: number;
  offered: number;
  accepted: number;
  acceptedPerS: number;
  placesPerS: number;
  shed: number;
  errors: number;
  conflicts: number;
  latency: LatencySummary;
  service: LatencySummary;
  /** The step's latency of each kind of 202 and of the 409s (null: not recorded). */
  latencyByAnswer?: Record<AnswerKind, LatencySummary> | null;
  lag: LatencySummary;
  lagTimeouts: number;
  /** 202 → the projection's commit of its position, every 202 (null: not measured). */
  logLag: LatencySummary | null;
  /** Cores the hypervisor took during the step, mean of its seconds (null: not measured). */
  steal?: number | null;
  ok: boolean;
  reasons: string[];
}

export interface MemoryTrend {
  firstMB: number;
  lastMB: number;
  maxMB: number;
  /** Least-squares slope over the second half of the load, MB per minute. */
  slopeMBPerMin: number;
}

/**
 * The server's heap after garbage collection, minute by minute: the lowest heap-used sample of each
 * minute of the load. Heap peaks follow the allocation rate; the floor is what stays reachable, so
 * a floor that climbs is memory kept per order (a leak, or a cache filling up).
 */
export interface HeapFloor {
  perMinuteMB: number[];
  /** Least-squares slope of the per-minute floors, MB per minute (0 with fewer than two minutes). */
  slopeMBPerMin: number;
}

export interface CpuBreakdown {
  wallSeconds: number;
  /** Cores used on average (1.0 = one core busy) by each part, over the load phase. */
  server: number;
  generator: number;
  postgres: number;
  kafka: number | null;
  machine: number | null;
  /** Machine busy cores not accounted for by the above (other processes on the box). */
  other: number | null;
  /** Cores the hypervisor took (steal): wanted by this machine, run elsewhere. Null in older runs. */
  steal?: number | null;
  /** Mean and max 1-minute load average during the load. */
  loadAverage: { mean: number; max: number } | null;
  /**
   * CPU milliseconds per answered command during the load (server, PostgreSQL, Kafka, generator):
   * a cost that contention inflates less than latency, and what capacity follows from.
   */
  msPerCommand: { server: number; postgres: number; kafka: number | null; generator: number } | null;
}

export interface RunReport {
  name: string;
  mode: 'single-node' | 'full';
  kind: 'ramp' | 'soak';
  startedAt: string;
  machine: MachineInfo;
  /** The fixed calibration work's time before the load (testkit measureMachineSpeed); absent in older reports. */
  machineSpeed?: MachineSpeed;
  loadAverageBefore: number[];
  command: string;
  topology: string;
  setup: { traders: number; markets: string[]; setupSeconds: number; lagSource: string; seed: string };
  steps: StepRow[];
  /** Ramp steps not run because two steps in a row failed. */
  skippedSteps: number;
  peak: (Omit<Peak, 'judged'> & { criteria: PeakCriteria }) | null;
  overall: {
    loadSeconds: number;
    commandsPerS: number;
    placesPerS: number;
    accepted: Record<Kind, number>;
    drainCancels: number;
    errors: number;
    conflicts: number;
    shed: number;
    latency: LatencySummary;
    service: LatencySummary;
    /** Latency of each kind of 202 and of the 409s (null: a run from before it was recorded). */
    latencyByAnswer?: Record<AnswerKind, LatencySummary> | null;
    lag: LatencySummary;
    lagTimeouts: number;
    lagSkipped: number;
    lagReads: number;
    logLag: LatencySummary | null;
    logLagUnresolved: number;
    statuses: Record<string, number>;
    decisions: Record<string, number>;
  };
  cpu: CpuBreakdown;
  /** PostgreSQL's own counters for the run's database over the load (pg_stat_database), per answered command. */
  postgresWork: {
    totals: Record<string, number>;
    perCommand: { transactions: number; rollbacks: number; rowsRead: number; rowsWritten: number; blocksTouched: number };
    /** pg_stat_user_tables over the load phase (reports before 2026-11-27 17:30 UTC: since the database was created). */
    tables?: TableScans[];
  } | null;
  memory: {
    server: MemoryTrend | null;
    generator: MemoryTrend | null;
    serverHeapFloor?: HeapFloor | null;
    /** V8's reserved heap and the external memory of the server (absent in older runs). */
    serverHeapTotal?: MemoryTrend | null;
    serverExternal?: MemoryTrend | null;
    /** The run's PostgreSQL backends (PSS) and the Kafka broker (RSS) (absent in older runs). */
    postgres?: MemoryTrend | null;
    kafka?: MemoryTrend | null;
  };
  /** The server's GC pauses over the load (absent in older runs). */
  gcPauses?: GcPauses | null;
  settleSeconds: number;
  settled: boolean;
  profile: ProfileSummary | null;
  proof: Proof | null;
  goals: { ordersPerS: number; p99Ms: number; lagP99Ms: number; met: { throughput: boolean; p99: boolean; lag: boolean } };
  series: SeriesPoint[];
  errorSamples: string[];
  ok: boolean;
  failures: string[];
}

export const GOALS = { ordersPerS: 2_000, p99Ms: 25, lagP99Ms: 250 };

export function stepRows(steps: readonly StepTotals[], criteria: PeakCriteria): { rows: StepRow[]; peak: Peak } {
  const peak = findPeak(
    steps.map((s) => {
      const lat = Histogram.fromJSON(s.latency);
      const lag = Histogram.fromJSON(s.lag);
      return {
        rate: s.rate,
        seconds: s.seconds,
        offered: s.offered,
        accepted: s.accepted.place + s.accepted.amend + s.accepted.cancel + s.conflicts,
        errors: s.errors,
        p99Ms: lat.count ? lat.percentileMs(99) : null,
        lagP99Ms: lag.count ? lag.percentileMs(99) : null,
      };
    }),
    criteria,
  );
  const rows = steps.map((s, i) => {
    const accepted = s.accepted.place + s.accepted.amend + s.accepted.cancel;
    const j = peak.judged[i]!;
    return {
      label: s.label,
      rate: s.rate,
      seconds: Math.round(s.seconds * 10) / 10,
      offered: s.offered,
      accepted,
      acceptedPerS: s.seconds > 0 ? Math.round(accepted / s.seconds) : 0,
      placesPerS: s.seconds > 0 ? Math.round(s.accepted.place / s.seconds) : 0,
      shed: s.shed,
      errors: s.errors,
      conflicts: s.conflicts,
      latency: summary(Histogram.fromJSON(s.latency)),
      service: summary(Histogram.fromJSON(s.service)),
      latencyByAnswer: s.latencyByAnswer ? answerSummaries(s.latencyByAnswer) : null,
      lag: summary(Histogram.fromJSON(s.lag)),
      lagTimeouts: s.lagTimeouts,
      logLag: s.logLag ? summary(Histogram.fromJSON(s.logLag)) : null,
      ok: j.ok,
      reasons: j.reasons,
    };
  });
  return { rows, peak };
}

function answerSummaries(by: Record<AnswerKind, HistogramJson>): Record<AnswerKind, LatencySummary> {
  return Object.fromEntries(ANSWER_KINDS.map((k) => [k, summary(Histogram.fromJSON(by[k]))])) as Record<AnswerKind, LatencySummary>;
}

export function overallOf(done: DoneMessage) {
  const lat = new Histogram();
  const svc = new Histogram();
  const lag = new Histogram();
  const logLag = new Histogram();
  const byAnswer = Object.fromEntries(ANSWER_KINDS.map((k) => [k, new Histogram()])) as Record<AnswerKind, Histogram>;
  const statuses: Record<string, number> = {};
  let shed = 0;
  let lagTimeouts = 0;
  for (const s of done.steps) {
    lat.merge(Histogram.fromJSON(s.latency));
    if (s.latencyByAnswer) for (const k of ANSWER_KINDS) byAnswer[k].merge(Histogram.fromJSON(s.latencyByAnswer[k]));
    svc.merge(Histogram.fromJSON(s.service));
    lag.merge(Histogram.fromJSON(s.lag));
    if (s.logLag) logLag.merge(Histogram.fromJSON(s.logLag));
    shed += s.shed;
    lagTimeouts += s.lagTimeouts;
    for (const [k, v] of Object.entries(s.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  }
  const a = done.totals.accepted;
  const commands = a.place + a.amend + a.cancel;
  return {
    loadSeconds: Math.round(done.loadSeconds * 10) / 10,
    commandsPerS: done.loadSeconds > 0 ? Math.round(commands / done.loadSeconds) : 0,
    placesPerS: done.loadSeconds > 0 ? Math.round(a.place / done.loadSeconds) : 0,
    accepted: a,
    drainCancels: done.totals.drainAccepted,
    errors: done.totals.errors,
    conflicts: done.totals.conflicts,
    shed,
    latency: summary(lat),
    service: summary(svc),
    latencyByAnswer: done.steps.some((s) => s.latencyByAnswer)
      ? (Object.fromEntries(ANSWER_KINDS.map((k) => [k, summary(byAnswer[k])])) as Record<AnswerKind, LatencySummary>)
      : null,
    lag: summary(lag),
    lagTimeouts,
    lagSkipped: done.lagSkipped,
    lagReads: done.lagReads,
    logLag: done.logLag?.measured ? summary(logLag) : null,
    logLagUnresolved: done.logLag?.unresolved ?? 0,
    statuses,
    decisions: done.decisionsByTag,
  };
}

/**
 * Each step with the steal of its seconds (the steps run back to back from t = 0): a step that
 * failed while the hypervisor took a core says so in its row.
 */
export function withStepSteal(rows: readonly StepRow[], series: readonly SeriesPoint[]): StepRow[] {
  let start = 0;
  return rows.map((row) => {
    const end = start + row.seconds;
    const inStep = series.filter((p) => p.t > start && p.t <= end + 0.05 && p.machineStealPct !== null && p.machineStealPct !== undefined);
    start = end;
    const steal = inStep.length > 0 ? Math.round((inStep.reduce((sum, p) => sum + (p.machineStealPct ?? 0), 0) / inStep.length) * 2) / 100 : null;
    return { ...row, steal };
  });
}

export function seriesOf(windows: readonly Window[], resources: readonly ResourceSample[]): SeriesPoint[] {
  const out: SeriesPoint[] = [];
  let prevT = 0;
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i]!;
    // resources[0] is the sample at the start of the load; resources[i + 1] ends window i.
    const r = resources[i + 1];
    const p = resources[i];
    const dt = Math.max(0.001, w.t - prevT);
    prevT = w.t;
    const lat = Histogram.fromJSON(w.latency);
    const lag = Histogram.fromJSON(w.lag);
    const logLag = w.logLag ? Histogram.fromJSON(w.logLag) : null;
    const lag10 = new Histogram();
    for (let k = i; k >= 0 && windows[k]!.t > w.t - 10; k--) lag10.merge(k === i ? lag : Histogram.fromJSON(windows[k]!.lag));
    const pct = (a: number | null | undefined, b: number | null | undefined, wallS: number) =>
      a === null || a === undefined || b === null || b === undefined ? null : Math.round(((a - b) / (wallS * 1000)) * 1000) / 10;
    const wall = r && p ? Math.max(0.001, r.t - p.t) : dt;
    /** Busy or stolen CPU over the window, % of the whole machine. */
    const ofMachine = (key: 'busyMs' | 'stealMs') => {
      const now = r?.machine?.[key];
      const before = p?.machine?.[key];
      if (!r?.machine || !p?.machine || now === undefined || before === undefined) return null;
      return Math.round(((now - before) / (r.machine.totalMs - p.machine.totalMs || 1)) * 1000) / 10;
    };
    const acc = w.accepted.place + w.accepted.amend + w.accepted.cancel;
    out.push({
      t: w.t,
      offeredPerS: Math.round(w.offered / dt),
      acceptedPerS: Math.round(acc / dt),
      answeredPerS: Math.round((acc + (w.statuses['409'] ?? 0)) / dt),
      p50: lat.count ? Math.round(lat.percentileMs(50) * 100) / 100 : null,
      p99: lat.count ? Math.round(lat.percentileMs(99) * 100) / 100 : null,
      lagP50: lag.count ? Math.round(lag.percentileMs(50) * 10) / 10 : null,
      lagP99: lag.count ? Math.round(lag.percentileMs(99) * 10) / 10 : null,
      lagP50_10s: lag10.count ? Math.round(lag10.percentileMs(50) * 10) / 10 : null,
      lagP99_10s: lag10.count ? Math.round(lag10.percentileMs(99) * 10) / 10 : null,
      logLagP99: logLag?.count ? Math.round(logLag.percentileMs(99) * 10) / 10 : null,
      serverRssMB: mb(r?.server?.rssBytes),
      generatorRssMB: mb(r?.generator?.rssBytes),
      serverHeapMB: mb(r?.heapUsedBytes),
      serverHeapTotalMB: mb(r?.heapTotalBytes),
      serverExternalMB: mb(r?.externalBytes),
      postgresPssMB: mb(r?.postgresPssBytes ?? undefined),
      kafkaRssMB: mb(r?.kafkaRssBytes ?? undefined),
      serverCpuPct: p ? pct(r?.server?.cpuMs, p.server?.cpuMs, wall) : null,
      generatorCpuPct: p ? pct(r?.generator?.cpuMs, p.generator?.cpuMs, wall) : null,
      postgresCpuPct: p ? pct(r?.postgresCpuMs, p.postgresCpuMs, wall) : null,
      kafkaCpuPct: p && r?.kafkaCpuMs !== null ? pct(r?.kafkaCpuMs, p.kafkaCpuMs, wall) : null,
      loadAvg1: r?.loadAvg1 ?? null,
      eventLoopP99Ms: r?.eventLoopP99Ms !== undefined ? Math.round(r.eventLoopP99Ms * 10) / 10 : null,
      machineBusyPct: ofMachine('busyMs'),
      machineStealPct: ofMachine('stealMs'),
    });
  }
  return out;
}

/** Least-squares slope of y over x. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export function memoryTrend(series: readonly SeriesPoint[], pick: (p: SeriesPoint) => number | null): MemoryTrend | null {
  const pts = series.map((p) => [p.t, pick(p)] as const).filter((p): p is readonly [number, number] => p[1] !== null);
  if (pts.length === 0) return null;
  const half = pts.slice(Math.floor(pts.length / 2));
  return {
    firstMB: pts[0]![1],
    lastMB: pts[pts.length - 1]![1],
    maxMB: Math.max(...pts.map((p) => p[1])),
    slopeMBPerMin: Math.round(slope(half) * 60 * 100) / 100,
  };
}

/** Bytes as MB with one decimal; null when not sampled. */
function mb(bytes: number | undefined): number | null {
  return bytes !== undefined ? Math.round(bytes / 1e5) / 10 : null;
}

function trendText(t: MemoryTrend | null | undefined): string {
  return t ? `${t.firstMB} → ${t.lastMB} MB (max ${t.maxMB}, ${t.slopeMBPerMin} MB/min over the second half)` : '-';
}

/**
 * Per-minute floors of `pick` over the series (seconds from 1). A minute with fewer than 30 samples
 * is left out: the series runs a few seconds past the load, and a floor of those seconds (the drain,
 * with the heap not yet collected) is not the load's.
 */
export function heapFloor(series: readonly SeriesPoint[], pick: (p: SeriesPoint) => number | null): HeapFloor | null {
  const floors = new Map<number, { floor: number; samples: number }>();
  for (const p of series) {
    const v = pick(p);
    if (v === null) continue;
    const minute = Math.floor((p.t - 1) / 60);
    const m = floors.get(minute);
    if (!m) floors.set(minute, { floor: v, samples: 1 });
    else {
      m.samples++;
      if (v < m.floor) m.floor = v;
    }
  }
  for (const [minute, m] of floors) if (m.samples < 30) floors.delete(minute);
  if (floors.size === 0) return null;
  const minutes = [...floors.keys()].sort((a, b) => a - b);
  return {
    perMinuteMB: minutes.map((m) => Math.round(floors.get(m)!.floor)),
    slopeMBPerMin: Math.round(slope(minutes.map((m) => [m, floors.get(m)!.floor] as const)) * 100) / 100,
  };
}

export function cpuBreakdown(resources: readonly ResourceSample[], commands = 0): CpuBreakdown {
  const a = resources[0];
  const b = resources[resources.length - 1];
  const la = resources.map((r) => r.loadAvg1).filter((x): x is number => x !== undefined);
  const loadAverage = la.length ? { mean: Math.round((la.reduce((x, y) => x + y, 0) / la.length) * 10) / 10, max: Math.max(...la) } : null;
  if (!a || !b || b.t <= a.t) return { wallSeconds: 0, server: 0, generator: 0, postgres: 0, kafka: null, machine: null, other: null, loadAverage, msPerCommand: null };
  const wall = (b.t - a.t) * 1000;
  const cores = (x: number | null | undefined, y: number | null | undefined) => (x === null || x === undefined || y === null || y === undefined ? null : Math.round(((y - x) / wall) * 100) / 100);
  const server = cores(a.server?.cpuMs, b.server?.cpuMs) ?? 0;
  const generator = cores(a.generator?.cpuMs, b.generator?.cpuMs) ?? 0;
  const postgres = cores(a.postgresCpuMs, b.postgresCpuMs) ?? 0;
  const kafka = cores(a.kafkaCpuMs, b.kafkaCpuMs);
  const machine = cores(a.machine?.busyMs, b.machine?.busyMs);
  const other = machine === null ? null : Math.round((machine - server - generator - postgres - (kafka ?? 0)) * 100) / 100;
  const steal = cores(a.machine?.stealMs, b.machine?.stealMs);
  const per = (x: number | null | undefined, y: number | null | undefined) => (x === null || x === undefined || y === null || y === undefined ? null : Math.round(((y - x) / commands) * 1000) / 1000);
  const msPerCommand =
    commands > 0
      ? { server: per(a.server?.cpuMs, b.server?.cpuMs) ?? 0, postgres: per(a.postgresCpuMs, b.postgresCpuMs) ?? 0, kafka: per(a.kafkaCpuMs, b.kafkaCpuMs), generator: per(a.generator?.cpuMs, b.generator?.cpuMs) ?? 0 }
      : null;
  return { wallSeconds: Math.round(wall / 100) / 10, server, generator, postgres, kafka, machine, other, steal, loadAverage, msPerCommand };
}

export function chartOf(report: Pick<RunReport, 'name' | 'series'>): Buffer {
  const s = report.series;
  const pts = (f: (p: SeriesPoint) => number | null) => s.map((p) => [p.t, f(p)] as const);
  const panels: Panel[] = [
    {
      title: 'command latency (ms, log scale; from the scheduled send time)',
      yLabel: 'ms',
      log: true,
      series: [
        { name: 'p50', color: COLORS.blue, points: pts((p) => p.p50) },
        { name: 'p99', color: COLORS.red, points: pts((p) => p.p99) },
      ],
      hlines: [{ y: GOALS.p99Ms, label: `goal p99 ${GOALS.p99Ms} ms`, color: COLORS.grey }],
    },
    {
      title: 'read-model lag (ms, log scale; p50/p99: 202 to order visible, not pending; purple: 202 to its event projected)',
      yLabel: 'ms',
      log: true,
      series: [
        { name: 'lag p50 (trailing 10 s)', color: COLORS.blue, points: pts((p) => p.lagP50_10s) },
        { name: 'lag p99 (trailing 10 s)', color: COLORS.red, points: pts((p) => p.lagP99_10s) },
        { name: 'log to read model p99 (every 202)', color: COLORS.purple, points: pts((p) => p.logLagP99 ?? null) },
      ],
      hlines: [{ y: GOALS.lagP99Ms, label: `goal p99 ${GOALS.lagP99Ms} ms`, color: COLORS.grey }],
    },
    {
      title: 'commands per second',
      yLabel: 'per s',
      series: [
        { name: 'offered', color: COLORS.grey, points: pts((p) => p.offeredPerS) },
        { name: 'answered 202 or 409', color: COLORS.blue, points: pts((p) => p.answeredPerS) },
        { name: 'accepted (202)', color: COLORS.green, points: pts((p) => p.acceptedPerS) },
      ],
    },
    {
      title: 'memory (MB): resident (PostgreSQL: proportional), server heap used and reserved, external',
      yLabel: 'MB',
      series: [
        { name: 'server rss', color: COLORS.purple, points: pts((p) => p.serverRssMB) },
        { name: 'server heap reserved', color: COLORS.grey, points: pts((p) => p.serverHeapTotalMB ?? null) },
        { name: 'server heap', color: COLORS.blue, points: pts((p) => p.serverHeapMB) },
        { name: 'server external', color: COLORS.green, points: pts((p) => p.serverExternalMB ?? null) },
        { name: 'generator rss', color: COLORS.orange, points: pts((p) => p.generatorRssMB) },
        { name: 'postgres backends pss', color: COLORS.red, points: pts((p) => p.postgresPssMB ?? null) },
        { name: 'kafka rss', color: COLORS.black, points: pts((p) => p.kafkaRssMB ?? null) },
      ],
    },
    {
      title: 'CPU (% of one core)',
      yLabel: '%',
      series: [
        { name: 'server', color: COLORS.purple, points: pts((p) => p.serverCpuPct) },
        { name: 'generator', color: COLORS.orange, points: pts((p) => p.generatorCpuPct) },
        { name: 'postgres', color: COLORS.blue, points: pts((p) => p.postgresCpuPct) },
        { name: 'kafka', color: COLORS.green, points: pts((p) => p.kafkaCpuPct) },
        { name: 'machine busy', color: COLORS.grey, points: pts((p) => (p.machineBusyPct === null ? null : p.machineBusyPct * 2)) },
        { name: 'steal (hypervisor)', color: COLORS.red, points: pts((p) => (p.machineStealPct === null || p.machineStealPct === undefined ? null : p.machineStealPct * 2)) },
      ],
    },
  ];
  return renderChart({ title: report.name, xLabel: 'seconds since the load started', panels });
}

// ---------------------------------------------------------------- text

const f = (v: number | null | undefined, digits = 1) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r, k) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ') + (k === 0 ? `\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : '')).join('\n');
}

export function markdownTable(headers: string[], rows: (string | number)[][]): string {
  return [`| ${headers.join(' | ')} |`, `|${headers.map((_, i) => (i === 0 ? '---' : '--:')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

const STEP_HEADERS = ['step', 'target/s', 'offered', 'accepted/s', 'places/s', 'shed', 'errors', 'p50 ms', 'p99 ms', 'p99.9 ms', 'lag p50', 'lag p99', 'log → rm p50', 'log → rm p99', 'steal', 'ok'];

function stepCells(r: StepRow): (string | number)[] {
  return [
    r.label,
    r.rate,
    r.offered,
    r.acceptedPerS,
    r.placesPerS,
    r.shed,
    r.errors,
    f(r.latency.p50, 2),
    f(r.latency.p99, 1),
    f(r.latency.p999, 1),
    f(r.lag.p50, 0),
    f(r.lag.p99, 0),
    r.logLag ? f(r.logLag.p50, 0) : '-',
    r.logLag ? f(r.logLag.p99, 0) : '-',
    r.steal !== undefined && r.steal !== null ? r.steal.toFixed(2) : '-',
    r.ok ? 'yes' : `no: ${r.reasons.join('; ')}`,
  ];
}

const ANSWER_LABELS: Record<AnswerKind, string> = { place: 'place 202', amend: 'amend 202', cancel: 'cancel 202', refused: '409' };

/** Where the command latency's tail is: each kind of answer's count and percentiles. */
export function latencyByAnswerText(by: Record<AnswerKind, LatencySummary>): string {
  return ANSWER_KINDS.filter((k) => by[k].count > 0)
    .map((k) => `${ANSWER_LABELS[k]} (${by[k].count}) p50 ${f(by[k].p50, 2)} / p99 ${f(by[k].p99, 1)} ms`)
    .join(', ');
}

export function summaryLines(r: RunReport): string[] {
  const o = r.overall;
  const lines = [
    `${r.name}: ${r.mode} ${r.kind}, ${r.setup.traders} traders on ${r.setup.markets.length} markets, ${o.loadSeconds} s of load`,
    `  throughput: ${o.commandsPerS} commands/s accepted (${o.placesPerS} places/s); accepted ${o.accepted.place} places, ${o.accepted.amend} amends, ${o.accepted.cancel} cancels (+${o.drainCancels} drain cancels); ${o.errors} errors, ${o.conflicts} conflicts, ${o.shed} shed`,
    `  command latency: p50 ${f(o.latency.p50, 2)} ms, p99 ${f(o.latency.p99, 1)} ms, p99.9 ${f(o.latency.p999, 1)} ms, max ${f(o.latency.max, 0)} ms (service time p99 ${f(o.service.p99, 1)} ms)`,
    ...(o.latencyByAnswer ? [`  latency by answer: ${latencyByAnswerText(o.latencyByAnswer)}`] : []),
    `  read-model lag (${r.setup.lagSource}, ${o.lag.count} samples): p50 ${f(o.lag.p50, 0)} ms, p99 ${f(o.lag.p99, 0)} ms, max ${f(o.lag.max, 0)} ms, ${o.lagTimeouts} timeouts${o.lagSkipped ? `, ${o.lagSkipped} samples skipped (probe limit)` : ''}`,
    ...(o.logLag
      ? [
          `  log → read-model lag (every 202: its position against the projection's NOTIFY, ${o.logLag.count} samples): p50 ${f(o.logLag.p50, 1)} ms, p99 ${f(o.logLag.p99, 1)} ms, p99.9 ${f(o.logLag.p999, 1)} ms, max ${f(o.logLag.max, 0)} ms${o.logLagUnresolved ? `, ${o.logLagUnresolved} never seen projected` : ''}`,
        ]
      : []),
    `  CPU (cores, average over the load): server ${r.cpu.server}, generator ${r.cpu.generator}, postgres ${r.cpu.postgres}${r.cpu.kafka !== null ? `, kafka ${r.cpu.kafka}` : ''}, whole machine ${r.cpu.machine ?? '-'} (other processes ${r.cpu.other ?? '-'})${r.cpu.steal !== undefined && r.cpu.steal !== null ? `, taken by the hypervisor (steal) ${r.cpu.steal}` : ''}; load average ${r.cpu.loadAverage ? `${r.cpu.loadAverage.mean} mean, ${r.cpu.loadAverage.max} max` : '-'}`,
    `  CPU per answered command: ${r.cpu.msPerCommand ? `server ${r.cpu.msPerCommand.server} ms, postgres ${r.cpu.msPerCommand.postgres} ms${r.cpu.msPerCommand.kafka !== null ? `, kafka ${r.cpu.msPerCommand.kafka} ms` : ''}, generator ${r.cpu.msPerCommand.generator} ms (the server's includes ${o.lagReads} lag-probe reads)` : '-'}`,
    ...(r.machineSpeed ? [`  ${describeMachineSpeed(r.machineSpeed)}`] : []),
    `  PostgreSQL per answered command: ${r.postgresWork ? `${r.postgresWork.perCommand.transactions} transactions (${r.postgresWork.perCommand.rollbacks} rolled back), ${r.postgresWork.perCommand.rowsRead} rows read, ${r.postgresWork.perCommand.rowsWritten} rows written, ${r.postgresWork.perCommand.blocksTouched} blocks touched` : '-'}`,
    `  memory: server rss ${trendText(r.memory.server)}; generator rss ${r.memory.generator ? `${r.memory.generator.firstMB} → ${r.memory.generator.lastMB} MB (${r.memory.generator.slopeMBPerMin} MB/min)` : '-'}`,
    ...(r.memory.serverHeapFloor ? [`  server heap floor (least heap used) per minute: ${r.memory.serverHeapFloor.perMinuteMB.join(', ')} MB (${r.memory.serverHeapFloor.slopeMBPerMin} MB/min)`] : []),
    ...(r.memory.serverHeapTotal || r.memory.serverExternal
      ? [`  server heap reserved by V8 ${trendText(r.memory.serverHeapTotal)}; external (Buffers) ${trendText(r.memory.serverExternal)}`]
      : []),
    ...(r.memory.postgres || r.memory.kafka
      ? [`  memory: postgres (the run's backends, proportional set size) ${trendText(r.memory.postgres)}; kafka broker rss ${trendText(r.memory.kafka)}`]
      : []),
    ...(r.gcPauses ? [`  ${gcPausesText(r.gcPauses)}`] : []),
    `  settled (read models at the head, nothing pending) ${r.settled ? `in ${r.settleSeconds} s after the load` : `NOT within ${r.settleSeconds} s`}`,
  ];
  if (r.peak) {
    const c = r.peak.criteria;
    lines.push(
      `  peak sustained: ${r.peak.index >= 0 ? `${r.peak.rate}/s target, ${Math.round(r.peak.acceptedRate)}/s accepted (step ${r.peak.index + 1})` : 'no step met the criteria'} — criteria: accepted ≥ ${c.minAcceptedRatio * 100} % of offered, p99 ≤ ${c.maxP99Ms} ms, lag p99 ≤ ${c.maxLagP99Ms} ms, errors ≤ ${c.maxErrorRatio * 100} %${r.skippedSteps ? `; the last ${r.skippedSteps} steps skipped after two failing steps` : ''}`,
    );
    const atPeak = r.peak.index >= 0 ? r.steps[r.peak.index]?.latencyByAnswer : null;
    if (atPeak) lines.push(`  latency by answer at the peak step: ${latencyByAnswerText(atPeak)}`);
  }
  lines.push(
    `  goals (full path on this machine): ≥ ${GOALS.ordersPerS}/s ${r.goals.met.throughput ? 'met' : 'MISSED'}, p99 ≤ ${GOALS.p99Ms} ms ${r.goals.met.p99 ? 'met' : 'MISSED'}, lag p99 ≤ ${GOALS.lagP99Ms} ms ${r.goals.met.lag ? 'met' : 'MISSED'}`,
  );
  if (r.proof) {
    lines.push(`  proof: ${r.proof.ok ? 'PASSED' : 'FAILED'}`);
    lines.push(`    ${r.proof.verify.ok ? 'ok  ' : 'FAIL'} ${r.proof.verify.command} (exit ${r.proof.verify.exitCode}, ${r.proof.verify.seconds} s)`);
    lines.push(`    ${r.proof.diff.ok ? 'ok  ' : 'FAIL'} ${r.proof.diff.command} (exit ${r.proof.diff.exitCode}, ${r.proof.diff.seconds} s)`);
    for (const c of [...r.proof.reconciliation.checks, ...r.proof.completeness]) lines.push(`    ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  } else {
    lines.push('  proof: NOT RUN');
  }
  if (r.failures.length) lines.push(`  run FAILED: ${r.failures.join('; ')}`);
  return lines;
}

export function textReport(r: RunReport): string {
  return [table(STEP_HEADERS, r.steps.map(stepCells)), '', ...summaryLines(r)].join('\n');
}

export function markdownReport(r: RunReport, chartFile: string): string {
  const out = [
    `# ${r.name}`,
    '',
    `\`${r.command}\` — ${r.startedAt}, ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB, load average before ${r.loadAverageBefore.join(' ')}`,
    '',
    ...(r.machineSpeed ? [`The machine before the load: ${describeMachineSpeed(r.machineSpeed)}.`, ''] : []),
    `Topology: ${r.topology}`,
    '',
    markdownTable(STEP_HEADERS, r.steps.map(stepCells)),
    '',
    '```',
    ...summaryLines(r),
    '```',
    '',
    `![latency, lag, throughput, memory, CPU](${chartFile})`,
  ];
  if (r.postgresWork?.tables?.length) {
    out.push('', '## PostgreSQL tables by rows read in sequential scans during the load', '');
    out.push(markdownTable(['table', 'seq scans', 'rows read by seq scans', 'index scans', 'rows inserted'], r.postgresWork.tables.map((t) => [t.table, t.seqScans, t.seqRowsRead, t.indexScans, t.rowsInserted])));
  }
  if (r.profile) {
    out.push('', `## Server CPU profile of the load phase (${r.profile.busyMs} ms busy of ${r.profile.totalMs} ms sampled)`, '');
    out.push(markdownTable(['stage (nearest Tradecore frame)', 'ms', '% of busy'], r.profile.stages.slice(0, 15).map((g) => [g.stage, g.ms, g.pct])));
    out.push('', markdownTable(['package (self time)', 'self ms', '% of busy'], r.profile.groups.slice(0, 15).map((g) => [g.group, g.ms, g.pct])));
    out.push('', markdownTable(['function', 'where', 'self ms', '% of busy'], r.profile.top.map((t) => [t.name, t.where, t.ms, t.pct])));
  }
  return out.join('\n') + '\n';
}

/** One statement of the load phase from pg_stat_statements (--pg-statements). */
export interface StatementStat {
  query: string;
  calls: number;
  totalMs: number;
  rows: number;
}

/** The tables a statement inserts into, updates or deletes from, in the order it names them. */
export function tablesWritten(query: string): string[] {
  const tables: string[] = [];
  for (const m of query.matchAll(/\b(?:insert\s+into|(?<!\bdo\s+)update|delete\s+from)\s+((?:"[^"]+"|\w+)(?:\.(?:"[^"]+"|\w+))?)/gi)) {
    const table = m[1]!.replace(/"/g, '');
    if (!tables.includes(table)) tables.push(table);
  }
  return tables;
}

/** statements.md: calls and execution time per answered command of each statement of the load phase. */
export function statementsMarkdown(stats: readonly StatementStat[], commands: number): string {
  const per = (x: number) => (commands > 0 ? x / commands : 0);
  const totalCalls = stats.reduce((a, x) => a + x.calls, 0);
  const totalMs = stats.reduce((a, x) => a + x.totalMs, 0);
  const out = [
    '# PostgreSQL statements of the load phase (pg_stat_statements, top 60 by execution time)',
    '',
    `${commands} answered commands; these statements: ${per(totalCalls).toFixed(2)} calls and ${(per(totalMs) * 1000).toFixed(0)} µs of execution per command.`,
    '',
    'Execution time is elapsed time inside PostgreSQL (waits for locks, I/O and the CPU included, so on a busy machine it is not CPU time);',
    'statements run inside functions (track = all) appear on their own lines and again inside their caller\'s time.',
    '',
    '| calls/command | µs/command | µs/call | rows/call | statement |',
    '|--:|--:|--:|--:|---|',
  ];
  for (const x of stats) {
    const q = x.query.replace(/\s+/g, ' ').slice(0, 300).replace(/\|/g, '\\|');
    const written = tablesWritten(x.query);
    // A statement of several data-modifying WITH clauses is told apart from its siblings by the
    // tables it writes, which its first 300 characters do not show.
    const label = written.length > 1 ? `writes ${written.join(', ')}: ` : '';
    out.push(`| ${per(x.calls).toFixed(3)} | ${(per(x.totalMs) * 1000).toFixed(1)} | ${x.calls > 0 ? ((x.totalMs / x.calls) * 1000).toFixed(0) : '-'} | ${x.calls > 0 ? (x.rows / x.calls).toFixed(1) : '-'} | ${label}\`${q}\` |`);
  }
  return `${out.join('\n')}\n`;
}

export interface TableScans {
  table: string;
  seqScans: number;
  seqRowsRead: number;
  indexScans: number;
  rowsInserted: number;
}

/**
 * The scans of the load phase alone (setup polls and creates rows too), most rows read by
 * sequential scans first: a table read whole per command shows here, and grows with history.
 */
export function scansDuring(atStart: readonly TableScans[], atEnd: readonly TableScans[], top = 8): TableScans[] {
  const before = new Map(atStart.map((t) => [t.table, t]));
  return atEnd
    .map((t) => {
      const b = before.get(t.table);
      return b
        ? { table: t.table, seqScans: t.seqScans - b.seqScans, seqRowsRead: t.seqRowsRead - b.seqRowsRead, indexScans: t.indexScans - b.indexScans, rowsInserted: t.rowsInserted - b.rowsInserted }
        : t;
    })
    .sort((a, b) => b.seqRowsRead - a.seqRowsRead || b.seqScans - a.seqScans)
    .slice(0, top);
}
