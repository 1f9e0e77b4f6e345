/**
 * SIGTERM during load loses nothing. The single-node server runs as a child process (`main.ts`, as
 * `pnpm start` runs it) on a test database; workers place orders over HTTP without pause; SIGTERM
 * arrives mid-stream; the server is started again on the same database. Three ways: PostgreSQL
 * from DATABASE_URL with in-process fan-out, the same through the relay and real Kafka (skipped with
 * the reason printed when no broker is reachable), and the embedded PostgreSQL. Then:
 * - every request answered 202 has its OrderPlaced in the log exactly once;
 * - every request answered otherwise (refused while closing) left nothing in the log;
 * - every request whose connection failed (no answer) left its order at most once, and a retry with
 *   the same clientOrderId after the restart answers 202 without a second OrderPlaced;
 * - after the restart the pipeline finishes every order: one risk decision per order, one
 *   OrderEntered per accepted order, no event recorded twice, and the read models equal a fresh
 *   replay of the log; the hash chains verify.
 * And a terminal's Ctrl-C on the embedded PostgreSQL: SIGINT to the server's whole process group
 * reaches the server alone (the database runs in a group of its own), which stops gracefully and
 * then stops the database.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { createPostgresEventStore, verifyLog } from '@tradecore/event-store';
import { diffReadModels, replayReadModels } from '@tradecore/projections';
import { createTestDatabase, getKafka, type TestDatabase } from '@tradecore/testkit';
import { eventually, http, walkingSkeleton, type Http } from './client.ts';

const MAIN = resolve(import.meta.dirname, '../src/main.ts');
const ADMIN = { username: 'admin', password: 'admin-password-sigterm' };
const WORKERS = 12;

interface Server {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `main.ts` and resolves once it prints its URL. `env` entries set to null are removed from the inherited environment. */
async function startServer(env: Record<string, string | null>, options: { ownProcessGroup?: boolean } = {}): Promise<Server> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const [name, value] of Object.entries(env)) {
    if (value === null) delete childEnv[name];
    else childEnv[name] = value;
  }
  // ownProcessGroup: as a shell runs a foreground job, so a signal to the group is a terminal's Ctrl-C.
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: options.ownProcessGroup ?? false });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
  const url = await new Promise<string>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`server did not start within 90 s:\n${out}`)), 90_000);
    const onData = () => {
      const m = /Tradecore is running at (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        done(m[1]);
      }
    };
    child.stdout.on('data', onData);
    void exited.then((e) => {
      clearTimeout(timer);
      fail(new Error(`server exited during start (${JSON.stringify(e)}):\n${out}`));
    });
  });
  return { child, url, output: () => out, exited };
}

type Outcome = { kind: 'accepted'; orderId: string } | { kind: 'refused'; status: number } | { kind: 'no-answer'; error: string };
interface Attempt {
  clientOrderId: string;
  trader: 'seller' | 'buyer';
  body: Record<string, unknown>;
  outcome: Outcome;
  /** Whether SIGTERM had been sent when the request started. */
  afterSignal: boolean;
}

/** Places orders without pause, sends SIGTERM mid-stream, restarts, and checks the log and the read models. */
async function sigtermDuringLoad(env: Record<string, string | null>, databaseUrl: () => string, servers: Server[]): Promise<void> {
  const first = await startServer(env);
  servers.push(first);
  const api: Http = http(first.url);

  // Two traders with funds: the seller's and the buyer's orders cross, so the engine trades.
  const login = async (username: string, password: string) => {
    const r = await api.call<{ token: string; user: { userId: number } }>('POST', '/api/v1/auth/login', { body: { username, password } });
    expect(r.status).toBe(200);
    return { token: r.body.token, userId: r.body.user.userId };
  };
  const admin = await login(ADMIN.username, ADMIN.password);
  const btc = await eventually('the BTC-USD market', async () => (await api.call<{ marketId: number; symbol: string }[]>('GET', '/api/v1/markets')).body.find((m) => m.symbol === 'BTC-USD'));
  const traders = {} as Record<'seller' | 'buyer', { token: string; userId: number }>;
  for (const name of ['seller', 'buyer'] as const) {
    expect((await api.call('POST', '/api/v1/auth/register', { body: { username: `sig_${name}`, password: 'correct horse battery' } })).status).toBe(201);
    traders[name] = await login(`sig_${name}`, 'correct horse battery');
  }
  expect((await api.call('POST', '/api/v1/admin/deposits', { token: admin.token, body: { userId: traders.seller.userId, asset: 'BTC', amount: '1000' } })).status).toBe(202);
  expect((await api.call('POST', '/api/v1/admin/deposits', { token: admin.token, body: { userId: traders.buyer.userId, asset: 'USD', amount: '100000000' } })).status).toBe(202);

  // Load: every worker places orders back to back until the first server has exited.
  const attempts: Attempt[] = [];
  let signalled = false;
  let firing = true;
  const place = async (baseUrl: string, trader: 'seller' | 'buyer', body: Record<string, unknown>): Promise<Outcome> => {
    try {
      const res = await fetch(`${baseUrl}/api/v1/orders`, {
        method: 'POST',
        headers: { authorization: `Bearer ${traders[trader].token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      if (res.status === 202) return { kind: 'accepted', orderId: (JSON.parse(text) as { orderId: string }).orderId };
      return { kind: 'refused', status: res.status };
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
      return { kind: 'no-answer', error: err instanceof Error ? `${err.message}${cause}` : 'unknown error' };
    }
  };
  const worker = async (w: number) => {
    for (let n = 0; firing; n++) {
      const trader = (w + n) % 2 === 0 ? 'seller' : 'buyer';
      const clientOrderId = `sig-${w}-${n}`;
      // Prices around the reference, so some orders trade and some rest.
      const price = (65_000 + ((w * 7 + n * 3) % 11) - 5).toFixed(2);
      const body = { marketId: btc.marketId, side: trader === 'seller' ? 'sell' : 'buy', type: 'limit', price, quantity: '0.001', clientOrderId };
      const afterSignal = signalled;
      const outcome = await place(first.url, trader, body);
      attempts.push({ clientOrderId, trader, body, outcome, afterSignal });
      if (outcome.kind === 'no-answer') await new Promise((r) => setTimeout(r, 20));
    }
  };
  const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
  await eventually('300 accepted orders before the signal', async () => (attempts.filter((a) => a.outcome.kind === 'accepted').length >= 300 ? true : undefined), 120_000);
  const acceptedBeforeSignal = attempts.filter((a) => a.outcome.kind === 'accepted').length;
  signalled = true;
  first.child.kill('SIGTERM');
  const exit = await Promise.race([first.exited, new Promise<never>((_, fail) => setTimeout(() => fail(new Error(`no exit within 60 s of SIGTERM:\n${first.output()}`)), 60_000))]);
  // Keep firing a moment after the exit, then stop.
  await new Promise((r) => setTimeout(r, 300));
  firing = false;
  await Promise.all(workers);
  expect(exit, first.output()).toEqual({ code: 0, signal: null });
  expect(first.output()).not.toMatch(/shutdown step failed|shutdown failed|unhandled/i);

  const accepted = attempts.filter((a): a is Attempt & { outcome: { kind: 'accepted'; orderId: string } } => a.outcome.kind === 'accepted');
  const refused = attempts.filter((a) => a.outcome.kind === 'refused');
  const unanswered = attempts.filter((a) => a.outcome.kind === 'no-answer');
  console.log(
    `[sigterm] ${attempts.length} requests: ${accepted.length} accepted (${acceptedBeforeSignal} before SIGTERM), ${refused.length} refused (${[...new Set(refused.map((a) => (a.outcome as { status: number }).status))].join(', ')}), ${unanswered.length} without an answer`,
  );
  // The load really was mid-stream: requests were in flight when the signal came.
  expect(attempts.filter((a) => a.afterSignal).length).toBeGreaterThan(0);
  expect(refused.every((a) => (a.outcome as { status: number }).status === 503)).toBe(true);

  // Restart on the same database; the same tokens work (same secret). The restarted server's
  // engine appends decisions only, never OrderPlaced, so what follows sees what the first left.
  const second = await startServer(env);
  servers.push(second);
  const api2 = http(second.url);
  const pool = new pg.Pool({ connectionString: databaseUrl(), max: 4 });
  pool.on('error', () => undefined);
  const store = createPostgresEventStore({ pool });
  try {
  // What the log holds for each request, by its clientOrderId (read directly in SQL).
  const placedByClientId = async () => {
    const r = await pool.query<{ client_order_id: string; order_id: string; n: string }>(
      `select data->>'clientOrderId' as client_order_id, min(data->>'orderId') as order_id, count(*)::text as n
         from event_store.events where type = 'OrderPlaced' group by 1`,
    );
    return new Map(r.rows.map((x) => [x.client_order_id, { orderId: x.order_id, n: Number(x.n) }]));
  };
  const placed = await placedByClientId();
  for (const a of accepted) expect(placed.get(a.clientOrderId), `202 for ${a.clientOrderId}`).toEqual({ orderId: a.outcome.orderId, n: 1 });
  for (const a of refused) expect(placed.get(a.clientOrderId), `refused ${a.clientOrderId}`).toBeUndefined();
  for (const a of unanswered) expect(placed.get(a.clientOrderId)?.n ?? 0, `unanswered ${a.clientOrderId}`).toBeLessThanOrEqual(1);
  expect(placed.size).toBe(accepted.length + unanswered.filter((a) => placed.has(a.clientOrderId)).length);

  // A client whose request got no answer retries it with the same clientOrderId: one order, never two.
  for (const a of unanswered) {
    const outcome = await place(second.url, a.trader, a.body);
    expect(outcome.kind, `retry of ${a.clientOrderId}: ${JSON.stringify(outcome)}`).toBe('accepted');
  }
  const after = await placedByClientId();
  for (const a of [...accepted, ...unanswered]) expect(after.get(a.clientOrderId)?.n, a.clientOrderId).toBe(1);
  expect(after.size).toBe(accepted.length + unanswered.length);

  // The pipeline finishes every order: one risk decision each, one OrderEntered per acceptance.
  const pipeline = async () => {
    const r = await pool.query<{ placed: string; decided: string; accepted: string; entered: string; dup: string }>(
      `with e as (select type, data->>'orderId' as order_id from event_store.events)
       select (select count(*) from e where type = 'OrderPlaced')::text as placed,
              (select count(distinct order_id) from e where type in ('OrderAccepted', 'OrderRejected'))::text as decided,
              (select count(*) from e where type = 'OrderAccepted')::text as accepted,
              (select count(*) from e where type = 'OrderEntered')::text as entered,
              (select count(*) from (select type, order_id from e where type in ('OrderPlaced', 'OrderAccepted', 'OrderRejected', 'OrderEntered', 'OrderRested')
                                     group by 1, 2 having count(*) > 1) d)::text as dup`,
    );
    return r.rows[0]!;
  };
  const done = await eventually(
    'every order decided and every accepted order on the book',
    async () => {
      const p = await pipeline();
      if (p.decided === p.placed && p.entered === p.accepted) return p;
      // What is missing, and where the engine's checkpoint is, for the failure message.
      const missing = await pool.query<{ position: string; type: string; order_id: string }>(
        `select p.position::text, p.type, p.data->>'orderId' as order_id from event_store.events p
          where (p.type = 'OrderPlaced' and not exists (select 1 from event_store.events d where d.type in ('OrderAccepted', 'OrderRejected') and d.data->>'orderId' = p.data->>'orderId'))
             or (p.type = 'OrderAccepted' and not exists (select 1 from event_store.events d where d.type = 'OrderEntered' and d.data->>'orderId' = p.data->>'orderId'))
          order by p.position limit 5`,
      );
      const checkpoints = await pool.query<{ name: string; position: string }>('select name, position::text from engine_checkpoints').catch(() => ({ rows: [] }));
      throw new Error(`pipeline at ${JSON.stringify(p)}; first missing ${JSON.stringify(missing.rows)}; checkpoints ${JSON.stringify(checkpoints.rows)}`);
    },
    // Generous: on a shared 2-core machine at load average ~12 a catch-up took over 2 minutes.
    240_000,
  );
  expect(done.dup).toBe('0');
  expect(Number(done.placed)).toBe(accepted.length + unanswered.length);
  const decisions = await pool.query<{ n: string }>(
    `select count(*)::text as n from event_store.events where type in ('OrderAccepted', 'OrderRejected') group by data->>'orderId' having count(*) > 1`,
  );
  expect(decisions.rows).toEqual([]);

  // Settlement too: two FillSettled per trade, none twice.
  const fills = await eventually('every trade settled on both sides', async () => {
    const r = await pool.query<{ trades: string; fills: string; dup: string }>(
      `select (select count(*) from event_store.events where type = 'TradeExecuted')::text as trades,
              (select count(*) from event_store.events where type = 'FillSettled')::text as fills,
              (select count(*) from (select 1 from event_store.events where type = 'FillSettled'
                                     group by data->>'tradeId', data->>'orderId' having count(*) > 1) d)::text as dup`,
    );
    const row = r.rows[0]!;
    return Number(row.fills) === 2 * Number(row.trades) ? row : undefined;
  }, 240_000);
  expect(fills.dup).toBe('0');
  expect(Number(fills.trades)).toBeGreaterThan(0);

  // Quiet: the head stays put, nothing more to decide.
  const head = await eventually('a quiet log', async () => {
    const before = await store.headPosition();
    await new Promise((r) => setTimeout(r, 1_500));
    return (await store.headPosition()) === before ? before : undefined;
  });
  // Every accepted order left `pending` on the read side, and the read models equal a replay of the log.
  const seen = await api2.call('GET', '/api/v1/markets', { headers: { 'x-min-position': head.toString() } });
  expect(BigInt(seen.headers.get('x-projection-position') ?? '0')).toBeGreaterThanOrEqual(head);
  const pending = await pool.query<{ n: string }>("select count(*)::text as n from readmodel.orders where status = 'pending'");
  expect(pending.rows[0]?.n).toBe('0');
  for (const a of accepted.slice(0, 20)) {
    const o = await api2.call<{ status: string }>('GET', `/api/v1/orders/${a.outcome.orderId}`, { token: traders[a.trader].token });
    expect(o.status).toBe(200);
    expect(o.body.status).not.toBe('pending');
  }
  const replay = await replayReadModels({ store, pool, schema: 'sigterm_replay', toPosition: head });
  expect(replay.errors).toBe(0);
  expect(await diffReadModels(pool, 'readmodel', 'sigterm_replay')).toEqual([]);

  const report = await verifyLog(pool);
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
  } finally {
    await store.close();
    await pool.end();
  }

  second.child.kill('SIGTERM');
  expect(await second.exited, second.output()).toEqual({ code: 0, signal: null });
}

/** Stops what a failed run left: servers (SIGTERM, then SIGKILL) and an embedded PostgreSQL they started. */
async function cleanUp(servers: Server[], dataDir: string | undefined): Promise<void> {
  for (const server of servers) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) continue;
    server.child.kill('SIGTERM');
    const stopped = await Promise.race([server.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 30_000))]);
    if (!stopped) server.child.kill('SIGKILL');
  }
  const pidFile = dataDir ? join(dataDir, 'pg', 'postmaster.pid') : undefined;
  if (pidFile && existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? done(address.port) : fail(new Error('no port'))));
    });
  });
}

const BASE_ENV = {
  PORT: '0',
  ADMIN_USERNAME: ADMIN.username,
  ADMIN_PASSWORD: ADMIN.password,
  // Fixed, so the traders' tokens survive the restart.
  JWT_SECRET: 'sigterm-test-secret-that-is-long-enough-0123456789',
  LOG_LEVEL: 'silent',
  RATE_LIMIT_PER_SECOND: '100000',
};

const kafka = await getKafka();
if ('skip' in kafka) console.warn(`[skip] SIGTERM during load through real Kafka: ${kafka.skip}`);

describe('SIGTERM during load', { timeout: 900_000 }, () => {
  let servers: Server[] = [];
  let dir: string | undefined;
  let db: TestDatabase | undefined;
  afterEach(async () => {
    await cleanUp(servers, dir);
    servers = [];
    await db?.drop();
    db = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('on PostgreSQL from DATABASE_URL: finishes or refuses every in-flight request, loses and duplicates nothing, and the restarted pipeline catches up', async () => {
    db = await createTestDatabase('sigterm');
    dir = mkdtempSync(join(tmpdir(), 'tradecore-sigterm-'));
    const url = db.url;
    await sigtermDuringLoad({ ...BASE_ENV, DATABASE_URL: url, DATA_DIR: dir }, () => url, servers);
  });

  it.skipIf('skip' in kafka)('through the relay and real Kafka (KAFKA_BROKERS): the same, with redelivery after the restart', async () => {
    if ('skip' in kafka) return;
    db = await createTestDatabase('sigterm_kafka');
    dir = mkdtempSync(join(tmpdir(), 'tradecore-sigterm-kafka-'));
    const url = db.url;
    try {
      await sigtermDuringLoad({ ...BASE_ENV, DATABASE_URL: url, DATA_DIR: dir, KAFKA_BROKERS: kafka.brokers.join(','), KAFKA_TOPIC_PREFIX: kafka.topicPrefix('sigterm') }, () => url, servers);
    } finally {
      await cleanUp(servers, dir);
      await kafka.deleteTopics();
    }
  });

  it('on the embedded PostgreSQL (what `pnpm start` runs): the same, with the database stopped last', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tradecore-sigterm-embedded-'));
    // initdb may run as another OS user (the package creates `postgres` when started as root).
    chmodSync(dir, 0o777);
    const port = await freePort();
    const dataDir = dir;
    // No DATABASE_URL (not even one inherited from the test environment): the embedded PostgreSQL.
    const env = { ...BASE_ENV, DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(port), DATABASE_URL: null };
    await sigtermDuringLoad(env, () => `postgres://postgres:${encodeURIComponent(readFileSync(join(dataDir, 'pg-password'), 'utf8').trim())}@127.0.0.1:${port}/tradecore`, servers);
  });

  it("on the embedded PostgreSQL, a terminal's Ctrl-C (SIGINT to the whole process group) reaches the server alone: it stops gracefully, then the database", async () => {
    dir = mkdtempSync(join(tmpdir(), 'tradecore-ctrl-c-embedded-'));
    chmodSync(dir, 0o777);
    const port = await freePort();
    const dataDir = dir;
    const env = { ...BASE_ENV, DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(port), DATABASE_URL: null, LOG_LEVEL: 'warn' };
    const server = await startServer(env, { ownProcessGroup: true });
    servers.push(server);
    // Working before the signal: an order end to end (resting sell, crossing buy, both filled).
    await walkingSkeleton(http(server.url), ADMIN);
    const postmasterPid = Number(readFileSync(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(postmasterPid).toBeGreaterThan(0);
    // The database runs in a process group of its own, as `pg_ctl start` would leave it.
    expect(readFileSync(`/proc/${postmasterPid}/stat`, 'utf8').split(') ')[1]?.split(' ')[2]).not.toBe(String(server.child.pid));

    process.kill(-server.child.pid!, 'SIGINT');
    const exit = await Promise.race([server.exited, new Promise<null>((r) => setTimeout(() => r(null), 60_000))]);
    expect(exit, server.output()).toEqual({ code: 0, signal: null });
    expect(server.output()).toContain('SIGINT: stopping Tradecore');
    // The database was not stopped under the server's graceful stop (it was, when Ctrl-C reached it too).
    expect(server.output()).not.toMatch(/terminating connection due to administrator command|the database system is shutting down|ECONNREFUSED/);
    // And the server stopped it: the postmaster is gone and its lock file removed.
    await eventually('the postmaster gone', async () => (existsSync(`/proc/${postmasterPid}`) ? undefined : true), 30_000);
    expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
  });
});
