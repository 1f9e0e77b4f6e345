/**
 * `pnpm bench:api`: accepted orders/s and latency of POST /api/v1/orders against the PostgreSQL
 * event store, with bare fastify hello-world side by side for the ratio. The server runs in a
 * child process; autocannon drives it from this one, over loopback, for a fixed duration.
 *
 * Besides the rates it reports what one accepted order costs: server CPU, the CPU of the server's
 * PostgreSQL backends, statements sent, and the machine's load average (the 2-core machine is
 * shared, so figures move with it). BENCH_CPU_PROF=<dir> runs the server with `--cpu-prof`.
 */
import autocannon from 'autocannon';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import pg from 'pg';
import { createTestDatabase, machineCpuMs, postgresBackendCpu } from '@tradecore/testkit';
import type { ServerStats } from './api-server.ts';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 15);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const TRADERS = 32;
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF;

function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const execArgv = ['--import', 'tsx', ...(CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : [])];
  return new Promise((resolvePort, reject) => {
    const child = fork(resolve(import.meta.dirname, 'api-server.ts'), [], { env: { ...process.env, ...env }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (m: { port: number }) => resolvePort({ child, url: `http://127.0.0.1:${m.port}` }));
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

function serverStats(child: ChildProcess): Promise<ServerStats> {
  return new Promise((done) => {
    const onMessage = (m: { stats?: ServerStats }): void => {
      if (!m.stats) return;
      child.off('message', onMessage);
      done(m.stats);
    };
    child.on('message', onMessage);
    child.send('stats');
  });
}

/** SIGTERM, then wait for the exit (the server closes its pool, and writes its profile if asked). */
function stopServer(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null) return done();
    child.removeAllListeners('exit');
    child.once('exit', () => done());
    child.kill('SIGTERM');
  });
}

/** CPU ms of each PostgreSQL backend connected to the bench database (same machine only). */
async function backendCpu(url: string): Promise<Map<number, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await postgresBackendCpu(client);
  } finally {
    await client.end();
  }
}

/** The machine's CPU counters; the benchmark needs them (it runs where /proc is). */
function machineCpu(): { busyMs: number; totalMs: number } {
  const m = machineCpuMs();
  if (!m) throw new Error('bench:api reads /proc/stat for the machine busy figure; it runs on Linux only');
  return m;
}

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

async function json<T>(url: string, init: RequestInit): Promise<T> {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...(init.headers ?? {}) } });
  if (!res.ok) throw new Error(`${init.method} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((done, fail) => {
    autocannon(opts, (err: unknown, result) => (err ? fail(err instanceof Error ? err : new Error("autocannon failed")) : done(result)));
  });
}

async function main(): Promise<void> {
  const db = await createTestDatabase('bench_api');
  const secret = randomBytes(48).toString('base64');
  const api = await startServer({ BENCH_DATABASE_URL: db.url, BENCH_JWT_SECRET: secret });
  let orders: autocannon.Result;
  let loadBefore = '';
  let loadAfter = '';
  let serverBefore: ServerStats;
  let serverAfter: ServerStats;
  let pgBefore: Map<number, number>;
  let pgAfter: Map<number, number>;
  let generatorBefore: NodeJS.CpuUsage;
  let generatorAfter: NodeJS.CpuUsage;
  let machineBefore: { busyMs: number; totalMs: number };
  let machineAfter: { busyMs: number; totalMs: number };
  try {
    const admin = await json<{ token: string }>(`${api.url}/api/v1/auth/login`, { method: 'POST', body: JSON.stringify({ username: 'admin', password: 'bench-admin-password' }) });
    const { marketId } = await json<{ marketId: number }>(`${api.url}/api/v1/admin/markets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin.token}` },
      body: JSON.stringify({ symbol: 'BTC-USD', baseAsset: 'BTC', quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.0001', referencePrice: '50000' }),
    });
    const tokens: string[] = [];
    for (let i = 0; i < TRADERS; i++) {
      await json(`${api.url}/api/v1/auth/register`, { method: 'POST', body: JSON.stringify({ username: `bench_${i}`, password: 'bench-password' }) });
      tokens.push((await json<{ token: string }>(`${api.url}/api/v1/auth/login`, { method: 'POST', body: JSON.stringify({ username: `bench_${i}`, password: 'bench-password' }) })).token);
    }
    let n = 0;
    loadBefore = load();
    serverBefore = await serverStats(api.child);
    pgBefore = await backendCpu(db.url);
    generatorBefore = process.cpuUsage();
    machineBefore = machineCpu();
    orders = await run({
      url: `${api.url}/api/v1/orders`,
      connections: CONNECTIONS,
      duration: DURATION_S,
      requests: [
        {
          method: 'POST',
          setupRequest: (req) => {
            n += 1;
            const side = n % 2 === 0 ? 'buy' : 'sell';
            const price = (49_000 + (n % 2000)).toFixed(2);
            return {
              ...req,
              headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[n % TRADERS]}` },
              body: JSON.stringify({ marketId, side, type: 'limit', quantity: '0.01', price, timeInForce: 'GTC' }),
            };
          },
        },
      ],
    });
    machineAfter = machineCpu();
    generatorAfter = process.cpuUsage();
    serverAfter = await serverStats(api.child);
    pgAfter = await backendCpu(db.url);
    loadAfter = load();
  } finally {
    await stopServer(api.child);
  }
  // BENCH_SKIP_BARE=1 leaves out the hello-world run (A/B comparisons of the order path).
  let hello: autocannon.Result | undefined;
  if (process.env.BENCH_SKIP_BARE !== '1') {
    const bare = await startServer({ BENCH_BARE: '1' });
    try {
      hello = await run({ url: `${bare.url}/hello`, method: 'POST', connections: CONNECTIONS, duration: DURATION_S, body: '{}', headers: { 'content-type': 'application/json' } });
    } finally {
      await stopServer(bare.child);
    }
  }
  await db.drop();

  const accepted = orders['2xx'] / orders.duration;
  const perOrder = (x: number): number => Number((x / Math.max(1, orders['2xx'])).toFixed(3));
  const serverCpuMs = (serverAfter.cpuUserUs + serverAfter.cpuSystemUs - serverBefore.cpuUserUs - serverBefore.cpuSystemUs) / 1000;
  let pgCpuMs = 0;
  for (const [pid, ms] of pgAfter) pgCpuMs += ms - (pgBefore.get(pid) ?? 0);
  const generatorCpuMs = (generatorAfter.user + generatorAfter.system - generatorBefore.user - generatorBefore.system) / 1000;
  const machineBusyMs = machineAfter.busyMs - machineBefore.busyMs;
  const cost = {
    serverCpuMsPerOrder: perOrder(serverCpuMs),
    postgresBackendCpuMsPerOrder: perOrder(pgCpuMs),
    generatorCpuMsPerOrder: perOrder(generatorCpuMs),
    statementsPerOrder: perOrder(serverAfter.queries - serverBefore.queries),
    // Cores busy during the orders run (all processes), and those busy with anything but the
    // server, its PostgreSQL backends and the load generator (other people's work, WAL writer, ...).
    machineBusyCores: Number((machineBusyMs / (orders.duration * 1000)).toFixed(2)),
    otherBusyCores: Number(((machineBusyMs - serverCpuMs - pgCpuMs - generatorCpuMs) / (orders.duration * 1000)).toFixed(2)),
  };
  const rows: [string, number, number, number, number][] = [
    ['POST /api/v1/orders (PostgreSQL event store)', accepted, orders.latency.p50, orders.latency.p99, orders.non2xx],
  ];
  if (hello) rows.push(['bare fastify hello-world', hello['2xx'] / hello.duration, hello.latency.p50, hello.latency.p99, hello.non2xx]);
  console.log(`\ncommand-api benchmark: ${CONNECTIONS} connections, ${DURATION_S} s each, ${TRADERS} traders; load average ${loadBefore} before, ${loadAfter} after the orders run`);
  console.log('| target | accepted req/s | p50 ms | p99 ms | non-2xx |');
  console.log('|---|---|---|---|---|');
  for (const [name, rps, p50, p99, bad] of rows) console.log(`| ${name} | ${rps.toFixed(0)} | ${p50} | ${p99} | ${bad} |`);
  console.log(
    `per accepted order: server CPU ${cost.serverCpuMsPerOrder} ms, PostgreSQL backends CPU ${cost.postgresBackendCpuMsPerOrder} ms, ` +
      `load generator CPU ${cost.generatorCpuMsPerOrder} ms, ${cost.statementsPerOrder} statements; ` +
      `machine busy ${cost.machineBusyCores} of ${cpus().length} cores, ${cost.otherBusyCores} of them with other processes`,
  );
  const result = {
    loadAverageBefore: loadBefore,
    loadAverageAfter: loadAfter,
    connections: CONNECTIONS,
    durationS: DURATION_S,
    acceptedOrdersPerSec: Math.round(accepted),
    p50Ms: orders.latency.p50,
    p99Ms: orders.latency.p99,
    non2xx: orders.non2xx,
    ...cost,
    bareFastifyReqPerSec: hello ? Math.round(hello['2xx'] / hello.duration) : null,
    ratioToBare: hello ? Number((accepted / (hello['2xx'] / hello.duration)).toFixed(3)) : null,
    groupCommit: process.env.BENCH_GROUP_COMMIT ?? 'default',
    goal: { ordersPerSec: 3000, p99Ms: 20, met: accepted >= 3000 && orders.latency.p99 <= 20 },
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
