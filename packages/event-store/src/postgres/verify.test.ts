import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { newEvent } from '../contract.suite.ts';
import { hashEvent, GENESIS_HASH } from '../hash.ts';
import type { RecordedEvent } from '../port.ts';
import { createSealer, listSeals } from './sealer.ts';
import { createPostgresEventStore, type PostgresEventStore } from './store.ts';
import { copyOut } from './copy-out.ts';
import { verifyLog } from './verify.ts';
import { PositionScanner, positionCopySql, type PartJob } from './verify-position.ts';
import { PartThread, threadBootstrap, threadConnectionConfig } from './verify-threads.ts';

interface World {
  db: TestDatabase;
  store: PostgresEventStore;
  events: RecordedEvent[];
}

const worlds: World[] = [];

/** 5 streams × 12 events in interleaved appends, sealed in chunks of 16, plus an unsealed tail. */
async function world(): Promise<World> {
  const db = await createTestDatabase('es_verify');
  const store = createPostgresEventStore({ connectionString: db.url });
  let last = 0n;
  for (let round = 0; round < 4; round++) {
    for (let s = 0; s < 5; s++) {
      const r = await store.appendToStream(
        `acct-${s}`,
        Array.from({ length: 3 }, (_, i) => newEvent('Booked', { s, n: round * 3 + i, amount: String(100 + i) })),
      );
      last = r.position;
    }
    if (round === 2) {
      await settle(store, last);
      await createSealer(store, { maxEventsPerSeal: 16 }).sealNow();
    }
  }
  await settle(store, last);
  const events = await store.readAll();
  const w = { db, store, events };
  worlds.push(w);
  return w;
}

/** Waits until global readers see `position` (other tests' open transactions can hold them back). */
async function settle(store: PostgresEventStore, position: bigint): Promise<void> {
  const deadline = Date.now() + 120_000;
  while ((await store.headPosition()) < position) {
    if (Date.now() > deadline) {
      const holders = await store.pool.query(
        `select pid, datname, backend_xid::text, now() - xact_start as age, left(query, 120) as query
           from pg_stat_activity where backend_xid is not null order by xact_start limit 5`,
      );
      throw new Error(`the visible head did not reach the last append; oldest transactions: ${JSON.stringify(holders.rows)}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

function at(w: World, stream: string, revision: number): RecordedEvent {
  const e = w.events.find((x) => x.stream === stream && x.streamRevision === BigInt(revision));
  if (!e) throw new Error(`no ${stream}@${revision}`);
  return e;
}

afterEach(async () => {
  for (const w of worlds.splice(0)) {
    await w.store.close();
    await w.db.drop();
  }
});

describe('verifyLog', { timeout: 300_000 }, () => {
  it('passes an untouched log and reports what it covered', async () => {
    const w = await world();
    const seals = await listSeals(w.store);
    expect(seals.map((s) => s.eventCount)).toEqual([16, 16, 13]);
    const report = await verifyLog(w.store, { anchors: [{ sealId: 2n, hash: seals[1]?.hash ?? '' }] });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.eventsChecked).toBe(60);
    expect(report.streamsChecked).toBe(5);
    expect(report.sealsChecked).toBe(3);
    expect(report.unsealedEvents).toBe(15);
    expect(report.lastSeal?.hash).toBe(seals[2]?.hash);
    // also with a bare pool, in small pages, reporting progress, and with the chains read in ranges
    const phases = new Set<string>();
    expect((await verifyLog(w.store.pool, { batchSize: 7, onProgress: (p) => phases.add(p.phase) })).ok).toBe(true);
    expect([...phases]).toEqual(['chains', 'seals']);
    expect(await verifyLog(w.store, { anchors: [{ sealId: 2n, hash: seals[1]?.hash ?? '' }], parallelism: 3 })).toEqual(report);
  });

  it('names an event whose data was changed in SQL', async () => {
    const w = await world();
    const victim = at(w, 'acct-2', 4);
    await w.store.pool.query(
      `update event_store.events set data = jsonb_set(data, '{amount}', '"1000000"') where position = $1`,
      [victim.globalPosition.toString()],
    );
    const report = await verifyLog(w.store);
    expect(report.ok).toBe(false);
    expect(report.firstProblem).toMatchObject({
      kind: 'modified',
      stream: 'acct-2',
      revision: 4n,
      position: victim.globalPosition,
    });
  });

  it('names the changed event even when the attacker also rewrote its hash', async () => {
    const w = await world();
    const victim = at(w, 'acct-1', 2); // sealed
    const forged = hashEvent(await prevHash(w, 'acct-1', 2), {
      stream: 'acct-1',
      streamRevision: 2n,
      eventId: victim.eventId,
      type: victim.type,
      data: { ...(victim.data as object), amount: '0' },
      metadata: victim.metadata,
    });
    await w.store.pool.query(
      `update event_store.events set data = jsonb_set(data, '{amount}', '"0"'), hash = $2 where position = $1`,
      [victim.globalPosition.toString(), forged],
    );
    const report = await verifyLog(w.store);
    expect(report.firstProblem).toMatchObject({
      kind: 'modified',
      stream: 'acct-1',
      revision: 2n,
      position: victim.globalPosition,
    });
  });

  it('names a deleted event (sealed, mid-stream)', async () => {
    const w = await world();
    const victim = at(w, 'acct-3', 1);
    await w.store.pool.query('delete from event_store.events where position = $1', [victim.globalPosition.toString()]);
    const report = await verifyLog(w.store);
    expect(report.firstProblem).toMatchObject({
      kind: 'missing',
      stream: 'acct-3',
      revision: 1n,
      position: victim.globalPosition,
    });
  });

  it('names a deleted last event of a stream (unsealed tail)', async () => {
    const w = await world();
    const victim = at(w, 'acct-4', 11);
    await w.store.pool.query('delete from event_store.events where position = $1', [victim.globalPosition.toString()]);
    const report = await verifyLog(w.store);
    expect(report.firstProblem).toMatchObject({
      kind: 'missing',
      stream: 'acct-4',
      revision: 11n,
      position: victim.globalPosition,
    });
  });

  it('names two events of different streams whose positions were swapped', async () => {
    const w = await world();
    const a = at(w, 'acct-0', 1);
    const b = at(w, 'acct-4', 0);
    await swapPositions(w, a.globalPosition, b.globalPosition);
    const report = await verifyLog(w.store);
    expect(report.firstProblem).toMatchObject({ kind: 'reordered', position: a.globalPosition, stream: 'acct-4', revision: 0n });
    expect(report.problems.some((p) => p.kind === 'reordered' && p.stream === 'acct-0' && p.revision === 1n)).toBe(true);
    // the same problems in the same order when the chains are read in ranges by several connections
    expect(await verifyLog(w.store, { parallelism: 3 })).toEqual(report);
    // and when everything runs on one connection, one pass after the other
    const single = new pg.Pool({ connectionString: w.db.url, max: 1 });
    try {
      expect(await verifyLog(single)).toEqual(report);
    } finally {
      await single.end();
    }
  });

  it('names events of one stream whose positions were swapped, transaction ids and all', async () => {
    const w = await world();
    const a = at(w, 'acct-2', 2);
    const b = at(w, 'acct-2', 7);
    await swapPositions(w, a.globalPosition, b.globalPosition, true);
    const report = await verifyLog(w.store);
    expect(report.firstProblem).toMatchObject({ kind: 'reordered', position: a.globalPosition });
    expect(report.problems.some((p) => p.kind === 'reordered' && p.stream === 'acct-2' && p.revision === 3n)).toBe(true);
  });

  it('names a forged event inserted into a sealed range with a valid-looking chain', async () => {
    const w = await world();
    const neighbour = at(w, 'acct-0', 0);
    const position = neighbour.globalPosition + 999n;
    const forged = newEvent('Booked', { s: 9, n: 0, amount: '5000000' });
    const hash = hashEvent(GENESIS_HASH, {
      stream: 'forged',
      streamRevision: 0n,
      eventId: forged.eventId,
      type: forged.type,
      data: forged.data,
      metadata: forged.metadata,
    });
    await w.store.pool.query(
      `insert into event_store.events (position, transaction_id, stream, revision, event_id, type, data, metadata, hash)
       values ($1, ($1::bigint / 1000000)::text::xid8, 'forged', 0, $2, $3, $4, $5, $6)`,
      [position.toString(), forged.eventId, forged.type, JSON.stringify(forged.data), JSON.stringify(forged.metadata), hash],
    );
    await w.store.pool.query(
      `insert into event_store.streams (stream, revision, last_position, last_hash) values ('forged', 0, $1, $2)`,
      [position.toString(), hash],
    );
    const report = await verifyLog(w.store);
    expect(report.firstProblem).toMatchObject({ kind: 'inserted', stream: 'forged', revision: 0n, position });
  });

  it('detects an altered seal and a seal that no longer matches its anchor', async () => {
    const w = await world();
    const [, second] = await listSeals(w.store);
    await w.store.pool.query(`update event_store.seals set hash = sha256(hash) where seal_id = 2`);
    const report = await verifyLog(w.store, { anchors: [{ sealId: 2n, hash: second?.hash ?? '' }] });
    expect(report.firstProblem).toMatchObject({ kind: 'seal_broken', sealId: 2n });
    expect(report.problems.filter((p) => p.kind === 'seal_broken').length).toBeGreaterThanOrEqual(2);
  });

  it('hashes awkward content as readers get it, and names a change deep inside it', async () => {
    // verifyLog rebuilds the canonical JSON from jsonb's text without JSON.parse where it can
    // (ASCII keys) and through canonicalize where it cannot (the non-ASCII and escaped keys here)
    const db = await createTestDatabase('es_verify_awkward');
    const store = createPostgresEventStore({ connectionString: db.url });
    worlds.push({ db, store, events: [] });
    const awkward = [
      { 'ключ': 'значение', nested: { z: [1.5, -0, 1e21, 1e-7, 'a"b\\c\n\u0001'], a: null } },
      { 'a"b': { '\u0001': true, 'é': ['€', '😀', '\u2028'] }, n: 123456789012345680000 },
      { plain: { deep: [{ y: 'x', x: [0.1, 0.30000000000000004, 999999999999999] }] }, '': 'empty key' },
    ];
    let last = 0n;
    for (let i = 0; i < 3; i++) {
      last = (await store.appendToStream(`awkward-${i % 2}`, awkward.map((d, k) => newEvent('Awkward', { i, k, d }, { note: `ü${i}` })))).position;
    }
    await settle(store, last);
    await createSealer(store, { maxEventsPerSeal: 4 }).sealNow();
    const clean = await verifyLog(store);
    expect(clean.problems).toEqual([]);
    expect(clean.eventsChecked).toBe(9);

    const [victim] = (await store.readStream('awkward-1')).slice(1, 2);
    await store.pool.query(
      `update event_store.events set data = jsonb_set(data, $2::text[], '"😃"') where position = $1`,
      [victim?.globalPosition.toString(), ['d', 'a"b', 'é', '1']],
    );
    const report = await verifyLog(store, { parallelism: 1 });
    expect(report.firstProblem).toMatchObject({ kind: 'modified', stream: 'awkward-1', revision: 1n, position: victim?.globalPosition });
  });

  it('reports the same whether pass 1 first reads in position order (in parts) or only in stream order', async () => {
    // the position walk only vouches for an intact log and hands anything else to the stream walk
    const tamperings: [string, (w: World) => Promise<void>][] = [
      ['none', async () => {}],
      [
        // the first event of a stream in the second part (seals of 16: the parts meet after event 32),
        // checked only when the parts are joined
        'joined event changed',
        async (w) => {
          const e = w.events[32] as RecordedEvent;
          expect(e.streamRevision).toBeGreaterThan(0n);
          await w.store.pool.query(`update event_store.events set data = jsonb_set(data, '{amount}', '"7"') where position = $1`, [
            e.globalPosition.toString(),
          ]);
        },
      ],
      ['head hash changed', async (w) => void (await w.store.pool.query(`update event_store.streams set last_hash = sha256(last_hash) where stream = 'acct-3'`))],
      ['head without events', async (w) => void (await w.store.pool.query(`insert into event_store.streams (stream, revision, last_position, last_hash) values ('ghost', 0, 1, sha256(''::bytea))`))],
      ['head behind', async (w) => void (await w.store.pool.query(`update event_store.streams set revision = revision - 1 where stream = 'acct-0'`))],
      ['revision renumbered', async (w) => void (await w.store.pool.query(`update event_store.events set revision = 40 where stream = 'acct-4' and revision = 11`))],
    ];
    for (const [name, tamper] of tamperings) {
      const w = await world();
      await tamper(w);
      const byStream = await verifyLog(w.store, { chainOrder: 'stream' });
      expect(byStream.ok, name).toBe(name === 'none');
      expect(await verifyLog(w.store), name).toEqual(byStream);
      expect(await verifyLog(w.store, { parallelism: 3 }), name).toEqual(byStream);
      // the parts after the first read by worker threads on their own connections
      expect(await verifyLog(w.store, { workerThreads: true }), name).toEqual(byStream);
      expect(await verifyLog(w.store, { parallelism: 3, workerThreads: true }), name).toEqual(byStream);
      expect(await verifyLog(w.store, { workerThreads: 'all' }), name).toEqual(byStream);
    }
  });

  it('compares an untouched log\'s seals by the walk\'s digests, sending no range to PostgreSQL, and a changed one by PostgreSQL', async () => {
    const db = await createTestDatabase('es_verify_digests');
    const store = createPostgresEventStore({ connectionString: db.url });
    worlds.push({ db, store, events: [] });
    let last = 0n;
    for (let i = 0; i < 30; i++) last = (await store.appendToStream(`acct-${i % 4}`, [newEvent('Booked', { i }), newEvent('Booked', { i, n: 2 })])).position;
    await settle(store, last);
    // seals of 4 events: 15 seals, so seal ids past 9 (text order would put 10 before 2)
    const seals = await createSealer(store, { maxEventsPerSeal: 4 }).sealNow();
    expect(seals.length).toBeGreaterThanOrEqual(12);
    // every statement verifyLog sends, on any connection of the pool
    const sent: string[] = [];
    const wrapped = new WeakSet<object>();
    const connect = store.pool.connect.bind(store.pool) as (...a: unknown[]) => unknown;
    (store.pool as { connect: unknown }).connect = async (...a: unknown[]) => {
      // pool.query() checks out with a callback: left as it is
      if (typeof a[0] === 'function') return connect(...a);
      const client = (await connect()) as pg.PoolClient;
      if (wrapped.has(client)) return client; // the pool hands out the same client again
      wrapped.add(client);
      const query = client.query.bind(client) as (...a: unknown[]) => unknown;
      (client as { query: unknown }).query = (...a: unknown[]) => {
        const text = typeof a[0] === 'string' ? a[0] : (a[0] as { text?: string }).text;
        if (text !== undefined) sent.push(text);
        return query(...a);
      };
      return client;
    };
    const ranges = () => sent.filter((t) => t.includes('string_agg')).length;
    const ok = await verifyLog(store);
    expect(ok.ok).toBe(true);
    expect(ok.sealsChecked).toBe(seals.length);
    expect(ranges(), 'no seal range compared in SQL').toBe(0);
    sent.length = 0;
    const seventh = (await store.readAll()).find((e) => e.globalPosition > (seals[6]?.fromPosition ?? 0n));
    await store.pool.query(`update event_store.events set hash = sha256(hash) where position = $1`, [seventh?.globalPosition.toString()]);
    const changed = await verifyLog(store);
    expect(changed.ok).toBe(false);
    expect(changed.problems.some((p) => p.kind === 'modified' && p.sealId === 7n), changed.problems.map((p) => p.message).join('; ')).toBe(true);
    expect(ranges(), 'the walk vouched for nothing: every range compared in SQL').toBe(seals.length);
  });

  it('reads a part on a worker thread exactly as on this one, in the exported snapshot', async () => {
    const w = await world();
    const config = threadConnectionConfig(w.store.pool);
    expect(config).toBeDefined();
    const seals = await listSeals(w.store);
    const job: PartJob = {
      schemaIdent: '"event_store"',
      after: seals[0]?.toPosition,
      upTo: undefined,
      first: false,
      sealEnds: seals.slice(1).map((x) => Number(x.toPosition)),
    };
    const client = await w.store.pool.connect();
    try {
      await client.query('begin isolation level repeatable read read only');
      const snapshot = (await client.query<{ id: string }>('select pg_export_snapshot() as id')).rows[0]?.id ?? '';
      // appended after the snapshot: neither reader may see it
      await w.store.appendToStream('acct-late', [newEvent('Booked', { late: true })]);
      const here = new PositionScanner(job);
      await copyOut(client, positionCopySql(job.schemaIdent, job.after, job.upTo), (chunk) => here.rows.push(chunk));
      here.finish();
      const thread = await PartThread.start();
      expect(thread, 'a worker thread started').toBeDefined();
      let progressed = 0;
      const there = await (thread as PartThread).run(config as pg.ClientConfig, snapshot, job, 10, (n) => (progressed += n));
      expect(here.anomaly).toBeUndefined();
      expect(here.eventsChecked).toBe(w.events.filter((e) => e.globalPosition > (job.after ?? 0n)).length);
      expect(progressed).toBe(here.eventsChecked);
      for (const key of ['anomaly', 'eventsChecked', 'streamsStarted', 'tailEvents'] as const) expect(there[key], key).toEqual(here[key]);
      expect(there.sealDigests.map((d) => Buffer.from(d).toString('hex'))).toEqual(here.sealDigests.map((d) => d.toString('hex')));
      expect(here.sealDigests.length).toBe(seals.length - 1);
      expect(there.incoming.map((e) => [e.key, e.revision, Buffer.from(e.hash).toString('hex')])).toEqual(
        here.incoming.map((e) => [e.key, e.revision, Buffer.from(e.hash).toString('hex')]),
      );
      expect(there.streams.names()).toEqual(here.streams.names());
      expect(here.streams.size).toBeGreaterThan(0);
      for (let slot = 0; slot < here.streams.size; slot++) {
        const row = (t: typeof here.streams): unknown[] => [t.next[slot], t.last[slot], Buffer.from(t.hashOf(slot)).toString('hex')];
        expect(row(there.streams), here.streams.name(slot)).toEqual(row(here.streams));
        const name = Buffer.from(here.streams.name(slot), 'utf8');
        expect(there.streams.find(name, 0, name.length), 'the handed-over index finds it').toBe(slot);
      }
    } finally {
      await client.query('rollback');
      client.release();
    }
  });

  it('starts threads from a bundle of the sources, not through the TypeScript loader', async () => {
    // registering tsx in a thread costs ~0.5 s of CPU; the cached bundle loads in milliseconds
    const code = await threadBootstrap();
    expect(code).toMatch(/^require\(".*node_modules\/\.cache\/verify-thread\/[0-9a-f]{24}\.cjs"\)$/);
    expect(await threadBootstrap(), 'the same bundle while the sources are unchanged').toBe(code);
  });

  it('fails a thread that cannot connect, so that verifyLog reads its part itself', async () => {
    const thread = await PartThread.start();
    expect(thread).toBeDefined();
    const job: PartJob = { schemaIdent: '"event_store"', after: undefined, upTo: undefined, first: true, sealEnds: [] };
    await expect((thread as PartThread).run({ host: '127.0.0.1', port: 1, connectionTimeoutMillis: 2000 }, 'none', job, 10, () => undefined)).rejects.toThrow(
      /ECONNREFUSED|connect/,
    );
  });

  it('hands a thread only connection settings it can use', () => {
    const byUrl = new pg.Pool({ connectionString: 'postgres://u@127.0.0.1:5432/db', max: 3, idleTimeoutMillis: 5 });
    expect(threadConnectionConfig(byUrl)).toEqual({ connectionString: 'postgres://u@127.0.0.1:5432/db' });
    const byCallback = new pg.Pool({ host: '127.0.0.1', password: () => 'secret' });
    expect(threadConnectionConfig(byCallback), 'a password callback cannot cross threads').toBeUndefined();
    void byUrl.end();
    void byCallback.end();
  });

  it('seals in the background and stops cleanly', async () => {
    const w = await world();
    const sealer = createSealer(w.store, { intervalMs: 20 });
    sealer.start();
    await settle(w.store, (await w.store.appendToStream('late', [newEvent('Late')])).position);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const seals = await listSeals(w.store);
      if (seals.reduce((n, s) => n + s.eventCount, 0) === 61) break;
      if (Date.now() > deadline) throw new Error('background sealer did not seal everything');
      await new Promise((r) => setTimeout(r, 20));
    }
    await sealer.stop();
    const report = await verifyLog(w.store);
    expect(report.ok).toBe(true);
    expect(report.unsealedEvents).toBe(0);
  });
});

async function prevHash(w: World, stream: string, revision: number): Promise<Buffer> {
  const r = await w.store.pool.query<{ hash: Buffer }>(
    'select hash from event_store.events where stream = $1 and revision = $2',
    [stream, revision - 1],
  );
  return r.rows[0]?.hash ?? GENESIS_HASH;
}

async function swapPositions(w: World, a: bigint, b: bigint, withTransactionIds = false): Promise<void> {
  const client = await w.store.pool.connect();
  try {
    await client.query('begin');
    const tx = withTransactionIds ? ', transaction_id = ($2::bigint / 1000000)::text::xid8' : '';
    await client.query(`update event_store.events set position = -1 where position = $1`, [a.toString()]);
    await client.query(`update event_store.events set position = $2${tx} where position = $1`, [b.toString(), a.toString()]);
    await client.query(`update event_store.events set position = $2${tx} where position = $1::bigint`, ['-1', b.toString()]);
    await client.query('commit');
  } finally {
    client.release();
  }
}
