/**
 * pnpm bench:audit — tradectl's verify and replay throughput over a large log.
 *
 * 1. A fresh database (testkit) gets BENCH_EVENTS (default 1,000,000) realistic events: the venue
 *    simulator (core-domain's account decider for every risk decision, a price-time book) trading
 *    on 8 markets among 2,000 users, written by BulkSink (hash chains computed in TypeScript,
 *    multi-row inserts of 5,000 rows, one per transaction), then sealed in seals of
 *    10,000 events by the event store's sealer.
 * 2. `tradectl verify` (in-process run(), no progress output): both passes of verifyLog.
 * 3. `tradectl replay` into a fresh schema with the projections package.
 * Prints a table and, last, `RESULT {json}`. Goals: verify ≥ 200,000 events/s, replay ≥ 50,000.
 * BENCH_KEEP=1 keeps the database; BENCH_REUSE_URL=<its url> runs steps 2 and 3 again on it.
 */
import { cpus, loadavg } from 'node:os';
import pg from 'pg';
import { createSealer, migrateEventStore } from '@tradecore/event-store';
import { createTestDatabase } from '@tradecore/testkit';
import { lotsToQuantity, ticksToPrice, type EventData } from '@tradecore/core-domain';
import { run } from '../src/cli.ts';
import { memoryIo } from '../src/io.ts';
import { Simulator, type PlaceRequest } from '../src/testing/simulator.ts';
import { BulkSink } from './bulk-sink.ts';

const TARGET = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const USERS = Number(process.env.BENCH_USERS ?? 2_000);
const KEEP = process.env.BENCH_KEEP === '1';
const GOALS = { verify: 200_000, replay: 50_000 };

const BASES = ['BTC', 'ETH', 'SOL', 'ADA', 'DOT', 'XRP', 'LTC', 'BNB'];

function log(msg: string): void {
  process.stderr.write(`[bench:audit] ${msg}\n`);
}

async function generate(pool: pg.Pool): Promise<{ events: number; seconds: number; counts: Map<string, number> }> {
  const started = performance.now();
  const clock = { now: () => '2025-03-14T09:00:00.000Z' };
  const sink = new BulkSink(pool, () => clock.now());
  const s = new Simulator(sink, { start: '2025-03-14T09:00:00.000Z', stepMs: 5, seed: 20250314 });
  clock.now = () => s.now();
  const admin = await s.registerUser('admin', ['admin']);
  const markets: number[] = [];
  for (const base of BASES) {
    const spec: Omit<EventData<'MarketListed'>, 'marketId' | 'listedBy'> = {
      symbol: `${base}-USD`,
      baseAsset: base,
      quoteAsset: 'USD',
      tickSize: '0.01',
      lotSize: '0.001',
      referencePrice: '100.00',
      makerFeeBps: 10,
      takerFeeBps: 20,
      maxOrderQuantity: '1000',
      maxOrderNotional: '1000000',
      priceBandBps: 1000,
    };
    markets.push(await s.listMarket(spec, admin));
  }
  const users: number[] = [];
  for (let i = 0; i < USERS; i++) {
    const u = await s.registerUser(`trader${i}`);
    users.push(u);
    // a few accounts stay poor, so some orders are rejected for funds
    const rich = i % 50 !== 0;
    await s.deposit(u, 'USD', rich ? '10000000' : '1', admin);
    for (const base of BASES) await s.deposit(u, base, rich ? '100000' : '0.001', admin);
  }
  let lastReport = performance.now();
  while (sink.written < TARGET) {
    const m = markets[s.rng.int(markets.length)] ?? 1;
    const userId = users[s.rng.int(users.length)] ?? 2;
    const mid = BigInt(Math.round(Number(s.lastPrice.get(m) ?? '100') * 100));
    const lots = BigInt(1 + s.rng.int(40));
    const quantity = lotsToQuantity(lots, '0.001');
    const roll = s.rng.next();
    const side = s.rng.next() < 0.5 ? 'buy' : 'sell';
    let req: PlaceRequest;
    if (roll < 0.45) {
      const away = BigInt(1 + s.rng.int(25));
      const ticks = side === 'buy' ? mid - away : mid + away;
      req = { userId, marketId: m, side, price: ticksToPrice(ticks, '0.01'), quantity };
    } else if (roll < 0.85) {
      const through = BigInt(10 + s.rng.int(30));
      const ticks = side === 'buy' ? mid + through : mid - through;
      req = { userId, marketId: m, side, price: ticksToPrice(ticks, '0.01'), quantity, timeInForce: s.rng.next() < 0.3 ? 'IOC' : 'GTC' };
    } else if (roll < 0.93) {
      req = { userId, marketId: m, side, type: 'market', quantity };
    } else {
      const book = s.resting(m, s.rng.next() < 0.5 ? 'buy' : 'sell');
      const victim = book[book.length - 1];
      if (victim) await s.cancelOrder(victim.orderId);
      continue;
    }
    await s.placeOrder(req);
    for (const sd of ['buy', 'sell'] as const) {
      const book = s.resting(m, sd);
      if (book.length > 300) {
        const oldest = book[book.length - 1];
        if (oldest) await s.cancelOrder(oldest.orderId);
      }
    }
    if (performance.now() - lastReport > 5000) {
      lastReport = performance.now();
      log(`generated ${sink.written.toLocaleString('en-US')} events (${Math.round(sink.written / ((lastReport - started) / 1000)).toLocaleString('en-US')}/s)`);
    }
  }
  await sink.finish();
  return { events: sink.written, seconds: (performance.now() - started) / 1000, counts: s.counts };
}

async function tradectl(args: string[]): Promise<{ code: number; json: Record<string, unknown>; seconds: number; cpuSeconds: number; err: string }> {
  const io = memoryIo({});
  const t = performance.now();
  const cpu = process.cpuUsage();
  const code = await run(args, io);
  const seconds = (performance.now() - t) / 1000;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(io.out()) as Record<string, unknown>;
  } catch {
    json = {};
  }
  return { code, json, seconds, cpuSeconds, err: io.err() };
}

// BENCH_REUSE_URL: measure again on a log generated and kept earlier (BENCH_KEEP=1), without
// generating it again: verify and replay read only the log, and the replay schema is rebuilt
const REUSE_URL = process.env.BENCH_REUSE_URL;
const db = REUSE_URL
  ? { name: new URL(REUSE_URL).pathname.slice(1), url: REUSE_URL, drop: async () => undefined }
  : await createTestDatabase('tctl_bench');
const pool = new pg.Pool({ connectionString: db.url, max: 4 });
pool.on('error', () => undefined);

/** The kept log's size, mix and seals, as `generate` and the sealer would have reported them. */
async function kept(): Promise<{ gen: Awaited<ReturnType<typeof generate>>; seals: unknown[] }> {
  const mix = await pool.query<{ type: string; n: string }>('select type, count(*)::text as n from event_store.events group by type');
  const counts = new Map(mix.rows.map((r) => [r.type, Number(r.n)]));
  const seals = await pool.query('select seal_id from event_store.seals');
  await pool.query('drop schema if exists bench_replay cascade');
  return { gen: { events: [...counts.values()].reduce((a, b) => a + b, 0), seconds: NaN, counts }, seals: seals.rows };
}

try {
  await migrateEventStore(pool, 'event_store');
  // Bulk load the way pg_restore does: the events table's unique indexes are built after the load
  // (same constraint names and definitions as the migration), not maintained row by row.
  const FAST_LOAD = process.env.BENCH_FAST_LOAD !== '0' && !REUSE_URL;
  if (FAST_LOAD) {
    await pool.query(
      'alter table event_store.events drop constraint events_pkey, drop constraint events_stream_revision_key, drop constraint events_event_id_key',
    );
  }
  if (!REUSE_URL) log(`generating ${TARGET.toLocaleString('en-US')} events in ${db.name} …`);
  else log(`reusing the log kept in ${db.name}`);
  const reused = REUSE_URL ? await kept() : undefined;
  const gen = reused ? reused.gen : await generate(pool);
  if (FAST_LOAD) {
    const t = performance.now();
    await pool.query(
      `alter table event_store.events add constraint events_pkey primary key (position),
         add constraint events_stream_revision_key unique (stream, revision),
         add constraint events_event_id_key unique (event_id)`,
    );
    log(`built the events table's indexes in ${((performance.now() - t) / 1000).toFixed(1)}s`);
  }
  log(`generated ${gen.events.toLocaleString('en-US')} events in ${gen.seconds.toFixed(1)}s; sealing …`);
  const sealStart = performance.now();
  const seals = reused ? reused.seals : await createSealer({ pool, schema: 'event_store' }, { maxEventsPerSeal: 10_000 }).sealNow();
  const sealSeconds = (performance.now() - sealStart) / 1000;
  await pool.query('analyze event_store.events');

  log('tradectl verify …');
  const verify = await tradectl(['verify', '--url', db.url, '--format', 'json', '--no-progress']);
  if (verify.code !== 0) throw new Error(`verify failed (${verify.code}): ${JSON.stringify(verify.json.firstProblem ?? verify.err)}`);
  const verified = Number(verify.json.eventsChecked);
  log('tradectl replay …');
  const replay = await tradectl(['replay', '--url', db.url, '--schema', 'bench_replay', '--format', 'json', '--no-progress']);
  if (replay.code !== 0) throw new Error(`replay failed (${replay.code}): ${replay.err}`);
  const replayed = Number(replay.json.events);
  const replayErrors = Number(replay.json.errors);

  const verifyRate = verified / verify.seconds;
  const replayRate = replayed / replay.seconds;
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const rows: [string, string, string, string, string, string][] = [
    reused
      ? ['generate: reused the kept log', n(gen.events), '-', '-', '-', '-']
      : ['generate (bulk, hash chains in TS)', n(gen.events), gen.seconds.toFixed(1), n(gen.events / gen.seconds), '-', '-'],
    reused
      ? [`seal: ${seals.length} kept seals`, n(gen.events), '-', '-', '-', '-']
      : [`seal (${seals.length} seals)`, n(gen.events), sealSeconds.toFixed(1), n(gen.events / sealSeconds), '-', '-'],
    ['tradectl verify', n(verified), verify.seconds.toFixed(1), n(verifyRate), n(verified / verify.cpuSeconds), `${n(GOALS.verify)} ${verifyRate >= GOALS.verify ? 'met' : 'NOT met'}`],
    ['tradectl replay', n(replayed), replay.seconds.toFixed(1), n(replayRate), n(replayed / replay.cpuSeconds), `${n(GOALS.replay)} ${replayRate >= GOALS.replay ? 'met' : 'NOT met'}`],
  ];
  const head = ['step', 'events', 'seconds', 'events/s', 'per CPU-s (tradectl)', 'goal'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  console.log(`event mix: ${[...gen.counts.entries()].sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t} ${n}`).join(', ')}`);
  console.log(`replay projection errors: ${replayErrors}`);
  console.log(`machine: ${cpus().length} CPUs, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} (1/5/15 min) at the end; PostgreSQL shared with whatever else runs`);
  console.log(
    `RESULT ${JSON.stringify({
      bench: 'audit',
      events: gen.events,
      generateEventsPerSecond: Math.round(gen.events / gen.seconds),
      seals: seals.length,
      verifyEventsPerSecond: Math.round(verifyRate),
      verifySeconds: Number(verify.seconds.toFixed(2)),
      replayEventsPerSecond: Math.round(replayRate),
      replaySeconds: Number(replay.seconds.toFixed(2)),
      replayErrors,
      verifyEventsPerTradectlCpuSecond: Math.round(verified / verify.cpuSeconds),
      replayEventsPerTradectlCpuSecond: Math.round(replayed / replay.cpuSeconds),
      cpus: cpus().length,
      loadAverage1m: Number((loadavg()[0] ?? 0).toFixed(1)),
      goals: { verifyEventsPerSecond: GOALS.verify, replayEventsPerSecond: GOALS.replay },
      met: { verify: verifyRate >= GOALS.verify, replay: replayRate >= GOALS.replay },
    })}`,
  );
} finally {
  await pool.end();
  if (KEEP || REUSE_URL) log(`kept database ${db.name}`);
  else await db.drop();
}
