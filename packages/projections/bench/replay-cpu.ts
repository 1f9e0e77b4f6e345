/**
 * A replay's CPU per event, node's and PostgreSQL's, over an existing event store (a database kept
 * by `BENCH_KEEP=1 pnpm bench:audit` or any other): wall-clock figures move with the machine's
 * load, CPU per event much less.
 *
 *   REPLAY_DB=postgres://postgres@127.0.0.1:5432/<db> [REPLAY_REPEATS=3] [REPLAY_BATCH=20000] \
 *     pnpm --filter @tradecore/projections exec tsx bench/replay-cpu.ts
 *
 * Each run replays the whole log into the schema `bench_replay_cpu` (dropped at the end) with
 * `replayReadModels`, as `tradectl replay` does, and prints events/s, node µs/event (this process:
 * reading, checking, folding, encoding) and PostgreSQL µs/event (this database's backends, from
 * /proc; blank when the server is not local), with the 1-minute load average.
 */
import { loadavg } from 'node:os';
import pg from 'pg';
import { createPostgresEventStore } from '@tradecore/event-store';
import { cpuMsBetween, postgresBackendCpu } from '@tradecore/testkit';
import * as current from '../src/index.ts';
import { InMemoryEventStore } from '../src/testing/index.ts';
import type { RecordedEvent } from '@tradecore/event-store';

const URL_ = process.env.REPLAY_DB;
if (!URL_) throw new Error('REPLAY_DB=postgres://... is required');
const REPEATS = Number(process.env.REPLAY_REPEATS ?? 3);
const BATCH = process.env.REPLAY_BATCH ? Number(process.env.REPLAY_BATCH) : undefined;
const SCHEMA = 'bench_replay_cpu';
/** REPLAY_SRC=<path to another copy of src/index.ts>: A/B runs against another version. */
const { replayReadModels } = process.env.REPLAY_SRC ? ((await import(new URL(process.env.REPLAY_SRC, import.meta.url).href)) as typeof current) : current;
/** REPLAY_MEMORY=1: the log is read once and replayed from memory, which leaves out the read path. */
const MEMORY = process.env.REPLAY_MEMORY === '1';

const admin = new pg.Client({ connectionString: URL_ });
await admin.connect();
let memory: InMemoryEventStore | undefined;
if (MEMORY) {
  const pool = new pg.Pool({ connectionString: URL_, max: 2 });
  const store = createPostgresEventStore({ pool, schema: 'event_store', migrate: false, notify: false });
  const all: RecordedEvent[] = [];
  for (;;) {
    const page = await store.readAll({ fromPosition: all[all.length - 1]?.globalPosition ?? 0n, maxCount: 50_000 });
    if (page.length === 0) break;
    all.push(...page);
  }
  memory = InMemoryEventStore.of(all);
  await store.close();
  await pool.end();
}
try {
  for (let i = 0; i < REPEATS; i++) {
    // A fresh pool per run: its backends are new, so all of their CPU is this run's.
    const pool = new pg.Pool({ connectionString: URL_, max: 4 });
    const store = createPostgresEventStore({ pool, schema: 'event_store', migrate: false, notify: false });
    const before = await postgresBackendCpu(admin);
    const load0 = loadavg()[0] ?? 0;
    const cpu0 = process.cpuUsage();
    const r = await replayReadModels({ store: memory ?? store, pool, schema: SCHEMA, batchSize: BATCH });
    const cpu = process.cpuUsage(cpu0);
    const pgCpuMs = cpuMsBetween(before, await postgresBackendCpu(admin));
    const nodeUs = ((cpu.user + cpu.system) / r.events).toFixed(2);
    const pgUs = pgCpuMs === null ? '' : ((pgCpuMs * 1e3) / r.events).toFixed(2);
    console.log(
      `run ${i + 1}: ${r.events} events in ${(r.durationMs / 1000).toFixed(2)} s = ${Math.round(r.eventsPerSecond)} ev/s; node ${nodeUs} us/ev; postgres ${pgUs} us/ev; errors ${r.errors}; load ${load0.toFixed(2)} -> ${(loadavg()[0] ?? 0).toFixed(2)}`,
    );
    await pool.query(`drop schema ${SCHEMA} cascade`);
    await store.close();
    await pool.end();
  }
} finally {
  await admin.end();
}
