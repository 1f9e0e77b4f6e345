/**
 * The relay's read path alone, parsed against raw: a subscription from position 0 over the first
 * BENCH_EVENTS events (default 200,000) of an existing log (BENCH_URL: a database with an
 * event_store schema, e.g. one kept by `BENCH_KEEP=1 pnpm bench:audit`), in batches of 1,000, each
 * batch built into the relay's produce requests (no broker). Alternates the two paths
 * BENCH_ROUNDS times (default 3) and prints node and PostgreSQL CPU per event for each run.
 */
import { createPostgresEventStore, type RawRecordedEvent, type RecordedEvent } from '@tradecore/event-store';
import { cpuMsBetween, postgresBackendCpu } from '@tradecore/testkit';
import pg from 'pg';
import { buildRawTopicMessages, buildTopicMessages } from '../src/relay.ts';
import { ROUTING_FIELDS } from '../src/routing.ts';

const URL = process.env.BENCH_URL;
const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

async function run(raw: boolean): Promise<{ nodeUs: number; pgUs: number; seconds: number; mbytes: number }> {
  const store = createPostgresEventStore({ connectionString: URL!, migrate: false, notify: false, poolSize: 2 });
  const probe = new pg.Pool({ connectionString: URL!, max: 1 });
  await store.ready();
  await store.readAll({ maxCount: 1 }); // the pool's connection exists before the CPU is read
  const pgBefore = await postgresBackendCpu(probe);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let seen = 0;
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    const onBatch = (n: number, requests: ReturnType<typeof buildTopicMessages>) => {
      for (const r of requests) for (const tm of r) for (const m of tm.messages) bytes += (m.value as Buffer).length;
      seen += n;
      if (seen >= EVENTS) resolve();
    };
    const sub = raw
      ? store.subscribeToAllRaw(async (b: readonly RawRecordedEvent[]) => onBatch(b.length, buildRawTopicMessages(b, 'x.')), { batchSize: 1000, fields: ROUTING_FIELDS })
      : store.subscribeToAll(async (b: readonly RecordedEvent[]) => onBatch(b.length, buildTopicMessages(b, 'x.')), { batchSize: 1000 });
    sub.done.catch(reject);
    const stop = setInterval(() => {
      if (seen >= EVENTS) {
        clearInterval(stop);
        void sub.close();
      }
    }, 5);
  });
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  const pgMs = cpuMsBetween(pgBefore, await postgresBackendCpu(probe)) ?? 0;
  await store.close();
  await probe.end();
  return { nodeUs: (c.user + c.system) / seen, pgUs: (pgMs * 1000) / seen, seconds, mbytes: Math.round(bytes / 1e6) };
}

async function main(): Promise<void> {
  if (!URL) {
    console.log('relay-read benchmark skipped: set BENCH_URL to a database with an event log (e.g. one kept by BENCH_KEEP=1 pnpm bench:audit)');
    return;
  }
  for (let i = 0; i < ROUNDS; i++)
    for (const raw of [false, true]) {
      const r = await run(raw);
      console.log(`${raw ? 'raw   ' : 'parsed'} ${EVENTS} events: node ${r.nodeUs.toFixed(2)} µs/event, PostgreSQL ${r.pgUs.toFixed(2)} µs/event, ${r.seconds.toFixed(2)} s`, JSON.stringify(r));
    }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
