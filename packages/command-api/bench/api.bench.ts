/**
 * `pnpm bench:api`: accepted orders/s and latency of POST /api/v1/orders against the PostgreSQL
 * event store, with bare fastify hello-world side by side for the ratio. The server runs in a
 * child process; autocannon drives it from this one, over loopback, for a fixed duration.
 */
import autocannon from 'autocannon';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { createTestDatabase } from '@tradecore/testkit';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 15);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const TRADERS = 32;

function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolvePort, reject) => {
    const child = fork(resolve(import.meta.dirname, 'api-server.ts'), [], { env: { ...process.env, ...env }, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (m: { port: number }) => resolvePort({ child, url: `http://127.0.0.1:${m.port}` }));
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
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
  } finally {
    api.child.kill('SIGTERM');
  }
  const bare = await startServer({ BENCH_BARE: '1' });
  let hello: autocannon.Result;
  try {
    hello = await run({ url: `${bare.url}/hello`, method: 'POST', connections: CONNECTIONS, duration: DURATION_S, body: '{}', headers: { 'content-type': 'application/json' } });
  } finally {
    bare.child.kill('SIGTERM');
  }
  await db.drop();

  const accepted = orders['2xx'] / orders.duration;
  const rows = [
    ['POST /api/v1/orders (PostgreSQL event store)', accepted, orders.latency.p50, orders.latency.p99, orders.non2xx],
    ['bare fastify hello-world', hello['2xx'] / hello.duration, hello.latency.p50, hello.latency.p99, hello.non2xx],
  ] as const;
  console.log(`\ncommand-api benchmark: ${CONNECTIONS} connections, ${DURATION_S} s each, ${TRADERS} traders`);
  console.log('| target | accepted req/s | p50 ms | p99 ms | non-2xx |');
  console.log('|---|---|---|---|---|');
  for (const [name, rps, p50, p99, bad] of rows) console.log(`| ${name} | ${rps.toFixed(0)} | ${p50} | ${p99} | ${bad} |`);
  const result = {
    connections: CONNECTIONS,
    durationS: DURATION_S,
    acceptedOrdersPerSec: Math.round(accepted),
    p50Ms: orders.latency.p50,
    p99Ms: orders.latency.p99,
    non2xx: orders.non2xx,
    bareFastifyReqPerSec: Math.round(hello['2xx'] / hello.duration),
    ratioToBare: Number((accepted / (hello['2xx'] / hello.duration)).toFixed(3)),
    goal: { ordersPerSec: 3000, p99Ms: 20, met: accepted >= 3000 && orders.latency.p99 <= 20 },
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
