/**
 * Test support for the engine's integration tests (imported by *.test.ts and the benchmark only):
 * a real PostgreSQL event store in a database of its own, a real Kafka with a per-test prefix,
 * catalogue-valid event builders and topic readers.
 */
import { createPostgresEventStore, type EventMetadata, type NewEvent, type PostgresEventStore, type RecordedEvent } from '@tradecore/event-store';
import { createTestDatabase, finishedWithin, type TestDatabase } from '@tradecore/testkit';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import pg from 'pg';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { v5 as uuidv5 } from 'uuid';
import { decodeRecordedEvent } from './codec.ts';

export const TEST_NAMESPACE = '3d0f5a4e-2c1b-5e6f-8a7b-9c0d1e2f3a4b';
export const quietLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export interface TestStore {
  db: TestDatabase;
  store: PostgresEventStore;
  pool: pg.Pool;
  close(): Promise<void>;
}

export async function createTestStore(prefix = 'engine', options: { pollIntervalMs?: number; poolSize?: number } = {}): Promise<TestStore> {
  const db = await createTestDatabase(prefix);
  const store = createPostgresEventStore({ connectionString: db.url, pollIntervalMs: options.pollIntervalMs ?? 200, poolSize: options.poolSize ?? 10 });
  await store.ready();
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on('error', () => undefined);
  return {
    db,
    store,
    pool,
    async close() {
      // Bounded: a test's teardown must not hang on a subscription someone forgot to stop.
      const bounded = async (what: string, p: Promise<unknown>, state?: () => string): Promise<void> => {
        const finished = await finishedWithin(p.catch(() => undefined), 15_000);
        if (!finished) console.warn(`[engine test-support] ${what} did not finish within 15 s; going on${state ? ` (${state()})` : ''}`);
      };
      await bounded('store.close()', store.close(), () => store.describeClose());
      await bounded('pool.end()', pool.end());
      await bounded('drop database', db.drop());
    },
  };
}

export function testKafkaClient(brokers: readonly string[], clientId = 'engine-test'): Kafka {
  return new Kafka({ clientId, brokers: [...brokers], logLevel: logLevel.NOTHING, retry: { initialRetryTime: 100, retries: 8 } });
}

let seq = 0;
export function meta(userId: number | null, at = '2025-01-01T00:00:00.000Z'): EventMetadata {
  seq += 1;
  return { correlationId: uuidv5(`corr-${seq}-${Date.now()}`, TEST_NAMESPACE), causationId: null, userId, occurredAt: at, schemaVersion: 1 };
}

export function newEvent(type: string, data: unknown, userId: number | null, at?: string): NewEvent {
  seq += 1;
  return {
    eventId: uuidv5(`${type}-${seq}-${process.hrtime.bigint()}`, TEST_NAMESPACE),
    type,
    data,
    metadata: meta(userId, at),
  };
}

export const ADMIN = 1;

export function marketListed(marketId: number, symbol = `M${marketId}-USD`) {
  return newEvent(
    'MarketListed',
    {
      marketId,
      symbol,
      baseAsset: `M${marketId}`,
      quoteAsset: 'USD',
      tickSize: '0.01',
      lotSize: '0.001',
      referencePrice: '100',
      makerFeeBps: 10,
      takerFeeBps: 20,
      maxOrderQuantity: '1000',
      maxOrderNotional: '1000000',
      priceBandBps: 5000,
      listedBy: ADMIN,
    },
    ADMIN,
  );
}

export function deposit(userId: number, asset: string, amount: string) {
  return newEvent('FundsDeposited', { depositId: uuidv5(`dep-${userId}-${asset}-${seq++}-${process.hrtime.bigint()}`, TEST_NAMESPACE), userId, asset, amount, depositedBy: ADMIN }, ADMIN);
}

export interface OrderSpec {
  orderId?: string;
  userId: number;
  marketId: number;
  side: 'buy' | 'sell';
  price: string | null;
  quantity: string;
  type?: 'limit' | 'market';
  timeInForce?: 'GTC' | 'IOC' | 'FOK';
}

/** Order times spread 100 ms apart by default, so the order-rate rule does not reject a test's flow. */
let orderClock = Date.parse('2025-01-01T00:00:00.000Z');
export function nextOrderTime(): string {
  orderClock += 100;
  return new Date(orderClock).toISOString();
}

export function orderPlaced(o: OrderSpec, at = nextOrderTime()): { stream: string; event: NewEvent; orderId: string } {
  const orderId = o.orderId ?? uuidv5(`order-${seq++}-${process.hrtime.bigint()}`, TEST_NAMESPACE);
  const event = newEvent(
    'OrderPlaced',
    {
      orderId,
      userId: o.userId,
      marketId: o.marketId,
      side: o.side,
      type: o.type ?? 'limit',
      timeInForce: o.timeInForce ?? 'GTC',
      price: o.price,
      quantity: o.quantity,
      postOnly: false,
      selfTradePrevention: 'cancel_newest',
      clientOrderId: null,
      requestHash: 'h',
      placedAt: at,
    },
    o.userId,
    at,
  );
  return { stream: `order-${orderId}`, event, orderId };
}

/** Reads every message of a topic (all partitions) until `until` holds or the timeout passes. */
export async function collectTopic(
  kafka: Kafka,
  topic: string,
  until: (messages: KafkaMessage[]) => boolean,
  timeoutMs = 30_000,
): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: `${topic}-reader-${process.hrtime.bigint()}`, maxWaitTimeInMs: 100 });
  const messages: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    await consumer.run({
      eachMessage: async ({ message }) => {
        messages.push(message);
        if (until(messages)) resolveDone();
      },
    });
    const timer = new Promise<void>((r) => setTimeout(r, timeoutMs));
    await Promise.race([done, timer]);
    return messages;
  } finally {
    await consumer.disconnect();
  }
}

/** Total messages in a topic (sum of high watermarks). */
export async function topicSize(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((s, o) => s + Number(o.high) - Number(o.low), 0);
  } finally {
    await admin.disconnect();
  }
}

export function decoded(messages: readonly KafkaMessage[]): RecordedEvent[] {
  return messages.map((m) => decodeRecordedEvent(m.value));
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Every event of the store, in global order (paged). */
export async function allEvents(store: PostgresEventStore): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  let from = 0n;
  for (;;) {
    const page = await store.readAll({ fromPosition: from, maxCount: 5_000 });
    out.push(...page);
    if (page.length < 5_000) return out;
    from = page[page.length - 1]!.globalPosition;
  }
}

export function countTypes(events: readonly RecordedEvent[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of events) counts[e.type] = (counts[e.type] ?? 0) + 1;
  return counts;
}

export async function appendOrder(store: PostgresEventStore, o: OrderSpec): Promise<string> {
  const placed = orderPlaced(o);
  await store.appendToStream(placed.stream, [placed.event], { expectedRevision: 'no_stream' });
  return placed.orderId;
}

/** Waits until the store holds at least `n` events of `type`; returns all events then. */
export async function waitForCount(store: PostgresEventStore, type: string, n: number, timeoutMs = 60_000): Promise<RecordedEvent[]> {
  let events: RecordedEvent[] = [];
  await waitFor(
    `${n} ${type} events`,
    async () => {
      events = await allEvents(store);
      return events.filter((e) => e.type === type).length >= n;
    },
    timeoutMs,
    200,
  );
  return events;
}

/**
 * Waits until the store stops growing for `quietMs` (the pipeline has nothing left to decide);
 * returns the events.
 */
export async function waitForQuiet(store: PostgresEventStore, quietMs = 2_000, timeoutMs = 90_000): Promise<RecordedEvent[]> {
  const deadline = Date.now() + timeoutMs;
  let head = await store.headPosition();
  let since = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    const h = await store.headPosition();
    if (h !== head) {
      head = h;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return allEvents(store);
  }
  throw new Error('the store did not become quiet');
}

/** The walking skeleton's opening: market 1, deposits for users A (base) and B (quote). */
export const USER_A = 11;
export const USER_B = 12;
export async function seedMarketAndDeposits(store: PostgresEventStore, marketIds: readonly number[] = [1], users: readonly number[] = [USER_A, USER_B]): Promise<void> {
  await store.appendToStream('markets', marketIds.map((m) => marketListed(m)), { expectedRevision: 'any' });
  for (const u of users) {
    await store.appendToStream(
      `account-${u}`,
      [deposit(u, 'USD', '1000000'), ...marketIds.map((m) => deposit(u, `M${m}`, '10000'))],
      { expectedRevision: 'any' },
    );
  }
}

export interface EngineProcess {
  child: ChildProcess;
  roles: readonly string[];
  /** Everything the process printed (for failure messages). */
  output(): string;
  /** Port of its /health, /ready and /metrics endpoint. */
  opsPort: number;
  /** SIGKILL: no graceful stop, no offset commit, no checkpoint. */
  kill9(): Promise<void>;
  /** SIGTERM: graceful stop. */
  stop(): Promise<void>;
}

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** Starts `main.ts <roles>` in a child process and waits until it reports ready. */
export async function spawnEngine(roles: readonly string[], env: { DATABASE_URL: string; KAFKA_BROKERS: string; TOPIC_PREFIX: string }): Promise<EngineProcess> {
  // ENGINE_CPU_PROF_DIR=<dir>: each engine process writes a V8 CPU profile there on exit (benchmarks).
  // One directory per role, default file names: tsx's loader thread writes a profile too, and a
  // fixed name would let it overwrite the main thread's.
  const profile = process.env.ENGINE_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ENGINE_CPU_PROF_DIR}/${roles.join('+')}`] : [];
  const child = spawn(process.execPath, [...profile, '--max-semi-space-size=64', '--import', 'tsx', MAIN, ...roles], {
    cwd: REPO_ROOT,
    // PORT 0: several engines per test, each with its own ops port (announced with `ready`).
    env: { ...process.env, SESSION_TIMEOUT_MS: '6000', PORT: '0', ...env, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const opsPort = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`engine ${roles.join(',')} did not start within 60 s:\n${out}`)), 60_000);
    child.on('message', (m: unknown) => {
      const ready = m as { ready?: boolean; opsPort?: number } | null;
      if (ready?.ready) {
        clearTimeout(timer);
        resolve(ready.opsPort ?? 0);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`engine ${roles.join(',')} exited with ${code} before it was ready:\n${out}`));
    });
  });
  return {
    child,
    roles,
    output: () => out,
    opsPort,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * The position of the last event appended so far, once global readers can see it. The PostgreSQL
 * store hides positions above the cluster's oldest running transaction, so `headPosition()` taken
 * right after an append may still be lower while other databases of the cluster are busy.
 */
export async function visibleHead(store: PostgresEventStore, lastAppended: bigint): Promise<bigint> {
  await waitFor('the last append to become visible', async () => (await store.headPosition()) >= lastAppended, 60_000, 50);
  return store.headPosition();
}
