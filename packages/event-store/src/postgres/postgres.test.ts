import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEvent } from '../contract.suite.ts';
import { canonicalize } from '../canonical-json.ts';
import { GENESIS_HASH, hashEvent } from '../hash.ts';
import { readStreamsForwards, type RawRecordedEvent, type RecordedEvent } from '../port.ts';
import { migrateEventStore } from './migrate.ts';
import { migrations, notifyChannel } from './schema.ts';
import { createPostgresEventStore, readNotification, type PostgresEventStore } from './store.ts';

/** Other transactions on the same server (other test files) may hold the visible bound back a moment. */
async function eventually<T>(read: () => Promise<T>, expected: T, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = await read();
    try {
      expect(got).toEqual(expected);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('PostgreSQL event store', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;

  beforeAll(async () => {
    db = await createTestDatabase('es_pg');
    store = createPostgresEventStore({ connectionString: db.url });
    await store.ready();
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it('never lets readers pass a lower position whose transaction is still open', async () => {
    const start = await store.headPosition();
    const delivered: RecordedEvent[] = [];
    const sub = store.subscribeToAll(
      (batch) => {
        delivered.push(...batch);
        return Promise.resolve();
      },
      { fromPosition: start },
    );
    const held = new pg.Client({ connectionString: db.url });
    await held.connect();
    try {
      await held.query('begin');
      const early = await store.appendToStreamInTransaction(held, 'held-open', [newEvent('Early')], {
        expectedRevision: 'no_stream',
      });
      // a later transaction appends and commits while the earlier one is still open
      const late = await store.appendToStream('committed-later', [newEvent('Late')], { expectedRevision: 'no_stream' });
      expect(late.position > early.position).toBe(true);

      // the committed event is invisible to global readers: showing it would let them skip `early`
      expect((await store.readAll({ fromPosition: start })).map((e) => e.type)).toEqual([]);
      expect(await store.headPosition()).toBe(start);
      const streamed: RecordedEvent[] = [];
      for await (const e of store.readAllStream({ fromPosition: start })) streamed.push(e);
      expect(streamed).toEqual([]);
      await new Promise((r) => setTimeout(r, 300));
      expect(delivered).toEqual([]);
      // ...while the stream itself reads its own committed write
      expect((await store.readStream('committed-later')).map((e) => e.type)).toEqual(['Late']);

      await held.query('commit');
      store.wakeSubscribers();
      await waitFor(() => delivered.length >= 2, 10_000);
      expect(delivered.map((e) => e.type)).toEqual(['Early', 'Late']);
      expect(delivered.map((e) => e.globalPosition)).toEqual([early.position, late.position]);
      await eventually(async () => (await store.readAll({ fromPosition: start })).map((e) => e.type), ['Early', 'Late']);
      await eventually(() => store.headPosition(), late.position);
    } finally {
      await held.query('rollback').catch(() => undefined);
      await held.end();
      await sub.close();
    }
  });

  it('subscribeToAllRaw delivers what subscribeToAll delivers, with data and metadata as their JSON texts and the named fields parsed', async () => {
    const start = await store.headPosition();
    const data = [
      { userId: 7, marketId: 3, note: 'é "quoted" \\ \u2028', nested: { a: [1, 2.5, null, true], b: {} } },
      { takerUserId: 1, makerUserId: 2, scope: 'global', userId: '7' },
      {},
    ];
    await store.appendToStream('raw-a', [newEvent('RawOne', data[0]), newEvent('RawTwo', data[1])], { expectedRevision: 'no_stream' });
    await store.appendToStream('raw-b', [newEvent('RawThree', data[2], { correlationId: 'c-1' })], { expectedRevision: 'no_stream' });
    const parsed: RecordedEvent[] = [];
    const raw: RawRecordedEvent[] = [];
    const subs = [
      store.subscribeToAll(async (b) => void parsed.push(...b), { fromPosition: start, batchSize: 2 }),
      store.subscribeToAllRaw(async (b) => void raw.push(...b), { fromPosition: start, batchSize: 2, fields: ['userId', 'takerUserId', 'scope', 'missing'] }),
    ];
    try {
      await waitFor(() => parsed.length >= 3 && raw.length >= 3, 10_000);
    } finally {
      for (const sub of subs) await sub.close();
    }
    expect(raw).toHaveLength(3);
    expect(parsed).toHaveLength(3);
    raw.forEach((r, i) => {
      const p = parsed[i]!;
      const { dataJson, metadataJson, fields, ...envelope } = r;
      const { data: pData, metadata: pMetadata, ...pEnvelope } = p;
      expect(envelope).toEqual(pEnvelope);
      expect(JSON.parse(dataJson)).toEqual(pData);
      expect(JSON.parse(metadataJson)).toEqual(pMetadata);
      expect(JSON.parse(dataJson)).toEqual(data[i]);
      // exactly the named fields the data has, with their JSON values (a string stays a string)
      const d = data[i] as Record<string, unknown>;
      expect(fields).toEqual(Object.fromEntries(['userId', 'takerUserId', 'scope', 'missing'].filter((f) => f in d).map((f) => [f, d[f]])));
    });
    expect(raw[1]!.fields).toEqual({ userId: '7', takerUserId: 1, scope: 'global' });
    expect(() => store.subscribeToAllRaw(async () => undefined, { fields: ["userId'; drop table x; --"] })).toThrow(/invalid data field name/);
  });

  it('a rolled-back transaction leaves no event and blocks nobody afterwards', async () => {
    const start = await store.headPosition();
    const held = new pg.Client({ connectionString: db.url });
    await held.connect();
    await held.query('begin');
    await store.appendToStreamInTransaction(held, 'rolled-back', [newEvent('Ghost')]);
    const late = await store.appendToStream('after-ghost', [newEvent('Real')]);
    await held.query('rollback');
    await held.end();
    await eventually(async () => (await store.readAll({ fromPosition: start })).map((e) => e.type), ['Real']);
    await eventually(() => store.headPosition(), late.position);
    expect(await store.readStream('rolled-back')).toEqual([]);
  });

  it('wakes a subscriber in another process through LISTEN/NOTIFY', async () => {
    const other = createPostgresEventStore({ connectionString: db.url, pollIntervalMs: 60_000 });
    const start = await store.headPosition();
    const seen: RecordedEvent[] = [];
    const sub = other.subscribeToAll(
      (batch) => {
        seen.push(...batch);
        return Promise.resolve();
      },
      { fromPosition: start },
    );
    try {
      await new Promise((r) => setTimeout(r, 300)); // caught up, waiting, listening
      const t0 = Date.now();
      await store.appendToStream('notify-me', [newEvent('Ping')]);
      await waitFor(() => seen.length > 0, 5_000); // far below the 60 s poll interval
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(seen.map((e) => e.type)).toEqual(['Ping']);
    } finally {
      await sub.close();
      await other.close();
    }
  });

  it('signs its NOTIFYs with its instance id, so that its own LISTEN skips them', async () => {
    const signed = createPostgresEventStore({ connectionString: db.url, instanceId: 'store-a', notifyDelayMs: 0 });
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const payloads: string[] = [];
    listener.on('notification', (m) => payloads.push(m.payload ?? ''));
    try {
      await listener.query(`listen ${notifyChannel('event_store')}`);
      const r = await signed.appendToStream(`signed-${Date.now()}`, [newEvent('Signed')]);
      await waitFor(() => payloads.length > 0, 5_000);
      expect(payloads).toContain(`${r.position}/store-a`);
    } finally {
      await listener.end();
      await signed.close();
    }
    // Its own: skipped. Another store's, an older sender's bare position, or noise: read and woken.
    expect(readNotification('42/store-a', 'store-a')).toBe('own');
    expect(readNotification('42/store-b', 'store-a')).toBe(42n);
    expect(readNotification('42', 'store-a')).toBe(42n);
    expect(readNotification('', 'store-a')).toBeUndefined();
    expect(readNotification('x/y', 'store-a')).toBeUndefined();
    expect(readNotification(undefined, 'store-a')).toBeUndefined();
    expect(() => createPostgresEventStore({ connectionString: db.url, instanceId: 'a/b' })).toThrow(/instanceId/);
  });

  it('keeps delivering after its LISTEN connection is killed (re-listens, still never skips)', async () => {
    const other = createPostgresEventStore({ connectionString: db.url, pollIntervalMs: 60_000 });
    const start = await store.headPosition();
    const seen: RecordedEvent[] = [];
    const sub = other.subscribeToAll(
      (batch) => {
        seen.push(...batch);
        return Promise.resolve();
      },
      { fromPosition: start },
    );
    try {
      await new Promise((r) => setTimeout(r, 300));
      const killed = await store.pool.query<{ n: number }>(
        `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
          where datname = current_database() and query ilike 'listen %' and pid <> pg_backend_pid()`,
      );
      expect(killed.rows[0]?.n).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 2_000)); // re-listen happens after 1 s
      await store.appendToStream('after-kill', [newEvent('Again')]);
      await waitFor(() => seen.length > 0, 10_000);
      expect(seen.map((e) => e.type)).toEqual(['Again']);
    } finally {
      await sub.close();
      await other.close();
    }
  });

  it('readStreams: one statement for every stream, checked before it is sent; the helper falls back to readStream without it', async () => {
    const a = `rs-${Date.now()}-a`;
    await store.appendToStream(a, [newEvent('A', { n: 1 }), newEvent('A', { n: 2 })], { expectedRevision: 'no_stream' });
    // Count what the store sends through its pool: readStreams is one query for all its streams.
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    const sent: string[] = [];
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const first = args[0];
      sent.push(typeof first === 'string' ? first : String((first as { text?: unknown }).text));
      return query(...args);
    };
    const counted = createPostgresEventStore({ pool, migrate: false });
    await counted.ready();
    sent.length = 0;
    const native = await counted.readStreams([{ stream: a, fromRevision: 1n }, { stream: `${a}-none`, fromRevision: 0n }, { stream: a, fromRevision: 0n, maxCount: 1 }]);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain('cross join lateral');
    await counted.close();
    await pool.end();
    expect(native.map((es) => es.map((e) => e.data))).toEqual([[{ n: 2 }], [], [{ n: 1 }]]);
    await expect(store.readStreams([{ stream: '$all', fromRevision: 0n }])).rejects.toThrow();
    await expect(store.readStreams([{ stream: a, fromRevision: 0n, maxCount: -1 }])).rejects.toThrow();
    // A store without readStreams (an EventStoreDB adapter): the helper reads stream by stream, same result.
    const withoutMany = new Proxy(store, { get: (t, p) => (p === 'readStreams' ? undefined : (Reflect.get(t, p) as unknown)) });
    expect(await readStreamsForwards(withoutMany, [{ stream: a, fromRevision: 1n }, { stream: `${a}-none`, fromRevision: 0n }, { stream: a, fromRevision: 0n, maxCount: 1 }])).toEqual(native);
  });

  it('reads the global log as a bounded stream between positions', async () => {
    const start = await store.headPosition();
    const r = await store.appendToStream(
      'streamed',
      Array.from({ length: 25 }, (_, i) => newEvent('S', { i })),
    );
    await eventually(() => store.headPosition(), r.position);
    const all: RecordedEvent[] = [];
    for await (const e of store.readAllStream({ fromPosition: start, batchSize: 4 })) all.push(e);
    expect(all.map((e) => (e.data as { i: number }).i)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    const part: RecordedEvent[] = [];
    const to = all[9]?.globalPosition ?? 0n;
    for await (const e of store.readAllStream({ fromPosition: all[4]?.globalPosition, toPosition: to, batchSize: 2 })) {
      part.push(e);
    }
    expect(part.map((e) => (e.data as { i: number }).i)).toEqual([5, 6, 7, 8, 9]);
    expect(all[24]?.globalPosition).toBe(r.position);
  });

  it('stores the hash the reference implementation computes (SQL and JS agree)', async () => {
    const data = { b: [1, 2.5, -0, 1e21, 'é\u2028"\\\n'], a: { z: null, y: true }, '€': 'x', '\u0001': 1 };
    const e = newEvent('Hashed', data, { causationId: 'cause', inputPosition: '123' });
    await store.appendToStream('hashed', [e], { expectedRevision: 'no_stream' });
    const e2 = newEvent('Hashed2', { n: 1 });
    await store.appendToStream('hashed', [e2], { expectedRevision: 0n });
    const rows = await store.pool.query<{ hash: Buffer }>(
      `select hash from event_store.events where stream = 'hashed' order by revision`,
    );
    const h0 = hashEvent(GENESIS_HASH, {
      stream: 'hashed',
      streamRevision: 0n,
      eventId: e.eventId,
      type: e.type,
      data: e.data,
      metadata: e.metadata,
    });
    const h1 = hashEvent(h0, {
      stream: 'hashed',
      streamRevision: 1n,
      eventId: e2.eventId,
      type: e2.type,
      data: e2.data,
      metadata: e2.metadata,
    });
    expect(rows.rows[0]?.hash.toString('hex')).toBe(h0.toString('hex'));
    expect(rows.rows[1]?.hash.toString('hex')).toBe(h1.toString('hex'));
    const head = await store.pool.query<{ last_hash: Buffer }>(
      `select last_hash from event_store.streams where stream = 'hashed'`,
    );
    expect(head.rows[0]?.last_hash.toString('hex')).toBe(h1.toString('hex'));
    // and what comes back canonicalises to what went in
    const [back] = await store.readStream('hashed', { maxCount: 1 });
    expect(canonicalize(back?.data)).toBe(canonicalize(data));
  });

  it('appends events whose ids were given in upper case (ids are normalised)', async () => {
    const e = newEvent('Upper');
    const upper = { ...e, eventId: e.eventId.toUpperCase() };
    const r = await store.appendToStream('upper', [upper], { expectedRevision: 'no_stream' });
    expect(await store.appendToStream('upper', [e], { expectedRevision: 'no_stream' })).toEqual(r);
    expect((await store.readStream('upper'))[0]?.eventId).toBe(e.eventId.toLowerCase());
  });

  it('refuses events without a JSON form before touching the database', async () => {
    await expect(store.appendToStream('bad', [newEvent('Bad', { n: 1n })])).rejects.toThrow(/bigint/);
    await expect(store.appendToStream('bad', [newEvent('Bad', { n: Number.NaN })])).rejects.toThrow(/non-finite/);
    await expect(store.appendToStream('$system', [newEvent('A')])).rejects.toThrow(/reserved/);
    const dup = newEvent('Dup');
    await expect(store.appendToStream('bad', [dup, dup])).rejects.toThrow(/twice/);
    expect(await store.readStream('bad')).toEqual([]);
  });

  it('appends an empty batch as a pure expected-revision check', async () => {
    await expect(store.appendToStream('empty', [], { expectedRevision: 'no_stream' })).resolves.toMatchObject({
      nextExpectedRevision: -1n,
    });
    await store.appendToStream('empty', [newEvent('A')], { expectedRevision: 'no_stream' });
    await expect(store.appendToStream('empty', [], { expectedRevision: 0n })).resolves.toMatchObject({
      nextExpectedRevision: 0n,
    });
    await expect(store.appendToStream('empty', [], { expectedRevision: 5n })).rejects.toThrow(/expected revision 5/);
  });
});

describe('PostgreSQL event store migrations', () => {
  it('run once even when several processes start at the same time', async () => {
    const db = await createTestDatabase('es_migrate');
    const pools = Array.from({ length: 4 }, () => new pg.Pool({ connectionString: db.url, max: 2 }));
    try {
      const reports = await Promise.all(pools.map((p) => migrateEventStore(p, 'concurrent_es')));
      const applied = reports.flatMap((r) => r.applied);
      expect(applied.sort()).toEqual(migrations.map((m) => m.version).sort());
      expect(reports.every((r) => r.current === migrations.length)).toBe(true);
      const again = await migrateEventStore(pools[0] as pg.Pool, 'concurrent_es');
      expect(again.applied).toEqual([]);
      const rows = await (pools[0] as pg.Pool).query<{ version: number }>(
        'select version from concurrent_es.schema_migrations order by version',
      );
      expect(rows.rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
      // and stores on that schema start at once too
      const stores = Array.from({ length: 3 }, () =>
        createPostgresEventStore({ connectionString: db.url, schema: 'fresh_es', poolSize: 2 }),
      );
      await Promise.all(stores.map((st) => st.ready()));
      await Promise.all(stores.map((st, i) => st.appendToStream(`s-${i}`, [newEvent('A')])));
      await Promise.all(stores.map((st) => st.close()));
    } finally {
      await Promise.all(pools.map((p) => p.end()));
      await db.drop();
    }
  });
});

describe('PostgreSQL event store: the LISTEN connection', () => {
  it('is released on every stop, also when the pool hands the same client out again; close() then ends the pool', async () => {
    const db = await createTestDatabase('es_listen');
    // Two clients: the pool reuses the last released one (LIFO), so the LISTEN checkouts below
    // get a client object that an earlier LISTEN checkout already released.
    const store = createPostgresEventStore({ connectionString: db.url, poolSize: 2 });
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    const listeningBackends = async (): Promise<number> =>
      Number(
        (await admin.query<{ n: string }>("select count(*)::text as n from pg_stat_activity where datname = current_database() and query like 'listen %' and pid <> pg_backend_pid()")).rows[0]?.n,
      );
    try {
      await store.ready();
      const seen = new Set<unknown>();
      let reused = 0;
      store.pool.on('acquire', (client) => {
        if (seen.has(client)) reused++;
        seen.add(client);
      });
      for (let round = 0; round < 4; round++) {
        const sub = store.subscribeToAll(() => Promise.resolve(), { fromPosition: 0n });
        await eventually(listeningBackends, 1);
        await sub.close();
        await eventually(listeningBackends, 0);
        // Every checkout came back: nothing is held once the subscription has stopped.
        await eventually(async () => store.pool.totalCount - store.pool.idleCount, 0);
      }
      expect(reused).toBeGreaterThan(0);
      await store.close();
      expect(store.pool.totalCount).toBe(0);
    } finally {
      await admin.end();
      await store.close();
      await db.drop();
    }
  });
});

describe('PostgreSQL event store start-up guard', () => {
  it('refuses to start when stored positions are ahead of the transaction counter (restored elsewhere)', async () => {
    const db = await createTestDatabase('es_guard');
    try {
      const first = createPostgresEventStore({ connectionString: db.url });
      await first.appendToStream('s', [newEvent('A')]);
      // simulate a log restored from a cluster whose transaction ids were far ahead
      await first.pool.query(
        `update event_store.events set position = (pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 1000000) * 1000000`,
      );
      await first.close();
      const second = createPostgresEventStore({ connectionString: db.url });
      await expect(second.ready()).rejects.toThrow(/restored into a new cluster/);
      await second.close();
    } finally {
      await db.drop();
    }
  });
});
