import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { memoryCache, redisCache, type Cache } from './cache.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function redisAnswers(): Promise<boolean> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1_000, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

const redisUp = await redisAnswers();
if (!redisUp) console.log(`skipping the Redis cache tests: no Redis answers at ${REDIS_URL}`);
const caches: [string, () => Cache, boolean][] = [
  ['in-process', () => memoryCache(), true],
  ['Redis', () => redisCache(REDIS_URL, `tradecore:test:${randomBytes(4).toString('hex')}:`), redisUp],
];
const opened: Cache[] = [];
afterAll(async () => {
  for (const c of opened) await c.close();
});

for (const [name, make, available] of caches) {
  describe.skipIf(!available)(`${name} cache`, () => {
    it('stores bodies with their position per market group, drops a group at once, expires entries', async () => {
      const cache = make();
      opened.push(cache);
      await cache.ping();
      await cache.set('m:1', 'book:20', { position: '42', body: '{"bids":[]}' }, 10_000);
      await cache.set('m:1', 'market', { position: '41', body: '{"marketId":1}' }, 10_000);
      await cache.set('m:2', 'market', { position: '40', body: '{"marketId":2}' }, 10_000);
      expect(await cache.get('m:1', 'book:20')).toEqual({ position: '42', body: '{"bids":[]}' });
      await cache.drop(['m:1']);
      expect(await cache.get('m:1', 'book:20')).toBeUndefined();
      expect(await cache.get('m:1', 'market')).toBeUndefined();
      expect(await cache.get('m:2', 'market')).toEqual({ position: '40', body: '{"marketId":2}' });
      await cache.set('m:3', 'market', { position: '1', body: 'x|y' }, 50);
      expect((await cache.get('m:3', 'market'))?.body).toBe('x|y');
      await new Promise((r) => setTimeout(r, 120));
      expect(await cache.get('m:3', 'market')).toBeUndefined();
    });
  });
}
