/**
 * `tsx packages/event-store/bench/read-path.bench.ts`: node CPU per event of reading the global
 * log back (readAllStream and readAll pages), the store's half of a read-model rebuild.
 *
 * Why CPU and not wall time: the benchmark machine is small and shared, so wall time swings with
 * other load while process.cpuUsage() (user + system of this node process) measures what the read
 * path itself costs. PostgreSQL's side is reported separately when the server runs on this
 * machine: the CPU of this database's backends from /proc (clock ticks, 10 ms resolution), so a
 * change that moves work from node into SQL shows up as such. Load averages are printed so runs
 * can be compared.
 *
 * Seeds READ_BENCH_EVENTS events (default 100,000; 100 per append, 50 streams) shaped like engine
 * events into a fresh testkit database, then reads them all REPEATS times (default 5) per path,
 * alternating the paths, and reports the median µs/event. Each read consumes every field so lazy
 * work cannot hide. The last line is `RESULT {json}`.
 *
 * Env: READ_BENCH_EVENTS, READ_BENCH_REPEATS, READ_BENCH_BATCH (readAllStream batchSize, default
 * the store's), READ_BENCH_PAGE (readAll maxCount, default 20,000 like projections' rebuild),
 * READ_BENCH_SRC (the store module to measure, default ../src/index.ts; point it at a copy of an
 * older src/ inside this package to compare before/after in alternating runs).
 */
import { cpuMsBetween, createTestDatabase, postgresBackendCpu } from '@tradecore/testkit';
import { loadavg } from 'node:os';
import pg from 'pg';
import type { NewEvent, RecordedEvent } from '../src/index.ts';
import * as current from '../src/index.ts';
import { sampleEvent } from './sample-events.ts';

// Same API either way: an older copy of src/ exports the same createPostgresEventStore.
const { createPostgresEventStore } = process.env.READ_BENCH_SRC
  ? ((await import(new URL(process.env.READ_BENCH_SRC, import.meta.url).href)) as typeof current)
  : current;

const EVENTS = Number(process.env.READ_BENCH_EVENTS ?? 100_000);
const REPEATS = Number(process.env.READ_BENCH_REPEATS ?? 5);
const BATCH = process.env.READ_BENCH_BATCH ? Number(process.env.READ_BENCH_BATCH) : undefined;
const PAGE = Number(process.env.READ_BENCH_PAGE ?? 20_000);
const PER_APPEND = 100;
const STREAMS = 50;

const makeEvent = (i: number): NewEvent => sampleEvent(i, i % 3 === 0 ? 'OrderPlaced' : i % 3 === 1 ? 'OrderAccepted' : 'TradeExecuted');

/** Touches every field so that the read cannot skip work; the checksum is printed so it is used. */
function consume(e: RecordedEvent, acc: { n: number; check: number }): void {
  acc.n++;
  acc.check =
    (acc.check +
      Number(e.globalPosition & 0xffn) +
      Number(e.streamRevision & 0xffn) +
      e.eventId.length +
      e.stream.length +
      e.type.length +
      e.recordedAt.length +
      (e.data === null ? 0 : 1) +
      (e.metadata.correlationId ? 1 : 0)) |
    0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');

async function main(): Promise<void> {
  const db = await createTestDatabase('bench_read_path');
  const store = createPostgresEventStore({ connectionString: db.url, poolSize: 4 });
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  try {
    await store.ready();
    const seedStart = Date.now();
    for (let i = 0; i < EVENTS; i += PER_APPEND) {
      const events = Array.from({ length: Math.min(PER_APPEND, EVENTS - i) }, (_, k) => makeEvent(i + k));
      await store.appendToStream(`order-${(i / PER_APPEND) % STREAMS}`, events);
    }
    console.log(`seeded ${EVENTS} events in ${((Date.now() - seedStart) / 1000).toFixed(1)} s; load ${load()}`);

    const paths: Record<string, () => Promise<{ n: number; check: number }>> = {
      readAllStream: async () => {
        const acc = { n: 0, check: 0 };
        for await (const e of store.readAllStream(BATCH === undefined ? {} : { batchSize: BATCH })) consume(e, acc);
        return acc;
      },
      readAll: async () => {
        const acc = { n: 0, check: 0 };
        let from = 0n;
        for (;;) {
          const page = await store.readAll({ fromPosition: from, maxCount: PAGE });
          for (const e of page) consume(e, acc);
          const last = page[page.length - 1];
          if (!last || page.length < PAGE) return acc;
          from = last.globalPosition;
        }
      },
    };

    // Warm-up: JIT, prepared statements, the table in PostgreSQL's cache.
    for (const run of Object.values(paths)) await run();

    const samples: Record<string, { cpuUs: number[]; pgUs: number[]; wallMs: number[] }> = {};
    for (let r = 0; r < REPEATS; r++) {
      for (const [name, run] of Object.entries(paths)) {
        const pg0 = await postgresBackendCpu(admin);
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        const acc = await run();
        const wall = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        const pgMs = cpuMsBetween(pg0, await postgresBackendCpu(admin));
        if (acc.n !== EVENTS) throw new Error(`${name} read ${acc.n} events, expected ${EVENTS}`);
        const s = (samples[name] ??= { cpuUs: [], pgUs: [], wallMs: [] });
        s.cpuUs.push((cpu.user + cpu.system) / acc.n);
        if (pgMs !== null) s.pgUs.push((pgMs * 1e3) / acc.n);
        s.wallMs.push(wall);
        console.log(
          `${name.padEnd(13)} run ${r + 1}: ${((cpu.user + cpu.system) / acc.n).toFixed(2)} µs/event node CPU ` +
            `(user ${(cpu.user / acc.n).toFixed(2)}, sys ${(cpu.system / acc.n).toFixed(2)}), ` +
            `PostgreSQL ${pgMs === null ? '?' : ((pgMs * 1e3) / acc.n).toFixed(2)} µs/event, ` +
            `${Math.round(acc.n / (wall / 1000))} events/s wall, check ${acc.check}; load ${load()}`,
        );
      }
    }
    const result: Record<string, { cpuUsPerEvent: number; pgCpuUsPerEvent: number | null; eventsPerSecondWall: number }> = {};
    for (const [name, s] of Object.entries(samples)) {
      const r = {
        cpuUsPerEvent: Number(median(s.cpuUs).toFixed(2)),
        pgCpuUsPerEvent: s.pgUs.length > 0 ? Number(median(s.pgUs).toFixed(2)) : null,
        eventsPerSecondWall: Math.round(EVENTS / (median(s.wallMs) / 1000)),
      };
      result[name] = r;
      console.log(
        `${name}: median ${r.cpuUsPerEvent} µs/event node CPU, ${r.pgCpuUsPerEvent ?? '?'} µs/event PostgreSQL CPU, ` +
          `${r.eventsPerSecondWall} events/s wall`,
      );
    }
    console.log(`RESULT ${JSON.stringify({ events: EVENTS, repeats: REPEATS, load: loadavg(), ...result })}`);
  } finally {
    await admin.end();
    await store.close();
    await db.drop();
  }
}

await main();
