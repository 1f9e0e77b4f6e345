/**
 * `pnpm bench:readside`: the read side's throughput on this machine.
 *
 * 1. Rebuild speed: a generated, consistent history (default 100,000 events) is appended to the
 *    PostgreSQL event store, then `rebuildReadModels` replays it into a shadow schema and swaps it
 *    in; events/s over the whole rebuild (reading the store included). The same history replayed
 *    from memory isolates the projector's own speed.
 * 2. HTTP: `GET /api/v1/markets` (in-process cache, and Redis when reachable) and
 *    `GET /api/v1/portfolio` with autocannon against a listening server in another process,
 *    beside a bare fastify hello-world.
 * Prints a table and, last, `RESULT {json}`. Goals: rebuild ≥ 50,000 events/s, markets
 * ≥ 10,000 req/s, portfolio ≥ 3,000 req/s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { Redis } from 'ioredis';
import { createPostgresEventStore, type RecordedEvent } from '@tradecore/event-store';
import { createTokenService, manualClock } from '@tradecore/http-kit';
import { createProjector, rebuildReadModels, replayReadModels } from '@tradecore/projections';
import { generateHistory, InMemoryEventStore } from '@tradecore/projections/testing';
import { createTestDatabase } from '@tradecore/testkit';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SECRET = 'bench-secret-bench-secret-bench-secret';

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

async function loadIntoStore(url: string, events: readonly RecordedEvent[]): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const store = createPostgresEventStore({ pool, schema: 'event_store' });
  await store.ready();
  const client = await pool.connect();
  try {
    // Batches of consecutive events of one stream, in transactions of ~20k events.
    let i = 0;
    while (i < events.length) {
      await client.query('begin');
      const end = Math.min(events.length, i + 20_000);
      while (i < end) {
        const first = events[i];
        if (!first) break;
        const group: RecordedEvent[] = [];
        while (i < end && events[i]?.stream === first.stream) group.push(events[i++] as RecordedEvent);
        await store.appendToStreamInTransaction(client, first.stream, group.map((e) => ({ eventId: e.eventId, type: e.type, data: e.data, metadata: e.metadata })));
      }
      await client.query('commit');
    }
  } finally {
    client.release();
  }
  await store.close();
  await pool.end();
}

function startServer(env: Record<string, string>): Promise<{ port: number; child: ChildProcess }> {
  const script = fileURLToPath(new URL('./serve.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /LISTENING (\d+)/.exec(out);
      if (m) resolve({ port: Number(m[1]), child });
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  child.removeAllListeners('exit');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

interface HttpResult {
  name: string;
  reqPerSec: number;
  p99Ms: number;
  non2xx: number;
}

async function load(name: string, url: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  // warm-up, then the measured run
  await autocannon({ url, connections: 10, duration: 2, headers });
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION, headers });
  return { name, reqPerSec: Math.round(r.requests.average), p99Ms: r.latency.p99, non2xx: r.non2xx + r.errors };
}

async function redisReachable(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1_000, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
    return true;
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

const db = await createTestDatabase('bench_readside');
const children: ChildProcess[] = [];
try {
  log(`generating ${EVENTS} events ...`);
  const { simulator, events } = generateHistory({ events: EVENTS, seed: 2026, users: 200, markets: 8 });
  log('appending them to the PostgreSQL event store ...');
  const t0 = performance.now();
  await loadIntoStore(db.url, events);
  log(`  appended in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  const store = createPostgresEventStore({ pool, schema: 'event_store', migrate: false });
  const live = createProjector({ pool });
  await live.migrate();
  log('rebuilding the read models from the event store ...');
  const rebuild = await rebuildReadModels({ store, pool, liveSchema: 'readmodel' });
  log(`  ${rebuild.events} events in ${(rebuild.durationMs / 1000).toFixed(2)} s`);
  log('replaying the same history from memory ...');
  const memory = await replayReadModels({ store: InMemoryEventStore.of(events), pool, schema: 'bench_memory_replay' });
  await pool.query('drop schema bench_memory_replay cascade');
  await store.close();
  await pool.end();

  const now = events[events.length - 1]?.metadata.occurredAt ?? new Date().toISOString();
  const tokens = createTokenService({ secret: SECRET, clock: manualClock(new Date(now)), ttlSeconds: 86_400 });
  const trader = [...simulator.accounts.keys()][0] ?? 1;
  const bearer = { authorization: `Bearer ${tokens.issue({ userId: trader, username: `user${trader}`, roles: ['trader'] }).token}` };

  const results: HttpResult[] = [];
  const hello = await startServer({ MODE: 'hello' });
  children.push(hello.child);
  results.push(await load('hello world (bare fastify)', `http://127.0.0.1:${hello.port}/`));
  await stop(hello.child);

  const server = await startServer({ MODE: 'query', DATABASE_URL: db.url, NOW: now, JWT_SECRET: SECRET, CACHE: 'memory' });
  children.push(server.child);
  results.push(await load('GET /api/v1/markets (in-process cache)', `http://127.0.0.1:${server.port}/api/v1/markets`));
  results.push(await load('GET /api/v1/portfolio', `http://127.0.0.1:${server.port}/api/v1/portfolio`, bearer));
  await stop(server.child);

  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  let redisMarkets: HttpResult | null = null;
  if (await redisReachable(redisUrl)) {
    const withRedis = await startServer({ MODE: 'query', DATABASE_URL: db.url, NOW: now, JWT_SECRET: SECRET, CACHE: redisUrl });
    children.push(withRedis.child);
    redisMarkets = await load('GET /api/v1/markets (Redis cache)', `http://127.0.0.1:${withRedis.port}/api/v1/markets`);
    results.push(redisMarkets);
    await stop(withRedis.child);
  } else {
    log(`skipping the Redis run: no Redis answers at ${redisUrl}`);
  }

  const row = (a: string, b: string, c: string, d: string) => `| ${a.padEnd(40)} | ${b.padStart(12)} | ${c.padStart(9)} | ${d.padStart(8)} |`;
  console.log(row('benchmark', 'throughput', 'p99 ms', 'errors'));
  console.log(row('-'.repeat(40), '-'.repeat(12), '-'.repeat(9), '-'.repeat(8)));
  console.log(row(`rebuild from event store (${rebuild.events} ev)`, `${Math.round(rebuild.eventsPerSecond)} ev/s`, '', String(rebuild.errors)));
  console.log(row(`replay from memory (${memory.events} ev)`, `${Math.round(memory.eventsPerSecond)} ev/s`, '', String(memory.errors)));
  for (const r of results) console.log(row(r.name, `${r.reqPerSec} req/s`, r.p99Ms.toFixed(1), String(r.non2xx)));
  const markets = results.find((r) => r.name.startsWith('GET /api/v1/markets (in-process'));
  const portfolio = results.find((r) => r.name.startsWith('GET /api/v1/portfolio'));
  const result = {
    events: rebuild.events,
    rebuildEventsPerSec: Math.round(rebuild.eventsPerSecond),
    replayFromMemoryEventsPerSec: Math.round(memory.eventsPerSecond),
    marketsReqPerSec: markets?.reqPerSec ?? 0,
    marketsP99Ms: markets?.p99Ms ?? 0,
    marketsRedisReqPerSec: redisMarkets?.reqPerSec ?? null,
    marketsRedisP99Ms: redisMarkets?.p99Ms ?? null,
    portfolioReqPerSec: portfolio?.reqPerSec ?? 0,
    portfolioP99Ms: portfolio?.p99Ms ?? 0,
    helloReqPerSec: results[0]?.reqPerSec ?? 0,
    helloP99Ms: results[0]?.p99Ms ?? 0,
    goals: {
      rebuild: Math.round(rebuild.eventsPerSecond) >= 50_000,
      markets: (markets?.reqPerSec ?? 0) >= 10_000,
      portfolio: (portfolio?.reqPerSec ?? 0) >= 3_000,
    },
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await db.drop();
}
