/**
 * `tsx packages/event-store/bench/read-path.bench.ts`: node CPU per event of reading the global
 * log back (readAllStream and readAll pages), the store's half of a read-model rebuild.
 *
 * Why CPU and not wall time: the benchmark machine is small and shared, so wall time swings with
 * other load while process.cpuUsage() (user + system of this node process) measures what the read
 * path itself costs. The PostgreSQL backend's CPU is not included; the load averages are printed
 * so runs can be compared.
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
import { createTestDatabase } from '@tradecore/testkit';
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import type { NewEvent, RecordedEvent } from '../src/index.ts';
import * as current from '../src/index.ts';

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

function makeEvent(i: number): NewEvent {
  return {
    eventId: randomUUID(),
    type: i % 3 === 0 ? 'OrderPlaced' : i % 3 === 1 ? 'OrderAccepted' : 'TradeExecuted',
    data: {
      orderId: randomUUID(),
      userId: 1000 + (i % 97),
      marketId: 1 + (i % 5),
      side: i % 2 === 0 ? 'buy' : 'sell',
      priceTicks: String(10_000 + (i % 500)),
      quantityLots: String(1 + (i % 50)),
      timeInForce: 'GTC',
      clientOrderId: `c-${i}`,
    },
    metadata: {
      correlationId: randomUUID(),
      causationId: null,
      userId: 1000 + (i % 97),
      occurredAt: '2025-06-01T12:00:00.000Z',
      schemaVersion: 1,
    },
  };
}

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

    const samples: Record<string, { cpuUs: number[]; wallMs: number[] }> = {};
    for (let r = 0; r < REPEATS; r++) {
      for (const [name, run] of Object.entries(paths)) {
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        const acc = await run();
        const wall = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        if (acc.n !== EVENTS) throw new Error(`${name} read ${acc.n} events, expected ${EVENTS}`);
        const s = (samples[name] ??= { cpuUs: [], wallMs: [] });
        s.cpuUs.push((cpu.user + cpu.system) / acc.n);
        s.wallMs.push(wall);
        console.log(
          `${name.padEnd(13)} run ${r + 1}: ${((cpu.user + cpu.system) / acc.n).toFixed(2)} µs/event node CPU ` +
            `(user ${(cpu.user / acc.n).toFixed(2)}, sys ${(cpu.system / acc.n).toFixed(2)}), ` +
            `${Math.round(acc.n / (wall / 1000))} events/s wall, check ${acc.check}; load ${load()}`,
        );
      }
    }
    const result: Record<string, { cpuUsPerEvent: number; eventsPerSecondWall: number }> = {};
    for (const [name, s] of Object.entries(samples)) {
      result[name] = {
        cpuUsPerEvent: Number(median(s.cpuUs).toFixed(2)),
        eventsPerSecondWall: Math.round(EVENTS / (median(s.wallMs) / 1000)),
      };
      console.log(`${name}: median ${result[name].cpuUsPerEvent} µs/event node CPU, ${result[name].eventsPerSecondWall} events/s wall`);
    }
    console.log(`RESULT ${JSON.stringify({ events: EVENTS, repeats: REPEATS, load: loadavg(), ...result })}`);
  } finally {
    await store.close();
    await db.drop();
  }
}

await main();
