/**
 * Pins exactly what readers get back from the PostgreSQL store: every RecordedEvent field, with
 * the types and formats they had when rows were parsed by pg's default type parsers (recorded_at
 * as a Date → toISOString(), positions and revisions BigInt of the int8 text, jsonb JSON.parse).
 * The read path selects recorded_at pre-formatted and parses rows itself for speed; this test is
 * what keeps that an optimisation and not a change of contract.
 */
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEvent } from '../contract.suite.ts';
import type { EventMetadata, RecordedEvent } from '../port.ts';
import { createPostgresEventStore, type PostgresEventStore } from './store.ts';

/** recorded_at values and the recordedAt a JS Date gave for them (microseconds truncated). */
const TIMESTAMPS: [stored: string, recordedAt: string][] = [
  ['2026-03-04 05:06:07.089999+00', '2026-03-04T05:06:07.089Z'],
  ['2026-03-04 05:06:07+00', '2026-03-04T05:06:07.000Z'],
  ['2026-03-04 05:06:07.5+00', '2026-03-04T05:06:07.500Z'],
  ['2026-12-31 23:59:59.999999-02', '2027-01-01T01:59:59.999Z'],
  ['1999-01-01 00:00:00.000001+00', '1999-01-01T00:00:00.000Z'],
  ['0001-01-01 00:00:00+00', '0001-01-01T00:00:00.000Z'],
  // Outside to_char's reach: these take the parse-a-Date path and must still match.
  ['9999-12-31 23:59:59.999999+00', '9999-12-31T23:59:59.999Z'],
  ['10000-01-01 00:00:00.123+00', '+010000-01-01T00:00:00.123Z'],
  ['0001-12-31 23:00:00+00 BC', '0000-12-31T23:00:00.000Z'],
];

describe('PostgreSQL event store: what readers get back', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let store: PostgresEventStore;
  let expected: RecordedEvent[];

  beforeAll(async () => {
    db = await createTestDatabase('es_pg_read_shape');
    // A session time zone other than UTC (with a half-hour offset): recordedAt must not depend on it.
    pool = new pg.Pool({ connectionString: db.url, max: 3, options: '-c TimeZone=Asia/Kolkata' });
    store = createPostgresEventStore({ pool });
    await store.ready();
    await store.appendToStream('shape-a', [
      newEvent('Nested', { a: [1, 2.5, -0, 1e21, null, true], b: { 'k é': 'ü\u2028\n"', empty: {} } }),
      newEvent('Big', { n: '123456789012345678901234567890', f: 0.1, e: 1.5e-7 }, { userId: 7 }),
      newEvent('Plain', 'just a string'),
    ]);
    await store.appendToStream('shape-b', [newEvent('Null', null), newEvent('Arr', [[], [{}], 'x'])]);
    await store.appendToStream('shape-a', [newEvent('Later', { i: 1 }), newEvent('Later', { i: 2 }), newEvent('Later', { i: 3 })]);
    await store.appendToStream('shape-c', [newEvent('Last', { i: 4 })]);

    // Give the events the awkward recorded_at values, in position order.
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const ids = (await admin.query<{ event_id: string }>('select event_id from event_store.events order by position')).rows;
      expect(ids.length).toBe(TIMESTAMPS.length);
      for (const [i, { event_id }] of ids.entries()) {
        await admin.query('update event_store.events set recorded_at = $1::timestamptz where event_id = $2', [
          TIMESTAMPS[i]?.[0],
          event_id,
        ]);
      }
      // The reference: rows as pg's default parsers give them, mapped the way the store always did.
      const rows = await admin.query<{
        position: string;
        stream: string;
        revision: string;
        event_id: string;
        type: string;
        data: unknown;
        metadata: EventMetadata;
        recorded_at: Date;
      }>('select position, stream, revision, event_id, type, data, metadata, recorded_at from event_store.events order by position');
      expected = rows.rows.map((r) => ({
        eventId: r.event_id,
        stream: r.stream,
        type: r.type,
        data: r.data,
        metadata: r.metadata,
        streamRevision: BigInt(r.revision),
        globalPosition: BigInt(r.position),
        recordedAt: r.recorded_at.toISOString(),
      }));
    } finally {
      await admin.end();
    }
  });
  afterAll(async () => {
    await store?.close();
    await pool?.end();
    await db?.drop();
  });

  it('pins recordedAt (UTC, milliseconds, Z; ±YYYYYY outside years 1–9999) and the field types', () => {
    expect(expected.map((e) => e.recordedAt)).toEqual(TIMESTAMPS.map(([, iso]) => iso));
    for (const e of expected) {
      expect(typeof e.globalPosition).toBe('bigint');
      expect(typeof e.streamRevision).toBe('bigint');
      expect(e.eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
    expect(expected.map((e) => `${e.stream}@${e.streamRevision}`)).toEqual([
      'shape-a@0',
      'shape-a@1',
      'shape-a@2',
      'shape-b@0',
      'shape-b@1',
      'shape-a@3',
      'shape-a@4',
      'shape-a@5',
      'shape-c@0',
    ]);
    expect(expected[0]?.data).toEqual({ a: [1, 2.5, 0, 1e21, null, true], b: { 'k é': 'ü\u2028\n"', empty: {} } });
    expect(expected[2]?.data).toBe('just a string');
    expect(expected[3]?.data).toBeNull();
  });

  it('readAll returns exactly the reference events', async () => {
    expect(await store.readAll()).toStrictEqual(expected);
    expect(await store.readAll({ fromPosition: expected[3]?.globalPosition, maxCount: 2 })).toStrictEqual(expected.slice(4, 6));
  });

  it('readAllStream returns exactly the reference events at any page size (prefetching the next page)', async () => {
    for (const batchSize of [1, 2, 4, expected.length, 1000]) {
      const got: RecordedEvent[] = [];
      for await (const e of store.readAllStream({ batchSize })) got.push(e);
      expect(got).toStrictEqual(expected);
    }
    const bounded: RecordedEvent[] = [];
    const from = expected[1]?.globalPosition;
    const to = expected[6]?.globalPosition;
    for await (const e of store.readAllStream({ fromPosition: from, toPosition: to, batchSize: 2 })) bounded.push(e);
    expect(bounded).toStrictEqual(expected.slice(2, 7));
  });

  it('readAllStream stopped early leaves no stray prefetch behind', async () => {
    const got: RecordedEvent[] = [];
    for await (const e of store.readAllStream({ batchSize: 2 })) {
      got.push(e);
      if (got.length === 3) break;
    }
    expect(got).toStrictEqual(expected.slice(0, 3));
    expect(await store.readAll({ maxCount: 1 })).toStrictEqual(expected.slice(0, 1));
  });

  it('readStream (both directions) and subscribeToAll return exactly the reference events', async () => {
    const ofA = expected.filter((e) => e.stream === 'shape-a');
    expect(await store.readStream('shape-a')).toStrictEqual(ofA);
    expect(await store.readStream('shape-a', { direction: 'backwards' })).toStrictEqual([...ofA].reverse());

    const delivered: RecordedEvent[] = [];
    const sub = store.subscribeToAll(
      (batch) => {
        delivered.push(...batch);
        return Promise.resolve();
      },
      { batchSize: 4 },
    );
    const deadline = Date.now() + 10_000;
    while (delivered.length < expected.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await sub.close();
    expect(delivered).toStrictEqual(expected);
  });
});
