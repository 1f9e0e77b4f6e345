/**
 * `pnpm bench:live-apply`: what one live batch costs the projector — the path of the Kafka source
 * and of single-node mode (`projector.apply`, live cache on), as opposed to a replay.
 *
 * A generated, consistent history (BENCH_EVENTS, default 30,000 events; 200 users, 8 markets) is
 * applied in batches of BENCH_BATCH events (default 10: what a live consumer sees at a few hundred
 * commands/s), one after the other, into a fresh read-model schema. Reported: batches/s, the median
 * and p99 time of one batch, and CPU per event of this process and of the PostgreSQL backends (from
 * /proc), and PostgreSQL statements per batch (pg_stat_database's transactions are one per batch).
 * Prints a table, then `RESULT {json}` as the last line. No goal: it compares code, run next to
 * each other on one machine.
 */
import pg from 'pg';
import { performance } from 'node:perf_hooks';
import { createProjector } from '@tradecore/projections';
import { generateHistory } from '@tradecore/projections/testing';
import { createTestDatabase, describeMachineSpeed, measureMachineSpeed, PidSetCpu, processCpuMs } from '@tradecore/testkit';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 30_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 10);

const speed = measureMachineSpeed();
const { events } = generateHistory({ events: EVENTS, seed: 2026, users: 200, markets: 8 });
const db = await createTestDatabase('bench_live_apply');
const pool = new pg.Pool({ connectionString: db.url, max: 2 });
const admin = new pg.Pool({ connectionString: db.url, max: 1 });
try {
  const projector = createProjector({ pool, schema: 'readmodel', liveCache: true });
  await projector.migrate();
  const backends = async (): Promise<number[]> =>
    (await admin.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()')).rows.map((r) => r.pid);
  // Warm-up: the first tenth, so the JIT and the connections' prepared statements are in place.
  const warm = Math.floor(events.length / 10 / BATCH) * BATCH;
  for (let i = 0; i < warm; i += BATCH) await projector.apply(events.slice(i, i + BATCH));
  const pgCpu = new PidSetCpu();
  pgCpu.observe(await backends());
  const statsBefore = (await admin.query<{ calls: string }>("select xact_commit::text as calls from pg_stat_database where datname = current_database()")).rows[0]?.calls;
  const cpuBefore = processCpuMs(process.pid) ?? 0;
  const times: number[] = [];
  const started = performance.now();
  for (let i = warm; i < events.length; i += BATCH) {
    const t0 = performance.now();
    await projector.apply(events.slice(i, i + BATCH));
    times.push(performance.now() - t0);
    if (times.length % 200 === 0) pgCpu.observe(await backends());
  }
  const seconds = (performance.now() - started) / 1000;
  pgCpu.observe(await backends());
  const nodeMs = (processCpuMs(process.pid) ?? 0) - cpuBefore;
  const statsAfter = (await admin.query<{ calls: string }>("select xact_commit::text as calls from pg_stat_database where datname = current_database()")).rows[0]?.calls;
  const applied = events.length - warm;
  times.sort((a, b) => a - b);
  const at = (q: number): number => Math.round((times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0) * 100) / 100;
  const result = {
    bench: 'live-apply',
    events: applied,
    batch: BATCH,
    batches: times.length,
    batchesPerSecond: Math.round(times.length / seconds),
    eventsPerSecond: Math.round(applied / seconds),
    batchP50Ms: at(0.5),
    batchP99Ms: at(0.99),
    nodeUsPerEvent: Math.round((nodeMs * 1000) / applied),
    postgresUsPerEvent: Math.round((pgCpu.usedMs() * 1000) / applied),
    transactionsPerBatch: Math.round(((Number(statsAfter) - Number(statsBefore)) / times.length) * 100) / 100,
    machineSpeedBestMs: speed.bestMs,
  };
  console.table({
    'events applied (after warm-up)': applied,
    'events per batch': BATCH,
    'batches/s': result.batchesPerSecond,
    'batch p50 / p99 (ms)': `${result.batchP50Ms} / ${result.batchP99Ms}`,
    'CPU per event: node / PostgreSQL (µs)': `${result.nodeUsPerEvent} / ${result.postgresUsPerEvent}`,
    'machine speed': describeMachineSpeed(speed),
  });
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  await admin.end();
  await pool.end();
  await db.drop();
}
