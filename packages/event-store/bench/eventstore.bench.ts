/**
 * `pnpm bench:eventstore`: durable append throughput of the Tradecore PostgreSQL event store at
 * batch sizes 1, 10, 100 with 1 and 8 writers, side by side with @event-driven-io/emmett-postgresql
 * doing the same appends on the same server in the same run; then read-all throughput.
 *
 * Fairness: each system gets its own fresh database on the same server, a pool of 10 connections,
 * the same events (same data and metadata), one stream per writer with an expected revision on
 * every append (optimistic concurrency on both sides). Each cell runs A-B-B-A-B-A-A-B (four quarter-length
 * runs per system, interleaved) so drifting background load hits both alike. Durable: the server's
 * synchronous_commit / fsync are printed and must be on.
 *
 * Env: BENCH_SECONDS (per cell and system, default 4), BENCH_READ_EVENTS (default 200000).
 * Prints a table; the last line is `RESULT {json}`.
 */
import { STREAM_DOES_NOT_EXIST } from '@event-driven-io/emmett';
import { getPostgreSQLEventStore, type PostgresEventStore as EmmettStore } from '@event-driven-io/emmett-postgresql';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import pg from 'pg';
import { createPostgresEventStore, type NewEvent, type PostgresEventStore } from '../src/index.ts';
import { sampleEvent } from './sample-events.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const READ_EVENTS = Number(process.env.BENCH_READ_EVENTS ?? 200_000);
const BATCHES = [1, 10, 100] as const;
const WRITERS = [1, 8] as const;

interface Appender {
  name: string;
  /** Appends one batch to `stream`, returning the next expected revision token. */
  append(stream: string, events: NewEvent[], expected: bigint | undefined): Promise<bigint>;
}

const makeEvent = (i: number): NewEvent => sampleEvent(i);

function tradecore(store: PostgresEventStore): Appender {
  return {
    name: 'tradecore',
    async append(stream, events, expected) {
      const r = await store.appendToStream(stream, events, { expectedRevision: expected ?? 'no_stream' });
      return r.nextExpectedRevision;
    },
  };
}

function emmett(store: EmmettStore): Appender {
  return {
    name: 'emmett',
    async append(stream, events, expected) {
      const r = await store.appendToStream(
        stream,
        events.map((e) => ({ type: e.type, data: e.data as Record<string, unknown>, metadata: e.metadata })),
        { expectedStreamVersion: expected ?? STREAM_DOES_NOT_EXIST },
      );
      return r.nextExpectedStreamVersion;
    },
  };
}

let streamSeq = 0;

/** Events per second for `writers` concurrent writers appending batches of `batch` for `ms`. */
async function measure(a: Appender, writers: number, batch: number, ms: number): Promise<{ events: number; seconds: number }> {
  let events = 0;
  const pool: NewEvent[][] = [];
  const nextBatch = (): NewEvent[] => pool.pop() ?? Array.from({ length: batch }, (_, i) => makeEvent(i));
  const start = performance.now();
  const deadline = start + ms;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      const stream = `bench-${a.name}-${streamSeq++}`;
      let expected: bigint | undefined;
      // pre-build a few batches so event construction stays out of the timed loop
      for (let k = 0; k < 4; k++) pool.push(Array.from({ length: batch }, (_, i) => makeEvent(i)));
      while (performance.now() < deadline) {
        const evs = nextBatch();
        expected = await a.append(stream, evs, expected);
        events += evs.length;
        pool.unshift(Array.from({ length: batch }, (_, i) => makeEvent(i)));
      }
    }),
  );
  return { events, seconds: (performance.now() - start) / 1000 };
}

async function serverSettings(url: string): Promise<Record<string, string>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const out: Record<string, string> = {};
    for (const name of ['server_version', 'synchronous_commit', 'fsync', 'wal_sync_method', 'shared_buffers']) {
      const r = await c.query<Record<string, string>>(`show ${name}`);
      out[name] = Object.values(r.rows[0] ?? {})[0] ?? '?';
    }
    return out;
  } finally {
    await c.end();
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

async function main(): Promise<void> {
  const dbs: TestDatabase[] = [];
  const tcDb = await createTestDatabase('bench_tradecore');
  dbs.push(tcDb);
  const emDb = await createTestDatabase('bench_emmett');
  dbs.push(emDb);
  const server = await serverSettings(tcDb.url);
  if (server.synchronous_commit !== 'on' || server.fsync !== 'on') {
    console.warn(`WARNING: the server is not durable (synchronous_commit=${server.synchronous_commit}, fsync=${server.fsync})`);
  }
  const tcStore = createPostgresEventStore({ connectionString: tcDb.url, poolSize: 10 });
  await tcStore.ready();
  const emStore = getPostgreSQLEventStore(emDb.url);
  await emStore.schema.migrate();
  const systems = [tradecore(tcStore), emmett(emStore)];

  try {
    // warm-up: connections, prepared statements, JIT
    for (const s of systems) await measure(s, 8, 10, 500);

    const rows: { writers: number; batch: number; tradecore: number; emmett: number }[] = [];
    const slice = (SECONDS * 1000) / 4;
    // A-B-B-A-B-A-A-B: four slices per system, interleaved, so drifting background load hits both alike
    const order = [0, 1, 1, 0, 1, 0, 0, 1];
    for (const writers of WRITERS) {
      for (const batch of BATCHES) {
        const totals = new Map<string, { events: number; seconds: number }>();
        for (const i of order) {
          const s = systems[i];
          if (!s) continue;
          const r = await measure(s, writers, batch, slice);
          const t = totals.get(s.name) ?? { events: 0, seconds: 0 };
          totals.set(s.name, { events: t.events + r.events, seconds: t.seconds + r.seconds });
        }
        const rate = (name: string): number => {
          const t = totals.get(name);
          return t ? t.events / t.seconds : 0;
        };
        rows.push({ writers, batch, tradecore: rate('tradecore'), emmett: rate('emmett') });
        console.error(`  done: ${writers} writer(s) × batch ${batch}`);
      }
    }

    // read-all: fill up to READ_EVENTS, then read the whole log twice (pages, and the stream reader)
    const have = await tcStore.pool.query<{ n: string }>('select count(*) as n from event_store.events');
    let missing = READ_EVENTS - Number(have.rows[0]?.n ?? 0);
    let fillerStream = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        const stream = `bench-fill-${fillerStream++}`;
        let expected: bigint | undefined;
        while (missing > 0) {
          missing -= 500;
          expected = (
            await tcStore.appendToStream(stream, Array.from({ length: 500 }, (_, i) => makeEvent(i)), {
              expectedRevision: expected ?? 'no_stream',
            })
          ).nextExpectedRevision;
        }
      }),
    );
    const head = await tcStore.headPosition();
    let t0 = performance.now();
    let read = 0;
    let from = 0n;
    for (;;) {
      const page = await tcStore.readAll({ fromPosition: from, maxCount: 1000 });
      read += page.length;
      const last = page[page.length - 1];
      if (!last || last.globalPosition >= head) break;
      from = last.globalPosition;
    }
    const readAllRate = read / ((performance.now() - t0) / 1000);
    t0 = performance.now();
    let streamed = 0;
    for await (const e of tcStore.readAllStream({ toPosition: head, batchSize: 2000 })) {
      if (e.globalPosition > 0n) streamed++;
    }
    const streamRate = streamed / ((performance.now() - t0) / 1000);

    // ---- report ----
    const lines: string[] = [];
    lines.push('');
    lines.push(`Event store append throughput, durable (synchronous_commit=${server.synchronous_commit}, fsync=${server.fsync}, ${server.wal_sync_method}), PostgreSQL ${server.server_version}`);
    lines.push(`${SECONDS}s per cell and system (4 interleaved slices each), pool of 10 each, one stream per writer, expected revision on every append`);
    lines.push('');
    lines.push('writers  batch   tradecore ev/s    emmett ev/s   tradecore/emmett');
    lines.push('-------  -----   --------------   ------------   ----------------');
    for (const r of rows) {
      lines.push(
        `${String(r.writers).padStart(7)}  ${String(r.batch).padStart(5)}   ${fmt(r.tradecore).padStart(14)}   ${fmt(r.emmett).padStart(12)}   ${(r.tradecore / r.emmett).toFixed(2).padStart(15)}x`,
      );
    }
    lines.push('');
    lines.push(`read-all (readAll pages of 1000):       ${fmt(readAllRate).padStart(10)} ev/s over ${fmt(read)} events`);
    lines.push(`read-all (readAllStream, batch 2000):   ${fmt(streamRate).padStart(10)} ev/s over ${fmt(streamed)} events`);
    const bestBatched = Math.max(...rows.filter((r) => r.batch === 100).map((r) => r.tradecore));
    const fasterEverywhere = rows.every((r) => r.tradecore > r.emmett);
    lines.push('');
    lines.push(`goal ≥ 20,000 durable events/s batched: ${bestBatched >= 20_000 ? 'met' : 'NOT met'} (${fmt(bestBatched)} ev/s best at batch 100)`);
    lines.push(`goal faster than Emmett in every cell:  ${fasterEverywhere ? 'met' : 'NOT met'}`);
    console.log(lines.join('\n'));
    const result = {
      bench: 'eventstore',
      durable: server.synchronous_commit === 'on' && server.fsync === 'on',
      server,
      secondsPerCell: SECONDS,
      append: rows.map((r) => ({
        writers: r.writers,
        batch: r.batch,
        tradecoreEventsPerSec: Math.round(r.tradecore),
        emmettEventsPerSec: Math.round(r.emmett),
        ratio: Number((r.tradecore / r.emmett).toFixed(2)),
      })),
      readAll: { pagedEventsPerSec: Math.round(readAllRate), streamEventsPerSec: Math.round(streamRate), events: read },
      goals: { durable20kBatched: bestBatched >= 20_000, bestBatchedEventsPerSec: Math.round(bestBatched), fasterThanEmmettEverywhere: fasterEverywhere },
    };
    console.log(`RESULT ${JSON.stringify(result)}`);
  } finally {
    await tcStore.close();
    await emStore.close();
    for (const db of dbs) await db.drop();
  }
}

await main();
