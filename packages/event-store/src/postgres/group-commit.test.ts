/**
 * Group commit: appends that arrive together are written by one `append_batch` call in one
 * transaction. A batch is observable from outside: every event of one transaction has the same
 * `position / 1,000,000` (its transaction id), so the tests prove that the appends really shared a
 * transaction before they check that each one still got its own outcome.
 */
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEvent } from '../contract.suite.ts';
import { canonicalize } from '../canonical-json.ts';
import { GENESIS_HASH, hashEvent } from '../hash.ts';
import {
  IdempotencyConflictError,
  WrongExpectedRevisionError,
  type AppendResult,
  type ExpectedRevision,
  type NewEvent,
} from '../port.ts';
import { POSITIONS_PER_TRANSACTION } from './schema.ts';
import { createPostgresEventStore, type PostgresEventStore } from './store.ts';

const txOf = (position: bigint): bigint => position / POSITIONS_PER_TRANSACTION;

type Outcome = { ok: true; result: AppendResult } | { ok: false; error: unknown };

/** Starts all appends in the same tick (so they queue into one batch) and collects each outcome. */
async function together(
  store: PostgresEventStore,
  appends: { stream: string; events: NewEvent[]; expectedRevision?: ExpectedRevision }[],
): Promise<Outcome[]> {
  return Promise.all(
    appends.map((a) =>
      store.appendToStream(a.stream, a.events, a.expectedRevision === undefined ? {} : { expectedRevision: a.expectedRevision }).then(
        (result): Outcome => ({ ok: true, result }),
        (error: unknown): Outcome => ({ ok: false, error }),
      ),
    ),
  );
}

function resultOf(o: Outcome | undefined): AppendResult {
  if (!o?.ok) throw new Error(`expected a successful append, got ${o ? String(o.error) : 'nothing'}`);
  return o.result;
}

function errorOf(o: Outcome | undefined): unknown {
  if (!o || o.ok) throw new Error('expected a failed append');
  return o.error;
}

describe('PostgreSQL event store: group commit', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;
  let n = 0;
  const name = (label: string): string => `gc-${label}-${n++}`;

  beforeAll(async () => {
    db = await createTestDatabase('es_group_commit');
    store = createPostgresEventStore({ connectionString: db.url, groupCommit: { maxInFlight: 1 } });
    await store.ready();
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it('writes appends to different streams in one transaction; a wrong expected revision fails only its own append', async () => {
    const existing = name('existing');
    await store.appendToStream(existing, [newEvent('A'), newEvent('B')], { expectedRevision: 'no_stream' });
    const [s1, s2, s3] = [name('a'), name('b'), name('c')];
    const outcomes = await together(store, [
      { stream: s1, events: [newEvent('One')], expectedRevision: 'no_stream' },
      { stream: existing, events: [newEvent('Stale')], expectedRevision: 0n }, // actual is 1
      { stream: s2, events: [newEvent('Two'), newEvent('Three')], expectedRevision: 'no_stream' },
      { stream: s3, events: [newEvent('Four')], expectedRevision: 'any' },
    ]);

    const error = errorOf(outcomes[1]);
    expect(error).toBeInstanceOf(WrongExpectedRevisionError);
    expect((error as WrongExpectedRevisionError).actual).toBe(1n);

    const ok = [resultOf(outcomes[0]), resultOf(outcomes[2]), resultOf(outcomes[3])];
    // one transaction: the same transaction id in every position
    expect(new Set(ok.map((r) => txOf(r.position))).size).toBe(1);
    expect(ok.map((r) => r.nextExpectedRevision)).toEqual([0n, 1n, 0n]);
    expect((await store.readStream(s2)).map((e) => e.type)).toEqual(['Two', 'Three']);
    expect((await store.readStream(existing)).map((e) => e.type)).toEqual(['A', 'B']);
    // every position of the transaction is distinct
    const positions = [...(await store.readStream(s1)), ...(await store.readStream(s2)), ...(await store.readStream(s3))].map((e) => e.globalPosition);
    expect(new Set(positions).size).toBe(4);
  });

  it('answers an idempotent retry inside a batch with the original result, and a partial match with a conflict, without failing the others', async () => {
    const retried = name('retried');
    const original = [newEvent('X'), newEvent('Y')];
    const first = await store.appendToStream(retried, original, { expectedRevision: 'no_stream' });
    const partial = name('partial');
    const stored = newEvent('P');
    await store.appendToStream(partial, [stored], { expectedRevision: 'no_stream' });
    const fresh = name('fresh');

    const outcomes = await together(store, [
      { stream: retried, events: original, expectedRevision: 'no_stream' },
      { stream: partial, events: [stored, newEvent('Q')], expectedRevision: 0n },
      { stream: fresh, events: [newEvent('Z')], expectedRevision: 'no_stream' },
    ]);

    expect(resultOf(outcomes[0])).toEqual(first);
    expect(errorOf(outcomes[1])).toBeInstanceOf(IdempotencyConflictError);
    expect(resultOf(outcomes[2]).nextExpectedRevision).toBe(0n);
    expect((await store.readStream(retried)).length).toBe(2);
    expect((await store.readStream(partial)).map((e) => e.type)).toEqual(['P']);
  });

  it('applies appends to one stream in arrival order within a batch, each against the revision the previous one left', async () => {
    const stream = name('same');
    const outcomes = await together(store, [
      { stream, events: [newEvent('First')], expectedRevision: 'no_stream' },
      { stream, events: [newEvent('Second')], expectedRevision: 0n },
      { stream, events: [newEvent('Loser')], expectedRevision: 0n },
      { stream, events: [newEvent('Third')], expectedRevision: 'any' },
    ]);
    expect(resultOf(outcomes[0]).nextExpectedRevision).toBe(0n);
    expect(resultOf(outcomes[1]).nextExpectedRevision).toBe(1n);
    expect((errorOf(outcomes[2]) as WrongExpectedRevisionError).actual).toBe(1n);
    expect(resultOf(outcomes[3]).nextExpectedRevision).toBe(2n);
    const events = await store.readStream(stream);
    expect(events.map((e) => e.type)).toEqual(['First', 'Second', 'Third']);
    // positions rise with revisions, in one transaction
    expect(events[0]!.globalPosition < events[1]!.globalPosition && events[1]!.globalPosition < events[2]!.globalPosition).toBe(true);
    expect(new Set(events.map((e) => txOf(e.globalPosition))).size).toBe(1);
  });

  it('keeps the hash chain exact across appends batched together (same stream and different streams)', async () => {
    const a = name('chain-a');
    const b = name('chain-b');
    await together(store, [
      { stream: a, events: [newEvent('A0', { v: 'é\u2028"' })], expectedRevision: 'no_stream' },
      { stream: b, events: [newEvent('B0', { n: -0, big: 1e21 })], expectedRevision: 'no_stream' },
      { stream: a, events: [newEvent('A1', { list: [1, 'two', null] }), newEvent('A2')], expectedRevision: 0n },
    ]);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      for (const stream of [a, b]) {
        const rows = await client.query<{ revision: string; event_id: string; type: string; data: unknown; metadata: unknown; hash: Buffer }>(
          'select revision, event_id, type, data, metadata, hash from event_store.events where stream = $1 order by revision',
          [stream],
        );
        let previous: Uint8Array = GENESIS_HASH;
        for (const row of rows.rows) {
          const expected = hashEvent(previous, {
            stream,
            streamRevision: BigInt(row.revision),
            eventId: row.event_id,
            type: row.type,
            data: row.data,
            metadata: row.metadata,
          });
          expect(row.hash.toString('hex')).toBe(expected.toString('hex'));
          previous = row.hash;
        }
        const head = await client.query<{ last_hash: Buffer }>('select last_hash from event_store.streams where stream = $1', [stream]);
        expect(head.rows[0]?.last_hash.toString('hex')).toBe(Buffer.from(previous).toString('hex'));
      }
    } finally {
      await client.end();
    }
  });

  it('falls back to appending alone when the batch fails as a whole, so only the offending append fails', async () => {
    // The same event id in two appends of one batch: the final insert of the batch hits the unique
    // index, the transaction rolls back, and each append is then written alone.
    const shared = newEvent('Shared');
    const [s1, s2, s3] = [name('dup-1'), name('dup-2'), name('dup-3')];
    const outcomes = await together(store, [
      { stream: s1, events: [shared], expectedRevision: 'no_stream' },
      { stream: s2, events: [{ ...shared }], expectedRevision: 'no_stream' },
      { stream: s3, events: [newEvent('Bystander')], expectedRevision: 'no_stream' },
    ]);
    expect(resultOf(outcomes[0]).nextExpectedRevision).toBe(0n);
    expect(errorOf(outcomes[1])).toBeInstanceOf(IdempotencyConflictError);
    expect(resultOf(outcomes[2]).nextExpectedRevision).toBe(0n);
    expect((await store.readStream(s1)).map((e) => e.eventId)).toEqual([shared.eventId]);
    expect(await store.readStream(s2)).toEqual([]);
  });

  it('never appends to a stream last written by a newer transaction (its events would sort before the older ones)', async () => {
    // A batch takes its transaction id first and reaches its streams later. If a newer transaction
    // wrote one of them in between, the batch must leave that append alone (status 3): the client
    // then appends it in a transaction of its own, newer still.
    const stream = name('newer');
    await store.appendToStream(stream, [newEvent('Base')], { expectedRevision: 'no_stream' });
    const older = new pg.Client({ connectionString: db.url });
    await older.connect();
    try {
      await older.query('begin');
      const xid = BigInt((await older.query<{ x: string }>('select pg_current_xact_id()::text as x')).rows[0]!.x);
      const newer = await store.appendToStream(stream, [newEvent('Newer')], { expectedRevision: 0n });
      expect(txOf(newer.position) > xid).toBe(true);
      const batch = `[{"k":0,"s":${JSON.stringify(stream)},"sj":${JSON.stringify(stream)},"m":2,"e":null,` +
        `"i":"${newEvent('X').eventId}","t":["Late"],"d":[${canonicalize({})}],"md":[${canonicalize({ schemaVersion: 1 })}]}]`;
      const r = await older.query<{ status: number }>('select status from event_store.append_batch($1::json)', [batch]);
      expect(r.rows.map((row) => row.status)).toEqual([3]);
      await older.query('commit');
    } finally {
      await older.query('rollback').catch(() => undefined);
      await older.end();
    }
    const events = await store.readStream(stream);
    expect(events.map((e) => e.type)).toEqual(['Base', 'Newer']);

    // Through the store the same situation ends with the append written, in a newer transaction.
    const after = await store.appendToStream(stream, [newEvent('Later')], { expectedRevision: 'any' });
    expect(after.position > events[1]!.globalPosition).toBe(true);
  });

  it('does not hold a batch behind a stream head that another transaction keeps locked', async () => {
    const busy = name('locked');
    await store.appendToStream(busy, [newEvent('Base')], { expectedRevision: 'no_stream' });
    const held = new pg.Client({ connectionString: db.url });
    await held.connect();
    try {
      await held.query('begin');
      const heldResult = await store.appendToStreamInTransaction(held, busy, [newEvent('Held')], { expectedRevision: 0n });
      let waitingSettled = false;
      const free = name('free');
      // queued in the same tick: one batch
      const waiting = store.appendToStream(busy, [newEvent('AfterHeld')], { expectedRevision: 'any' }).finally(() => {
        waitingSettled = true;
      });
      const quick = store.appendToStream(free, [newEvent('Free')], { expectedRevision: 'no_stream' });
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the batch waited for the locked head')), 10_000));
      expect((await Promise.race([quick, timeout])).nextExpectedRevision).toBe(0n);
      expect(waitingSettled).toBe(false); // still waiting, alone, for the lock
      await held.query('commit');
      const after = await waiting;
      expect(after.nextExpectedRevision).toBe(2n);
      expect(after.position > heldResult.position).toBe(true);
    } finally {
      await held.query('rollback').catch(() => undefined);
      await held.end();
    }
    expect((await store.readStream(busy)).map((e) => e.type)).toEqual(['Base', 'Held', 'AfterHeld']);
  });

  it('close() lets queued and in-flight appends finish before it ends the pool', async () => {
    const closing = createPostgresEventStore({ connectionString: db.url, groupCommit: { maxInFlight: 1, maxAppends: 4 } });
    await closing.ready();
    const streams = Array.from({ length: 40 }, (_, i) => name(`closing-${i}`));
    // ten batches, one after the other; close() is called while the first is being written
    const pending = streams.map((stream) => closing.appendToStream(stream, [newEvent('C')], { expectedRevision: 'no_stream' }));
    await closing.close();
    const results = await Promise.all(pending);
    expect(results.map((r) => r.nextExpectedRevision)).toEqual(streams.map(() => 0n));
    expect(new Set(results.map((r) => txOf(r.position))).size).toBe(10);
    for (const stream of streams) expect((await store.readStream(stream)).length).toBe(1);
  });

  it('close() called twice at once (a signal handler beside a teardown) finishes both after the queued appends', async () => {
    const closing = createPostgresEventStore({ connectionString: db.url, groupCommit: { maxInFlight: 1, maxAppends: 2 } });
    await closing.ready();
    const streams = Array.from({ length: 12 }, (_, i) => name(`twice-${i}`));
    const pending = streams.map((stream) => closing.appendToStream(stream, [newEvent('C')], { expectedRevision: 'no_stream' }));
    const first = closing.close();
    const second = closing.close();
    // before the fix, the second close replaced the first one's wake-up and the first never resolved
    expect(closing.describeClose()).toMatch(/waiting for \d+ unsettled append|subscription|ending the pool|closed/);
    await Promise.all([first, second]);
    expect(closing.describeClose()).toMatch(/^closed; pool 0 clients/);
    expect((await Promise.all(pending)).map((r) => r.nextExpectedRevision)).toEqual(streams.map(() => 0n));
  });

  it('keeps working (appending alone) against a schema without append_batch', async () => {
    const old = await createTestDatabase('es_group_commit_old');
    const first = createPostgresEventStore({ connectionString: old.url });
    await first.ready();
    await first.close();
    const admin = new pg.Client({ connectionString: old.url });
    await admin.connect();
    await admin.query('drop function event_store.append_batch(json)');
    await admin.end();
    const store2 = createPostgresEventStore({ connectionString: old.url, migrate: false });
    try {
      const outcomes = await together(store2, [
        { stream: 'old-a', events: [newEvent('A')], expectedRevision: 'no_stream' },
        { stream: 'old-b', events: [newEvent('B')], expectedRevision: 'no_stream' },
      ]);
      expect(outcomes.map((o) => (o.ok ? o.result.nextExpectedRevision : o.error))).toEqual([0n, 0n]);
      expect((await store2.appendToStream('old-a', [newEvent('C')], { expectedRevision: 0n })).nextExpectedRevision).toBe(1n);
    } finally {
      await store2.close();
      await old.drop();
    }
  });

  it('answers only after the commit: what an append returned is in the log, read from another connection', async () => {
    const streams = Array.from({ length: 40 }, (_, i) => name(`durable-${i}`));
    const outcomes = await together(
      store,
      streams.map((stream) => ({ stream, events: [newEvent('D')], expectedRevision: 'no_stream' as const })),
    );
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const r = await client.query<{ stream: string; position: string }>(
        'select stream, position::text as position from event_store.events where stream = any($1::text[])',
        [streams],
      );
      const stored = new Map(r.rows.map((row) => [row.stream, BigInt(row.position)]));
      streams.forEach((stream, i) => expect(stored.get(stream)).toBe(resultOf(outcomes[i]).position));
    } finally {
      await client.end();
    }
  });
});
