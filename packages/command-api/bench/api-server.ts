/**
 * The benchmark's server process: command-api over the PostgreSQL event store (BENCH_DATABASE_URL),
 * or a bare fastify hello-world (BENCH_BARE=1) for the ratio. Tells its parent the port over IPC,
 * answers `stats` messages with its CPU time and the number of queries its pool sent, and exits
 * cleanly on SIGTERM (so that `--cpu-prof` can write its profile).
 */
import Fastify from 'fastify';
import pg from 'pg';
import { createPostgresEventStore, type PostgresEventStoreOptions } from '@tradecore/event-store';
import { createTokenService, randomIds, systemClock } from '@tradecore/http-kit';
import { buildCommandApp, ensureAdmin } from '../src/app.ts';
import { MarketDirectory, UserDirectory } from '../src/directories.ts';
import { createScryptHasher } from '../src/passwords.ts';

export interface ServerStats {
  cpuUserUs: number;
  cpuSystemUs: number;
  /** Statements sent to PostgreSQL (round trips) since start. */
  queries: number;
}

function serveStats(queries: () => number, close: () => Promise<void>): void {
  process.on('message', (m: unknown) => {
    if (m !== 'stats') return;
    const cpu = process.cpuUsage();
    const stats: ServerStats = { cpuUserUs: cpu.user, cpuSystemUs: cpu.system, queries: queries() };
    process.send?.({ stats });
  });
  process.once('SIGTERM', () => {
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

async function main(): Promise<void> {
  if (process.env.BENCH_BARE === '1') {
    const app = Fastify({ logger: false });
    app.post('/hello', async () => ({ hello: 'world' }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    serveStats(() => 0, () => app.close());
    const address = app.server.address();
    process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
    return;
  }
  const pool = new pg.Pool({ connectionString: process.env.BENCH_DATABASE_URL, max: 16 });
  let queries = 0;
  pool.on('connect', (client) => {
    // Counting at the client catches statements sent on checked-out clients (transactions) too.
    const send = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      queries++;
      return send(...args);
    };
  });
  // BENCH_GROUP_COMMIT: the store's groupCommit option as JSON (false, or { maxInFlight, ... }), to compare.
  const groupCommit = process.env.BENCH_GROUP_COMMIT ? (JSON.parse(process.env.BENCH_GROUP_COMMIT) as PostgresEventStoreOptions['groupCommit']) : undefined;
  const store = createPostgresEventStore({ pool, ...(groupCommit === undefined ? {} : { groupCommit }) });
  await store.ready();
  const deps = {
    store,
    tokens: createTokenService({ secret: process.env.BENCH_JWT_SECRET ?? '', clock: systemClock }),
    clock: systemClock,
    ids: randomIds,
    passwords: createScryptHasher({ N: 2 ** 12, r: 8, p: 1 }),
    users: new UserDirectory(store),
    markets: new MarketDirectory(store),
    // The benchmark logs its traders in from one address.
    loginRateLimitPerMinute: 10_000,
  };
  await ensureAdmin(deps, 'admin', 'bench-admin-password');
  const app = await buildCommandApp(deps, { rateLimitPerSecond: 1_000_000 });
  await app.listen({ port: 0, host: '127.0.0.1' });
  serveStats(
    () => queries,
    async () => {
      await app.close();
      await store.close();
      await pool.end();
    },
  );
  const address = app.server.address();
  process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench server failed: ${String(err)}\n`);
  process.exit(1);
});
