/**
 * Cache of public market data: whole JSON bodies with the projection position they reflect.
 * Grouped per market (a Redis hash per market, one field per view) so a notification drops a
 * market's entries in one DEL. Entries also expire (TTL), and readers reject an entry older than
 * the last change they were told about for its market (see routes.ts), so a racing write of stale
 * data is never served once the newer notification has arrived.
 */
import { Redis } from 'ioredis';

export interface CacheEntry {
  position: string;
  body: string;
}

export interface Cache {
  readonly kind: 'redis' | 'memory';
  get(group: string, field: string): Promise<CacheEntry | undefined>;
  set(group: string, field: string, entry: CacheEntry, ttlMs: number): Promise<void>;
  drop(groups: readonly string[]): Promise<void>;
  /** Throws when the backing store is unreachable (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function memoryCache(maxGroups = 10_000): Cache {
  const groups = new Map<string, Map<string, CacheEntry & { expires: number }>>();
  return {
    kind: 'memory',
    async get(group, field) {
      const e = groups.get(group)?.get(field);
      if (!e) return undefined;
      if (e.expires < Date.now()) {
        groups.get(group)?.delete(field);
        return undefined;
      }
      return { position: e.position, body: e.body };
    },
    async set(group, field, entry, ttlMs) {
      let g = groups.get(group);
      if (!g) {
        if (groups.size >= maxGroups) groups.clear();
        g = new Map();
        groups.set(group, g);
      }
      if (g.size > 1_000) g.clear();
      g.set(field, { ...entry, expires: Date.now() + ttlMs });
    },
    async drop(list) {
      for (const g of list) groups.delete(g);
    },
    async ping() {},
    async close() {
      groups.clear();
    },
  };
}

export function redisCache(url: string, prefix = 'tradecore:qa:'): Cache {
  const redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1, enableAutoPipelining: true, enableOfflineQueue: true });
  redis.on('error', () => undefined); // reported through ping() and by falling back to the database
  const key = (group: string) => `${prefix}${group}`;
  return {
    kind: 'redis',
    async get(group, field) {
      try {
        const raw = await redis.hget(key(group), field);
        if (!raw) return undefined;
        const cut = raw.indexOf('|');
        return { position: raw.slice(0, cut), body: raw.slice(cut + 1) };
      } catch {
        return undefined; // a cache outage degrades to reading the database
      }
    },
    async set(group, field, entry, ttlMs) {
      try {
        await redis.multi().hset(key(group), field, `${entry.position}|${entry.body}`).pexpire(key(group), ttlMs).exec();
      } catch {
        // best effort
      }
    },
    async drop(list) {
      if (list.length === 0) return;
      try {
        await redis.del(...list.map(key));
      } catch {
        // entries expire anyway, and readers reject stale ones
      }
    },
    async ping() {
      await redis.ping();
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
