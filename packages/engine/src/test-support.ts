/**
 * Test support for the engine's integration tests (imported by *.test.ts and the benchmark only):
 * a real PostgreSQL event store in a database of its own, a real Kafka with a per-test prefix,
 * catalogue-valid event builders and topic readers.
 */
import { createPostgresEventStore, type EventMetadata, type NewEvent, type PostgresEventStore, type RecordedEvent } from '@tradecore/event-store';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import pg from 'pg';
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

export async function createTestStore(prefix = 'engine'): Promise<TestStore> {
  const db = await createTestDatabase(prefix);
  const store = createPostgresEventStore({ connectionString: db.url, pollIntervalMs: 200 });
  await store.ready();
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on('error', () => undefined);
  return {
    db,
    store,
    pool,
    async close() {
      await store.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
      await db.drop().catch(() => undefined);
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

export function newEvent(type: string, data: unknown, userId: number | null, idSeed?: string): NewEvent {
  seq += 1;
  return {
    eventId: uuidv5(idSeed ?? `${type}-${seq}-${process.hrtime.bigint()}`, TEST_NAMESPACE),
    type,
    data,
    metadata: meta(userId),
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

export function orderPlaced(o: OrderSpec, at = '2025-01-01T00:00:00.000Z'): { stream: string; event: NewEvent; orderId: string } {
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
