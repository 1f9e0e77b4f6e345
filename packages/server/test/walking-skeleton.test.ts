import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, getKafka, type TestDatabase } from '@tradecore/testkit';
import { loadConfig } from '../src/config.ts';
import { startSystem, type RunningSystem } from '../src/system.ts';
import { http, walkingSkeleton } from './client.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ADMIN = { username: 'admin', password: 'admin-password-for-tests' };

function expectSkeleton(result: Awaited<ReturnType<typeof walkingSkeleton>>) {
  expect(result.sellOrder).toMatchObject({ status: 'filled', filledQuantity: '0.5', averageFillPrice: '65000' });
  expect(result.buyOrder).toMatchObject({ status: 'filled', filledQuantity: '0.5', averageFillPrice: '65000' });
  expect(result.sellerFills).toHaveLength(1);
  expect(result.buyerFills).toHaveLength(1);
  expect(result.sellerFills[0]).toMatchObject({ orderId: result.sell.orderId, side: 'sell', price: '65000', quantity: '0.5', liquidity: 'maker' });
  expect(result.buyerFills[0]).toMatchObject({ orderId: result.buy.orderId, side: 'buy', price: '65000', quantity: '0.5', liquidity: 'taker' });
  expect(result.sellerFills[0]?.tradeId).toBe(result.buyerFills[0]?.tradeId);
  // Settlement moved cash and instrument exactly, fees taken (maker 10 bps, taker 20 bps), nothing left reserved.
  const num = (s: string | undefined) => Number(s);
  expect(num(result.sellerPortfolio.BTC?.available)).toBe(1.5);
  expect(num(result.sellerPortfolio.BTC?.reserved)).toBe(0);
  expect(num(result.sellerPortfolio.USD?.available)).toBe(32_467.5);
  expect(num(result.buyerPortfolio.USD?.available)).toBe(167_435);
  expect(num(result.buyerPortfolio.USD?.reserved)).toBe(0);
  expect(num(result.buyerPortfolio.BTC?.available)).toBe(0.5);
}

async function start(db: TestDatabase, extra: Record<string, string> = {}): Promise<RunningSystem> {
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: db.url,
    DATA_DIR: mkdtempSync(join(tmpdir(), 'tradecore-skeleton-')),
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PER_SECOND: '10000',
    ...extra,
  });
  return startSystem(config, { log: () => undefined });
}

describe('one order end to end in single-node mode', { timeout: 180_000 }, () => {
  let db: TestDatabase;
  let system: RunningSystem;
  beforeAll(async () => {
    db = await createTestDatabase('skeleton');
    system = await start(db);
  });
  afterAll(async () => {
    await system?.stop();
    await db?.drop();
  });

  it('matches a resting sell with a crossing buy; both see the fill', async () => {
    expectSkeleton(await walkingSkeleton(http(system.url), ADMIN));
  });
});

const kafka = await getKafka();
if ('skip' in kafka) {
  console.warn(`[skip] Kafka end-to-end walking skeleton: ${kafka.skip}`);
}

describe.skipIf('skip' in kafka)('one order end to end through real Kafka', { timeout: 180_000 }, () => {
  let db: TestDatabase;
  let system: RunningSystem;
  beforeAll(async () => {
    if ('skip' in kafka) return;
    db = await createTestDatabase('skeleton_kafka');
    system = await start(db, { KAFKA_BROKERS: kafka.brokers.join(','), KAFKA_TOPIC_PREFIX: kafka.topicPrefix('skeleton') });
  });
  afterAll(async () => {
    await system?.stop();
    await db?.drop();
  });

  it('flows command-api → event store → relay → Kafka → risk → execution → projections → query-api', async () => {
    expectSkeleton(await walkingSkeleton(http(system.url), ADMIN));
  });
});
