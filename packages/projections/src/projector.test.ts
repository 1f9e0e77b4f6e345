import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Registry } from 'prom-client';
import { parseAmount } from '@tradecore/core-domain';
import { createPostgresEventStore, type RecordedEvent } from '@tradecore/event-store';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { createProjector, diffReadModels, installAnalytics, rebuildReadModels, replayReadModels, runProjection, snapshotReadModels, NOTIFY_CHANNEL, type ReadModelNotification } from './index.ts';
import { generateHistory, InMemoryEventStore } from './testing/index.ts';
import { referenceFold } from '../test/reference-fold.ts';

let db: TestDatabase;
let pool: pg.Pool;
const history = generateHistory({ events: 3_000, seed: 7, users: 8, markets: 3 });

beforeAll(async () => {
  db = await createTestDatabase('proj');
  pool = new pg.Pool({ connectionString: db.url, max: 8 });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

async function count(schema: string, table: string): Promise<number> {
  const r = await pool.query<{ n: string }>(`select count(*)::text as n from ${schema}.${table}`);
  return Number(r.rows[0]?.n);
}

describe('createProjector', () => {
  it('a crash between the read-model writes and the checkpoint counts nothing twice', async () => {
    const projector = createProjector({ pool, schema: 'crash', notify: false });
    await projector.migrate();
    const events = history.events.slice(0, 1_500);
    await projector.apply(events.slice(0, 600));
    const before = await snapshotReadModels(pool, 'crash');
    // The checkpoint update is the last write of a batch: make it fail, as a crash there would.
    await pool.query(`create function crash.fail() returns trigger language plpgsql as $$ begin raise exception 'simulated crash before checkpoint'; end $$`);
    await pool.query(`create trigger fail before update on crash.projection_checkpoint for each row execute function crash.fail()`);
    await expect(projector.apply(events.slice(600, 1_200))).rejects.toThrow(/simulated crash/);
    expect(await snapshotReadModels(pool, 'crash')).toEqual(before);
    await pool.query('drop trigger fail on crash.projection_checkpoint');
    // redelivery overlapping what was half-applied, then the rest
    await projector.apply(events.slice(500, 1_200));
    await projector.apply(events.slice(1_000));
    const snap = await snapshotReadModels(pool, 'crash');
    const ref = referenceFold(events).tables;
    for (const table of ['balances', 'orders', 'positions', 'trades', 'public_trades', 'candles', 'book_levels', 'markets']) {
      expect((snap[table] ?? []).length, table).toBe((ref[table] ?? []).length);
    }
    expect(snap.balances).toEqual(expect.arrayContaining(ref.balances ?? []));
    expect(snap.orders).toEqual(expect.arrayContaining(ref.orders ?? []));
    expect(snap.positions).toEqual(expect.arrayContaining(ref.positions ?? []));
    expect(await projector.position()).toBe(events[events.length - 1]?.globalPosition);
  });

  it('liveCache: projectors taking turns on one schema (and a failed batch) leave exactly the rows of one projector; the cache saves row loads', async () => {
    const events = history.events.slice(0, 2_400);
    /** A pool whose clients count the order ids asked for by loadOrders (`where order_id = any($1)`). */
    const counted = (schema: string) => {
      let asked = 0;
      const p = Object.create(pool) as pg.Pool;
      p.connect = (async () => {
        const client = await pool.connect();
        const query = client.query.bind(client) as (...args: unknown[]) => unknown;
        return Object.assign(Object.create(client) as pg.PoolClient, {
          query: (...args: unknown[]) => {
            // query(text, values) or query({ text, values }) (a named prepared statement)
            const config = typeof args[0] === 'string' ? { text: args[0], values: args[1] as unknown[] } : (args[0] as { text?: string; values?: unknown[] });
            if (config.text?.includes(`from "${schema}".orders where order_id = any`)) asked += ((config.values as unknown[][] | undefined)?.[0] ?? []).length;
            return query(...args);
          },
          release: (err?: Error | boolean) => client.release(err),
        });
      }) as pg.Pool['connect'];
      return { pool: p, asked: () => asked };
    };
    const refPool = counted('live_ref');
    const ref = createProjector({ pool: refPool.pool, schema: 'live_ref', notify: false });
    await ref.migrate();
    const cachedPool = counted('live_cache');
    const cached = createProjector({ pool: cachedPool.pool, schema: 'live_cache', notify: false, liveCache: true });
    const other = createProjector({ pool, schema: 'live_cache', notify: false });
    await cached.migrate();
    // 0-600 by the cached projector alone; the same batches by the uncached reference
    for (let i = 0; i < 600; i += 200) {
      await ref.apply(events.slice(i, i + 200));
      await cached.apply(events.slice(i, i + 200));
    }
    expect(refPool.asked()).toBeGreaterThan(0);
    expect(cachedPool.asked()).toBeLessThan(refPool.asked());
    for (let i = 600; i < events.length; i += 200) await ref.apply(events.slice(i, i + 200));
    // then turns: the other projector writes rows the cache holds, so the cached one must drop them
    for (let i = 600; i < 1_800; i += 200) await (i % 400 === 200 ? other : cached).apply(events.slice(i, i + 200));
    // a failed batch (the checkpoint update fails after the row writes) must not leave its rows in the cache
    await pool.query(`create function live_cache.fail() returns trigger language plpgsql as $$ begin raise exception 'simulated failure'; end $$`);
    await pool.query(`create trigger fail before update on live_cache.projection_checkpoint for each row execute function live_cache.fail()`);
    await expect(cached.apply(events.slice(1_800, 2_000))).rejects.toThrow(/simulated failure/);
    await pool.query('drop trigger fail on live_cache.projection_checkpoint');
    await cached.apply(events.slice(1_800, 2_000));
    await cached.apply(events.slice(2_000, 2_200));
    await other.apply(events.slice(2_200, 2_300));
    await cached.apply(events.slice(2_300));

    expect(await snapshotReadModels(pool, 'live_cache')).toEqual(await snapshotReadModels(pool, 'live_ref'));
  });

  it('liveCache keeps open orders only: final orders leave the cache, and the rows equal an uncached projection', async () => {
    const registry = new Registry();
    const cached = createProjector({ pool, schema: 'live_final', notify: false, liveCache: true, registry });
    await cached.migrate();
    const events = history.events;
    for (let i = 0; i < events.length; i += 250) await cached.apply(events.slice(i, i + 250));
    const cachedRows = async () => {
      const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'projection_cached_rows');
      const rows = new Map<string, number>();
      for (const v of (metric?.values ?? []) as { labels: { schema?: string; kind?: string }; value: number }[]) if (v.labels.schema === 'live_final') rows.set(v.labels.kind ?? '', v.value);
      return rows;
    };
    const counts = await pool.query<{ open: string; final: string; positions: string; markets: string }>(
      `select count(*) filter (where status not in ('filled', 'cancelled', 'rejected', 'expired'))::text as open,
              count(*) filter (where status in ('filled', 'cancelled', 'rejected', 'expired'))::text as final,
              (select count(*) from live_final.positions)::text as positions, (select count(*) from live_final.markets)::text as markets
         from live_final.orders`,
    );
    const c = counts.rows[0]!;
    expect(Number(c.final)).toBeGreaterThan(100); // the history ends many orders
    const rows = await cachedRows();
    expect(rows.get('orders')).toBe(Number(c.open));
    expect(rows.get('positions')).toBe(Number(c.positions));
    expect(rows.get('markets')).toBe(Number(c.markets));

    const plain = createProjector({ pool, schema: 'live_final_ref', notify: false });
    await plain.migrate();
    for (let i = 0; i < events.length; i += 250) await plain.apply(events.slice(i, i + 250));
    expect(await snapshotReadModels(pool, 'live_final')).toEqual(await snapshotReadModels(pool, 'live_final_ref'));
  });

  it('records events that fail their schema or carry inexact amounts, and goes on', async () => {
    const projector = createProjector({ pool, schema: 'poison', notify: false });
    await projector.migrate();
    const good = history.events.slice(0, 50);
    const at = good[good.length - 1]?.globalPosition ?? 0n;
    const meta = { correlationId: 'x', causationId: null, userId: null, occurredAt: '2026-01-05T10:00:00.000Z', schemaVersion: 1 };
    const bad = (n: bigint, type: string, data: unknown): RecordedEvent => ({ eventId: `bad-${n}`, stream: 'account-1', type, data, metadata: meta, streamRevision: 0n, globalPosition: at + n, recordedAt: meta.occurredAt });
    const deposit = { depositId: 'd', userId: 1, asset: 'USD', depositedBy: 1 };
    const result = await projector.apply([
      ...good,
      bad(1n, 'NoSuchEvent', {}),
      bad(2n, 'FundsDeposited', { ...deposit, amount: '-3' }),
      bad(3n, 'FundsDeposited', { ...deposit, amount: '0.0000000000001' }),
      bad(4n, 'OrderRested', { orderId: 'never-placed', userId: 1, marketId: 1, side: 'buy', price: '1', remainingQuantity: '1' }),
      bad(5n, 'FundsDeposited', { ...deposit, amount: '7' }),
    ]);
    expect(result.errors).toBe(4);
    expect(result.position).toBe(at + 5n);
    const errors = await pool.query<{ position: string; kind: string; event_type: string }>('select position::text, kind, event_type from poison.projection_errors order by position');
    expect(errors.rows).toEqual([
      { position: String(at + 1n), kind: 'schema', event_type: 'NoSuchEvent' },
      { position: String(at + 2n), kind: 'schema', event_type: 'FundsDeposited' },
      { position: String(at + 3n), kind: 'value', event_type: 'FundsDeposited' },
      { position: String(at + 4n), kind: 'reference', event_type: 'OrderRested' },
    ]);
    // the good deposit after the bad ones landed exactly once
    const ref = referenceFold(good).tables.balances?.find((b) => b.user_id === '1' && b.asset === 'USD');
    const usd = await pool.query<{ available: string }>(`select trim_scale(available)::text as available from poison.balances where user_id = 1 and asset = 'USD'`);
    expect(parseAmount(usd.rows[0]?.available ?? 'x') - parseAmount(ref?.available ?? 'x')).toBe(parseAmount('7'));
  });

  it('opens its transaction and reads the checkpoint under the lock in one round trip', async () => {
    const sent: string[] = [];
    const recording = new pg.Pool({ connectionString: db.url, max: 2 });
    recording.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        const first = args[0];
        sent.push(typeof first === 'string' ? first : (first as { text: string }).text);
        return query(...args);
      };
    });
    try {
      for (const synchronousCommit of [true, false]) {
        const schema = synchronousCommit ? 'opening' : 'opening_async';
        const projector = createProjector({ pool: recording, schema, notify: false, synchronousCommit });
        await projector.migrate();
        sent.length = 0;
        const r = await projector.apply(history.events.slice(0, 200));
        expect(r.applied).toBe(200);
        expect(await projector.position()).toBe(history.events[199]?.globalPosition);
        const [opening] = sent;
        const statements = opening?.split(';\n').map((q) => q.trim()) ?? [];
        expect(statements.slice(0, -1)).toEqual(['begin', ...(synchronousCommit ? [] : ['set local synchronous_commit = off'])]);
        expect(statements.at(-1)).toMatch(new RegExp(`^select pg_advisory_xact_lock\\(hashtextextended\\('tradecore\\.projection:${schema}', 0\\)\\).* for update\\) as position`, 's'));
        expect(sent.filter((q) => q.trim() === 'begin')).toEqual([]);
        expect(sent.filter((q) => q.trim() === 'commit')).toHaveLength(1);
        expect(sent.at(-2)).toBe('commit'); // the position() read after it
      }
    } finally {
      await recording.end();
    }
  });

  it('notifies listeners after commit with the position and the touched ids; nothing for a redelivery or a rolled-back batch', async () => {
    const projector = createProjector({ pool, schema: 'notified' });
    await projector.migrate();
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const received: ReadModelNotification[] = [];
    listener.on('notification', (n) => received.push(JSON.parse(n.payload ?? '{}') as ReadModelNotification));
    await listener.query(`listen ${NOTIFY_CHANNEL}`);
    const batch = history.events.slice(0, 400);
    const r = await projector.apply(batch);
    expect((await projector.apply(batch)).applied).toBe(0); // a pure redelivery: nothing new, nothing sent
    await pool.query(`create function notified.fail() returns trigger language plpgsql as $$ begin raise exception 'boom'; end $$`);
    await pool.query(`create trigger fail before update on notified.projection_checkpoint for each row execute function notified.fail()`);
    await expect(projector.apply(history.events.slice(400, 500))).rejects.toThrow(/boom/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await listener.end();
    expect(received[0]).toMatchObject({ schema: 'notified', position: r.position.toString() });
    expect(received[0]?.markets.length).toBeGreaterThan(0);
    expect(received[0]?.users.length).toBeGreaterThan(0);
    expect(received).toHaveLength(1);
  });
});

describe('runProjection', () => {
  it('follows the PostgreSQL event store from the checkpoint and exposes position and lag', async () => {
    const store = createPostgresEventStore({ pool, schema: 'event_store' });
    await store.ready();
    const events = history.events.slice(0, 400);
    let last = 0n;
    const append = async (list: readonly RecordedEvent[]) => {
      for (const e of list) last = (await store.appendToStream(e.stream, [{ eventId: e.eventId, type: e.type, data: e.data, metadata: e.metadata }])).position;
    };
    await append(events.slice(0, 200));
    const registry = new Registry();
    const projector = createProjector({ pool, schema: 'followed', registry });
    await projector.migrate();
    const run = runProjection(store, projector, { registry, batchSize: 50, headPollMs: 50 });
    try {
      await run.started;
      await append(events.slice(200));
      // The store only shows events below the cluster-wide snapshot horizon: a long transaction
      // anywhere on the server (another test, a benchmark) delays them, so wait generously.
      const head = last;
      const deadline = Date.now() + 100_000;
      while ((await projector.position()) < head && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(await projector.position()).toBe(head);
      await new Promise((r) => setTimeout(r, 120));
      const metrics = await registry.getMetricsAsJSON();
      const lag = metrics.find((m) => m.name === 'projection_lag_events');
      const pos = metrics.find((m) => m.name === 'projection_position');
      expect(lag?.values[0]?.value).toBe(0);
      expect(pos?.values[0]?.value).toBe(Number(head));
    } finally {
      await run.close();
    }
    await run.done;
    // The same log replayed from the store's positions gives the same read models.
    expect(await count('followed', 'orders')).toBeGreaterThan(0);
    await replayReadModels({ store, pool, schema: 'followed_replay', batchSize: 64 });
    expect(await diffReadModels(pool, 'followed', 'followed_replay')).toEqual([]);
    await store.close();
  }, 150_000);
});

describe('rebuildReadModels', () => {
  it('swaps a rebuilt schema in atomically, including events appended meanwhile, and re-points analytics', async () => {
    const store = InMemoryEventStore.of(history.events.slice(0, 1_000));
    const live = createProjector({ pool, schema: 'rm_live', notify: false });
    await live.migrate();
    await live.apply(history.events.slice(0, 1_000));
    await installAnalytics(pool, { readModelSchema: 'rm_live', analyticsSchema: 'rm_analytics' });
    // corrupt the live model: the rebuild must repair it
    await pool.query(`update rm_live.balances set available = available + 1 where user_id = 1`);
    const damaged = await replayReadModels({ store, pool, schema: 'rm_expected' });
    expect((await diffReadModels(pool, 'rm_live', 'rm_expected')).length).toBeGreaterThan(0);

    let appended = false;
    const result = await rebuildReadModels({
      store,
      pool,
      liveSchema: 'rm_live',
      analyticsSchema: 'rm_analytics',
      batchSize: 128,
      onProgress: (position) => {
        // append while the rebuild runs: the swap must catch up
        if (!appended && position > 0n) {
          appended = true;
          store.load(history.events.slice(1_000, 1_200));
        }
      },
    });
    // Every event folded exactly once, whether the replay's reads or the swap's catch-up took the
    // 200 appended meanwhile (`events` counts both; `caughtUpInSwap` is the swap's share).
    expect(result.events).toBe(1_200);
    expect(result.caughtUpInSwap).toBeLessThanOrEqual(200);
    expect(result.position).toBe(history.events[1_199]?.globalPosition);
    await replayReadModels({ store, pool, schema: 'rm_expected' });
    expect(damaged.events).toBe(1_000);
    expect(await diffReadModels(pool, 'rm_live', 'rm_expected')).toEqual([]);
    const schemas = await pool.query<{ nspname: string }>(`select nspname from pg_namespace where nspname like 'rm_live%' order by 1`);
    expect(schemas.rows.map((r) => r.nspname)).toEqual(['rm_live']);
    // the analytics views read the new tables
    const viaView = await pool.query<{ n: string }>('select count(*)::text as n from rm_analytics.orders');
    expect(Number(viaView.rows[0]?.n)).toBe(await count('rm_live', 'orders'));
    // the live projector carries on in the swapped schema
    const more = await live.apply(history.events.slice(1_100, 1_400));
    expect(more.applied).toBe(200);
  });

  it('runs one rebuild of a live schema at a time', async () => {
    const store = InMemoryEventStore.of(history.events.slice(0, 2_000));
    const results = await Promise.allSettled([
      rebuildReadModels({ store, pool, liveSchema: 'rm_once', batchSize: 100 }),
      new Promise((resolve) => setTimeout(resolve, 30)).then(() => rebuildReadModels({ store, pool, liveSchema: 'rm_once', batchSize: 100 })),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const rejected = results.find((r) => r.status === 'rejected');
    expect(String((rejected as PromiseRejectedResult).reason)).toMatch(/already running/);
    expect(await count('rm_once', 'orders')).toBeGreaterThan(0);
  });
});

describe('replayPipeline', () => {
  it('folds batches that arrive during a write into one write, and ends equal to batch-by-batch apply', async () => {
    const events = history.events;
    const live = createProjector({ pool, schema: 'rp_live', notify: false });
    await live.migrate();
    for (let i = 0; i < events.length; i += 50) await live.apply(events.slice(i, i + 50));

    const replay = createProjector({ pool, schema: 'rp_replay', notify: false, cache: true });
    await replay.migrate();
    // Count the pipeline's transactions: each one moves the checkpoint once.
    await pool.query(`create table rp_replay.writes (n int not null); insert into rp_replay.writes values (0)`);
    await pool.query(`create function rp_replay.count_write() returns trigger language plpgsql as $$ begin update rp_replay.writes set n = n + 1; return new; end $$`);
    await pool.query(`create trigger count_write after update on rp_replay.projection_checkpoint for each row execute function rp_replay.count_write()`);
    const pipeline = replay.replayPipeline({ emptySchema: true });
    let pushes = 0;
    let errors = 0;
    for (let i = 0; i < events.length; i += 50) {
      errors += await pipeline.push(events.slice(i, i + 50));
      pushes += 1;
    }
    expect(await pipeline.finish()).toBe(events[events.length - 1]?.globalPosition);
    const writes = await pool.query<{ n: number }>('select n from rp_replay.writes');
    const n = writes.rows[0]?.n ?? 0;
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(pushes);
    await pool.query('drop table rp_replay.writes');
    expect(await diffReadModels(pool, 'rp_live', 'rp_replay')).toEqual([]);
    expect(errors).toBe(await count('rp_replay', 'projection_errors'));
  });

  it('ends equal to batch-by-batch apply when batches are larger than its fold slices (one batch of the whole history)', async () => {
    const events = history.events;
    expect(events.length).toBeGreaterThan(2_500);
    const live = createProjector({ pool, schema: 'rp_live3', notify: false });
    await live.migrate();
    for (let i = 0; i < events.length; i += 50) await live.apply(events.slice(i, i + 50));

    const replay = createProjector({ pool, schema: 'rp_whole', notify: false, cache: true });
    await replay.migrate();
    const pipeline = replay.replayPipeline({ emptySchema: true });
    const errors = await pipeline.push(events);
    expect(await pipeline.finish()).toBe(events[events.length - 1]?.globalPosition);
    expect(await diffReadModels(pool, 'rp_live3', 'rp_whole')).toEqual([]);
    expect(errors).toBe(await count('rp_whole', 'projection_errors'));
  });

  it('folds while its schema is being created, and fails with the schema when that fails', async () => {
    const events = history.events;
    const ok = createProjector({ pool, schema: 'rp_ready', notify: false, cache: true });
    let created = false;
    const ready = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await ok.migrate();
      created = true;
    })();
    const pipeline = ok.replayPipeline({ emptySchema: true, ready });
    await pipeline.push(events.slice(0, 100));
    expect(await pipeline.finish()).toBe(events[99]?.globalPosition);
    expect(created).toBe(true);
    expect(await ok.position()).toBe(events[99]?.globalPosition);

    const broken = createProjector({ pool, schema: 'rp_never', notify: false, cache: true });
    const failing = broken.replayPipeline({ emptySchema: true, ready: Promise.reject(new Error('schema not created')) });
    await failing.push(events.slice(0, 100));
    await expect(failing.finish()).rejects.toThrow('schema not created');
  });

  it('ends equal to batch-by-batch apply when its cache overflows mid-replay (folds straight into the cache, then loads rows again)', async () => {
    const events = history.events;
    const live = createProjector({ pool, schema: 'rp_live2', notify: false });
    await live.migrate();
    for (let i = 0; i < events.length; i += 50) await live.apply(events.slice(i, i + 50));

    // A cache bound far below the history's orders: cleared again and again.
    const replay = createProjector({ pool, schema: 'rp_small', notify: false, cache: true, cacheMaxEntries: 40 });
    await replay.migrate();
    const pipeline = replay.replayPipeline({ emptySchema: true });
    let errors = 0;
    for (let i = 0; i < events.length; i += 50) errors += await pipeline.push(events.slice(i, i + 50));
    expect(await pipeline.finish()).toBe(events[events.length - 1]?.globalPosition);
    expect(await count('rp_small', 'orders')).toBeGreaterThan(40);
    expect(await diffReadModels(pool, 'rp_live2', 'rp_small')).toEqual([]);
    expect(errors).toBe(await count('rp_small', 'projection_errors'));
  });
});
