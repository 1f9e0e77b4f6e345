import { describe, expect, it } from 'vitest';
import { Histogram } from './histogram.ts';
import { cpuBreakdown, gcPausesOf, gcPausesText, heapFloor, latencyByAnswerText, overallOf, markdownTable, memoryTrend, serverMetricsOf, seriesOf, slope, statementsMarkdown, scansDuring, tablesWritten, stepRows, table, withStepSteal, type GcCounters, type ResourceSample, type SeriesPoint, type StepRow } from './report.ts';
import { DEFAULT_CRITERIA } from './ramp.ts';
import type { DoneMessage, StepTotals, Window } from './protocol.ts';

const hist = (ms: number[]) => {
  const h = new Histogram();
  for (const v of ms) h.recordMs(v);
  return h.toJSON();
};

const win = (t: number, accepted: number, lat: number[]): Window => ({
  t,
  step: 0,
  offered: accepted,
  sent: accepted,
  shed: 0,
  accepted: { place: accepted, amend: 0, cancel: 0 },
  statuses: { '202': accepted },
  latency: hist(lat),
  lag: hist([]),
  lagTimeouts: 0,
  inflight: 0,
  backlog: 0,
  cpuMs: 0,
  rssBytes: 0,
});

describe('report arithmetic', () => {
  it('slope is least squares', () => {
    expect(slope([[0, 1], [1, 3], [2, 5]])).toBeCloseTo(2);
    expect(slope([[0, 1]])).toBe(0);
  });

  it('time series align windows with the resource samples that end them', () => {
    const res = [0, 1, 2].map((t) => ({
      t,
      server: { cpuMs: t * 500, rssBytes: 100e6 + t * 1e6 },
      generator: { cpuMs: t * 100, rssBytes: 50e6 },
      postgresCpuMs: t * 250,
      kafkaCpuMs: null,
      machine: { busyMs: t * 1500, stealMs: t * 200, totalMs: t * 2000 },
      ...(t === 1 ? { heapUsedBytes: 80e6, heapTotalBytes: 120e6, externalBytes: 9e6 } : {}),
      ...(t === 2 ? { postgresPssBytes: 210e6, kafkaRssBytes: 640e6 } : {}),
    }));
    const s = seriesOf([win(1, 100, [1, 2, 3]), win(2, 200, [5])], res);
    expect(s).toHaveLength(2);
    expect(s[0]).toMatchObject({ t: 1, acceptedPerS: 100, serverCpuPct: 50, generatorCpuPct: 10, postgresCpuPct: 25, machineBusyPct: 75, machineStealPct: 10, serverRssMB: 101, kafkaCpuPct: null });
    expect(s[0]).toMatchObject({ serverHeapMB: 80, serverHeapTotalMB: 120, serverExternalMB: 9 });
    expect(s[1]).toMatchObject({ serverHeapMB: null, serverHeapTotalMB: null, serverExternalMB: null, postgresPssMB: 210, kafkaRssMB: 640 });
    expect(s[0]).toMatchObject({ postgresPssMB: null, kafkaRssMB: null });
    expect(memoryTrend(s, (p) => p.postgresPssMB ?? null)).toMatchObject({ firstMB: 210, lastMB: 210, maxMB: 210 });
    expect(s[1]!.p50).toBe(5);
    const m = memoryTrend(s, (p) => p.serverRssMB)!;
    expect(m).toMatchObject({ firstMB: 101, lastMB: 102, maxMB: 102 });
    // Two steps of one second each: the first sees the first second's steal, the second the second's.
    const stepped = withStepSteal([{ seconds: 1 }, { seconds: 1 }, { seconds: 1 }] as StepRow[], [{ ...s[0]!, machineStealPct: 10 }, { ...s[1]!, machineStealPct: 30 }]);
    expect(stepped.map((r) => r.steal)).toEqual([0.2, 0.6, null]);
    expect(cpuBreakdown(res, 100)).toMatchObject({ server: 0.5, generator: 0.1, postgres: 0.25, machine: 1.5, other: 0.65, steal: 0.2, loadAverage: null, msPerCommand: { server: 10, postgres: 5, kafka: null, generator: 2 } });
  });

  it('the heap floor is the least heap used of each minute, and its slope per minute', () => {
    const point = (t: number, heap: number | null) => ({ t, serverHeapMB: heap }) as unknown as SeriesPoint;
    // Three minutes of a saw-tooth heap (GC every 10 s) whose floor climbs 5 MB a minute, one
    // second without a sample, then 7 s of drain with a high heap: too short to be a minute.
    const series = Array.from({ length: 180 }, (_, i) => point(i + 1, i === 30 ? null : 50 + 5 * Math.floor(i / 60) + (i % 10) * 20));
    const drain = Array.from({ length: 7 }, (_, i) => point(181 + i, 200));
    expect(heapFloor([...series, ...drain], (p) => p.serverHeapMB)).toEqual({ perMinuteMB: [50, 55, 60], slopeMBPerMin: 5 });
    expect(heapFloor([point(1, null)], (p) => p.serverHeapMB)).toBeNull();
    const oneMinute = Array.from({ length: 40 }, (_, i) => point(i + 1, 80 - (i === 20 ? 10 : 0)));
    expect(heapFloor(oneMinute, (p) => p.serverHeapMB)).toEqual({ perMinuteMB: [70], slopeMBPerMin: 0 });
  });

  it("reads the server's heap, reserved heap, external memory and event-loop delay from its /metrics", () => {
    const text = [
      '# HELP nodejs_heap_size_total_bytes Process heap size from Node.js in bytes.',
      '# TYPE nodejs_heap_size_total_bytes gauge',
      'nodejs_heap_size_total_bytes 251658240',
      'nodejs_heap_size_used_bytes 104857600',
      'nodejs_external_memory_bytes{app="tradecore"} 3.2e7',
      'nodejs_eventloop_lag_p99_seconds 0.0195',
    ].join('\n');
    expect(serverMetricsOf(text)).toEqual({ heapUsedBytes: 104857600, heapTotalBytes: 251658240, externalBytes: 32000000, eventLoopP99Ms: 19.5 });
    expect(serverMetricsOf('nodejs_heap_size_used_bytes 1')).toEqual({ heapUsedBytes: 1, heapTotalBytes: undefined, externalBytes: undefined, eventLoopP99Ms: undefined });
  });

  it("reads the server's GC pauses by kind from prom-client's histogram, and sums those of the load", () => {
    const metrics = (minor: [number, number, number], major: [number, number, number]) =>
      [
        '# TYPE nodejs_gc_duration_seconds histogram',
        `nodejs_gc_duration_seconds_bucket{le="0.001",service="tradecore",kind="minor"} 0`,
        `nodejs_gc_duration_seconds_bucket{le="0.01",service="tradecore",kind="minor"} ${minor[2]}`,
        `nodejs_gc_duration_seconds_bucket{le="0.1",service="tradecore",kind="minor"} ${minor[0]}`,
        `nodejs_gc_duration_seconds_sum{service="tradecore",kind="minor"} ${minor[1]}`,
        `nodejs_gc_duration_seconds_count{service="tradecore",kind="minor"} ${minor[0]}`,
        `nodejs_gc_duration_seconds_bucket{kind="major",le="0.01"} ${major[2]}`,
        `nodejs_gc_duration_seconds_sum{kind="major"} ${major[1]}`,
        `nodejs_gc_duration_seconds_count{kind="major"} ${major[0]}`,
      ].join('\n');
    // The figures of s24-gc-probe's two scrapes (30 s apart at 485/s).
    const start = serverMetricsOf(metrics([6, 0.0722, 3], [1, 0.0049, 1]));
    const end = serverMetricsOf(metrics([78, 0.5129, 72], [9, 0.1169, 4]));
    expect(start.gc).toEqual({ minor: { count: 6, seconds: 0.0722, over10ms: 3 }, major: { count: 1, seconds: 0.0049, over10ms: 0 } });
    expect(end.gc?.major).toEqual({ count: 9, seconds: 0.1169, over10ms: 5 });
    const sample = (t: number, gc: GcCounters | undefined): ResourceSample => ({ t, server: null, generator: null, postgresCpuMs: 0, kafkaCpuMs: null, machine: null, ...(gc ? { gc } : {}) });
    const g = gcPausesOf([sample(0, undefined), sample(10, start.gc), sample(25, undefined), sample(40, end.gc)])!;
    expect(g.seconds).toBe(30);
    expect(g.kinds).toEqual([
      { kind: 'minor', count: 72, perSecond: 2.4, totalMs: 440.7, meanMs: 6.12, over10ms: 3 },
      { kind: 'major', count: 8, perSecond: 0.27, totalMs: 112, meanMs: 14, over10ms: 5 },
    ]);
    expect(g.wallPercent).toBe(1.84);
    expect(gcPausesText(g)).toBe('server GC pauses over 30 s of load: minor 72 (2.4/s, mean 6.12 ms, 3 over 10 ms), major 8 (0.27/s, mean 14 ms, 5 over 10 ms); 1.84 % of the wall time');
    // Without two samples carrying counters there is nothing to say.
    expect(gcPausesOf([sample(0, undefined), sample(10, start.gc)])).toBeNull();
    expect(serverMetricsOf('nodejs_heap_size_used_bytes 1').gc).toBeUndefined();
  });

  it('step rows carry the peak judgement', () => {
    const mk = (rate: number, p99: number): StepTotals => ({
      index: 0,
      label: `r${rate}`,
      rate,
      seconds: 5,
      offered: rate * 5,
      sent: rate * 5,
      shed: 0,
      accepted: { place: rate * 4, amend: rate / 2, cancel: rate / 2 },
      conflicts: 0,
      errors: 0,
      statuses: {},
      latency: hist(Array.from({ length: 200 }, () => p99)),
      service: hist([1]),
      lag: hist([]),
      lagTimeouts: 0,
    });
    const { rows, peak } = stepRows([mk(100, 5), mk(200, 8), mk(300, 500), mk(400, 900)], DEFAULT_CRITERIA);
    expect(peak.rate).toBe(200);
    expect(rows.map((r) => r.ok)).toEqual([true, true, false, false]);
    expect(rows[1]).toMatchObject({ acceptedPerS: 200, placesPerS: 160 });
  });

  it('breaks the command latency down by answer over every step, and leaves it out for runs that did not record it', () => {
    const step = (place: number[], cancel: number[], refused: number[]): StepTotals => ({
      index: 0,
      label: 's',
      rate: 10,
      seconds: 1,
      offered: 10,
      sent: 10,
      shed: 0,
      accepted: { place: place.length, amend: 0, cancel: cancel.length },
      conflicts: refused.length,
      errors: 0,
      statuses: {},
      latency: hist([...place, ...cancel, ...refused]),
      service: hist([1]),
      latencyByAnswer: { place: hist(place), amend: hist([]), cancel: hist(cancel), refused: hist(refused) },
      lag: hist([]),
      lagTimeouts: 0,
    });
    const done = (steps: StepTotals[]): DoneMessage => ({
      type: 'done',
      steps,
      totals: { accepted: { place: 0, amend: 0, cancel: 0 }, drainAccepted: 0, drainOther: {}, errors: 0, conflicts: 0 },
      lagSource: 'off',
      lagSkipped: 0,
      lagReads: 0,
      errorSamples: [],
      decisionsByTag: {},
      loadSeconds: 2,
      skippedSteps: 0,
    });
    const o = overallOf(done([step([2, 2, 2], [30], [1]), step([4], [50, 50], [])]));
    expect(o.latencyByAnswer).not.toBeNull();
    const by = o.latencyByAnswer!;
    expect(by.place.count).toBe(4);
    expect(by.cancel.count).toBe(3);
    expect(by.amend.count).toBe(0);
    expect(by.refused.count).toBe(1);
    expect(by.cancel.p50).toBeGreaterThanOrEqual(49);
    expect(by.place.p99).toBeLessThan(5);
    const text = latencyByAnswerText(by);
    expect(text).toMatch(/^place 202 \(4\) p50 [\d.]+ \/ p99 [\d.]+ ms, cancel 202 \(3\) p50 [\d.]+ \/ p99 [\d.]+ ms, 409 \(1\) p50/);
    expect(text).not.toContain('amend');
    const { latencyByAnswer: _drop, ...older } = step([1], [], []);
    expect(overallOf(done([older])).latencyByAnswer).toBeNull();
    // Per step as well (a ramp's peak step is where the breakdown says most).
    const { rows } = stepRows([step([2, 2, 2], [30], [1]), older], DEFAULT_CRITERIA);
    expect(rows[0]!.latencyByAnswer).toMatchObject({ place: { count: 3 }, cancel: { count: 1 }, amend: { count: 0 }, refused: { count: 1 } });
    expect(rows[0]!.latencyByAnswer!.cancel.p50).toBeGreaterThanOrEqual(29);
    expect(rows[1]!.latencyByAnswer).toBeNull();
  });

  it('tables', () => {
    expect(table(['a', 'bb'], [['x', 1]])).toBe('a  bb\n-  --\nx   1');
    expect(markdownTable(['a', 'b'], [[1, 2]])).toBe('| a | b |\n|---|--:|\n| 1 | 2 |');
  });
});

describe('statementsMarkdown', () => {
  it('gives calls and execution time per answered command, one statement per line with pipes escaped', () => {
    const md = statementsMarkdown(
      [
        { query: 'select a\n   from t where x = $1 or y || z', calls: 300, totalMs: 150, rows: 300 },
        { query: 'commit', calls: 0, totalMs: 0, rows: 0 },
      ],
      100,
    );
    expect(md).toContain('100 answered commands; these statements: 3.00 calls and 1500 µs of execution per command.');
    expect(md).toContain('| 3.000 | 1500.0 | 500 | 1.0 | `select a from t where x = $1 or y \\|\\| z` |');
    expect(md).toContain('| 0.000 | 0.0 | - | - | `commit` |');
  });

  it('labels a statement that writes several tables with the tables it writes', () => {
    const query =
      'with w0 as (insert into "readmodel".markets (a) select 1 on conflict (a) do update set a = 2), ' +
      'w1 as (update readmodel.orders o set s = 1), w2 as (delete from "readmodel".book_levels b where b.q = 0), ' +
      'w3 as (insert into "readmodel".markets (a) values (3)) select pg_notify($1, $2)';
    expect(tablesWritten(query)).toEqual(['readmodel.markets', 'readmodel.orders', 'readmodel.book_levels']);
    expect(tablesWritten('select 1 from t where updated_at > $1')).toEqual([]);
    const md = statementsMarkdown([{ query, calls: 1, totalMs: 1, rows: 1 }], 1);
    expect(md).toContain('| writes readmodel.markets, readmodel.orders, readmodel.book_levels: `with w0 as');
  });

  it('reports the table scans of the load phase alone, most rows read by sequential scans first', () => {
    const t = (table: string, seqScans: number, seqRowsRead: number, indexScans = 0, rowsInserted = 0) => ({ table, seqScans, seqRowsRead, indexScans, rowsInserted });
    const atStart = [t('readmodel.orders', 500, 1_000_000, 10, 100), t('readmodel.book_levels', 5, 50), t('readmodel.markets', 2, 8)];
    const atEnd = [t('readmodel.orders', 510, 1_000_100, 30, 160), t('readmodel.book_levels', 25, 950, 4, 2), t('readmodel.markets', 2, 8), t('event_store.seals', 1, 3)];
    expect(scansDuring(atStart, atEnd, 3)).toEqual([t('readmodel.book_levels', 20, 900, 4, 2), t('readmodel.orders', 10, 100, 20, 60), t('event_store.seals', 1, 3)]);
    expect(scansDuring([], atEnd, 1)).toEqual([t('readmodel.orders', 510, 1_000_100, 30, 160)]);
  });
});
