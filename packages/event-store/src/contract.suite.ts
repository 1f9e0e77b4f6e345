/**
 * The EventStore contract: every adapter runs this suite (PostgreSQL always, EventStoreDB where one
 * is reachable). Test-only: import it from `@tradecore/event-store/contract`, not from the index,
 * so production code never loads vitest.
 *
 * Every test works on streams of its own (random names) and reads the global log from the head it
 * saw at its start, so the suite also runs against a server that holds other data.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  IdempotencyConflictError,
  WrongExpectedRevisionError,
  readStreamsForwards,
  type EventMetadata,
  type EventStore,
  type NewEvent,
  type RecordedEvent,
} from './port.ts';

export interface ContractFixture {
  store: EventStore;
  dispose(): Promise<void>;
}

export interface ContractOptions {
  /** When set, the whole suite is skipped and the reason printed. */
  skip?: string;
  /** Events in the many-writers test. Default 100,000. */
  manyWritersEvents?: number;
}

function meta(extra: Partial<EventMetadata> = {}): EventMetadata {
  return {
    correlationId: randomUUID(),
    causationId: null,
    userId: 7,
    occurredAt: '2025-01-02T03:04:05.000Z',
    schemaVersion: 1,
    ...extra,
  };
}

export function newEvent(type: string, data: unknown = {}, extra: Partial<EventMetadata> = {}): NewEvent {
  return { eventId: randomUUID(), type, data, metadata: meta(extra) };
}

function isStrictlyIncreasing(xs: readonly bigint[]): boolean {
  for (let i = 1; i < xs.length; i++) if ((xs[i] as bigint) <= (xs[i - 1] as bigint)) return false;
  return true;
}

/**
 * Global readers may lag an append a moment (PostgreSQL: an older transaction anywhere on the
 * server is still open), so assertions on readAll / headPosition retry until they hold.
 */
async function eventually(assertion: () => Promise<void>, timeoutMs = 50_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function eventStoreContract(
  name: string,
  factory: () => Promise<ContractFixture>,
  options: ContractOptions = {},
): void {
  if (options.skip !== undefined) {
    console.warn(`[event-store contract] ${name}: skipped: ${options.skip}`);
    describe.skip(`EventStore contract: ${name} (skipped: ${options.skip})`, () => {
      it('runs where the server is reachable', () => undefined);
    });
    return;
  }

  describe(`EventStore contract: ${name}`, () => {
    let fixture: ContractFixture;
    let store: EventStore;
    const run = randomUUID().slice(0, 8);
    let n = 0;
    const streamName = (label: string): string => `contract-${run}-${label}-${n++}`;

    beforeAll(async () => {
      fixture = await factory();
      store = fixture.store;
    });
    afterAll(async () => {
      await fixture?.dispose();
    });

    it('appends to a new stream and reads it back', async () => {
      const stream = streamName('basic');
      const events = [
        newEvent('OrderPlaced', { orderId: 'o-1', qty: '10', nested: { b: 2, a: [1, 'x', null, true] } }),
        newEvent('OrderAccepted', { orderId: 'o-1' }, { causationId: 'c-1', inputPosition: '42' }),
      ];
      const result = await store.appendToStream(stream, events, { expectedRevision: 'no_stream' });
      expect(result.nextExpectedRevision).toBe(1n);
      const read = await store.readStream(stream);
      expect(read.map((e) => e.eventId)).toEqual(events.map((e) => e.eventId));
      expect(read.map((e) => e.streamRevision)).toEqual([0n, 1n]);
      expect(read.map((e) => e.type)).toEqual(['OrderPlaced', 'OrderAccepted']);
      expect(read[0]?.data).toEqual(events[0]?.data);
      expect(read[1]?.metadata).toEqual(events[1]?.metadata);
      expect(read.every((e) => e.stream === stream)).toBe(true);
      expect(isStrictlyIncreasing(read.map((e) => e.globalPosition))).toBe(true);
      expect(read[1]?.globalPosition).toBe(result.position);
      expect(Number.isNaN(Date.parse(read[0]?.recordedAt ?? ''))).toBe(false);
      expect(typeof read[0]?.globalPosition).toBe('bigint');
    });

    it('checks the expected revision: exact, no_stream, stream_exists, any', async () => {
      const stream = streamName('expected');
      await expect(store.appendToStream(stream, [newEvent('A')], { expectedRevision: 'stream_exists' })).rejects.toSatisfy(
        (e: unknown) => e instanceof WrongExpectedRevisionError && e.actual === 'no_stream' && e.stream === stream,
      );
      await expect(store.appendToStream(stream, [newEvent('A')], { expectedRevision: 0n })).rejects.toSatisfy(
        (e: unknown) => e instanceof WrongExpectedRevisionError && e.actual === 'no_stream',
      );
      const r0 = await store.appendToStream(stream, [newEvent('A')], { expectedRevision: 'no_stream' });
      expect(r0.nextExpectedRevision).toBe(0n);
      await expect(store.appendToStream(stream, [newEvent('A')], { expectedRevision: 'no_stream' })).rejects.toSatisfy(
        (e: unknown) => e instanceof WrongExpectedRevisionError && e.actual === 0n && e.expected === 'no_stream',
      );
      const r1 = await store.appendToStream(stream, [newEvent('A'), newEvent('B')], { expectedRevision: 0n });
      expect(r1.nextExpectedRevision).toBe(2n);
      expect(r1.position > r0.position).toBe(true);
      await expect(store.appendToStream(stream, [newEvent('A')], { expectedRevision: 0n })).rejects.toSatisfy(
        (e: unknown) => e instanceof WrongExpectedRevisionError && e.actual === 2n && e.expected === 0n,
      );
      const r2 = await store.appendToStream(stream, [newEvent('A')], { expectedRevision: 'stream_exists' });
      expect(r2.nextExpectedRevision).toBe(3n);
      const r3 = await store.appendToStream(stream, [newEvent('A')], { expectedRevision: 'any' });
      expect(r3.nextExpectedRevision).toBe(4n);
      const r4 = await store.appendToStream(stream, [newEvent('A')]);
      expect(r4.nextExpectedRevision).toBe(5n);
      const fresh = streamName('expected-any');
      expect((await store.appendToStream(fresh, [newEvent('A')], { expectedRevision: 'any' })).nextExpectedRevision).toBe(0n);
      expect((await store.readStream(stream)).map((e) => e.streamRevision)).toEqual([0n, 1n, 2n, 3n, 4n, 5n]);
    });

    it('is idempotent for a retried append and refuses a partly matching one', async () => {
      const stream = streamName('idem');
      const first = [newEvent('A'), newEvent('B')];
      const r1 = await store.appendToStream(stream, first, { expectedRevision: 'no_stream' });
      const again = await store.appendToStream(stream, first, { expectedRevision: 'no_stream' });
      expect(again).toEqual(r1);
      const second = [newEvent('C')];
      const r2 = await store.appendToStream(stream, second, { expectedRevision: 1n });
      expect(await store.appendToStream(stream, second, { expectedRevision: 1n })).toEqual(r2);
      // the first batch again, at its original expected revision, after the stream moved on
      expect(await store.appendToStream(stream, first, { expectedRevision: 'no_stream' })).toEqual(r1);
      expect((await store.readStream(stream)).length).toBe(3);
      const mixed = [first[0] as NewEvent, newEvent('D')];
      await expect(store.appendToStream(stream, mixed, { expectedRevision: 'no_stream' })).rejects.toBeInstanceOf(
        IdempotencyConflictError,
      );
      expect((await store.readStream(stream)).length).toBe(3);
    });

    it('reads a stream forwards, backwards, from a revision, with a max count', async () => {
      const stream = streamName('read');
      await store.appendToStream(
        stream,
        Array.from({ length: 10 }, (_, i) => newEvent('N', { i })),
        { expectedRevision: 'no_stream' },
      );
      const revs = (es: RecordedEvent[]): bigint[] => es.map((e) => e.streamRevision);
      expect(revs(await store.readStream(stream, { fromRevision: 7n }))).toEqual([7n, 8n, 9n]);
      expect(revs(await store.readStream(stream, { maxCount: 2 }))).toEqual([0n, 1n]);
      expect(revs(await store.readStream(stream, { direction: 'backwards', maxCount: 3 }))).toEqual([9n, 8n, 7n]);
      expect(revs(await store.readStream(stream, { direction: 'backwards', fromRevision: 2n }))).toEqual([2n, 1n, 0n]);
      expect(await store.readStream(streamName('missing'))).toEqual([]);
    });

    it('reads several streams at once (readStreamsForwards): each from its revision, at most its count', async () => {
      const a = streamName('many-a');
      const b = streamName('many-b');
      await store.appendToStream(a, Array.from({ length: 5 }, (_, i) => newEvent('A', { i })), { expectedRevision: 'no_stream' });
      await store.appendToStream(b, Array.from({ length: 3 }, (_, i) => newEvent('B', { i })), { expectedRevision: 'no_stream' });
      const reads = [
        { stream: b, fromRevision: 1n },
        { stream: streamName('many-missing'), fromRevision: 0n },
        { stream: a, fromRevision: 0n, maxCount: 2 },
        { stream: a, fromRevision: 3n },
        { stream: b, fromRevision: 3n },
      ];
      const got = await readStreamsForwards(store, reads);
      const shape = (es: RecordedEvent[]): [string, bigint, unknown][] => es.map((e) => [e.type, e.streamRevision, e.data]);
      expect(got.map(shape)).toEqual([
        [['B', 1n, { i: 1 }], ['B', 2n, { i: 2 }]],
        [],
        [['A', 0n, { i: 0 }], ['A', 1n, { i: 1 }]],
        [['A', 3n, { i: 3 }], ['A', 4n, { i: 4 }]],
        [],
      ]);
      // The same events, field for field, as one readStream per stream.
      for (const [i, r] of reads.entries()) {
        expect(got[i]).toEqual(await store.readStream(r.stream, { fromRevision: r.fromRevision, ...(r.maxCount !== undefined ? { maxCount: r.maxCount } : {}) }));
      }
      expect(await readStreamsForwards(store, [])).toEqual([]);
    });

    it('reads all in global order from an exclusive position; headPosition follows appends', async () => {
      const start = await store.headPosition();
      const a = streamName('all-a');
      const b = streamName('all-b');
      const ra = await store.appendToStream(a, [newEvent('A', { n: 1 }), newEvent('A', { n: 2 })]);
      const rb = await store.appendToStream(b, [newEvent('B', { n: 3 })]);
      expect(rb.position > ra.position).toBe(true);
      await eventually(async () => expect((await store.headPosition()) >= rb.position).toBe(true));
      const ours = (await store.readAll({ fromPosition: start })).filter((e) => e.stream === a || e.stream === b);
      expect(ours.map((e) => (e.data as { n: number }).n)).toEqual([1, 2, 3]);
      expect(isStrictlyIncreasing(ours.map((e) => e.globalPosition))).toBe(true);
      const afterFirst = ours[0]?.globalPosition ?? 0n;
      const rest = (await store.readAll({ fromPosition: afterFirst })).filter((e) => e.stream === a || e.stream === b);
      expect(rest.map((e) => (e.data as { n: number }).n)).toEqual([2, 3]);
      const one = await store.readAll({ fromPosition: start, maxCount: 1 });
      expect(one.length).toBe(1);
    });

    it('subscribes from a checkpoint: in order, batched, handler awaited, filtered by type', async () => {
      const start = await store.headPosition();
      const stream = streamName('sub');
      const got: RecordedEvent[] = [];
      const gotFiltered: RecordedEvent[] = [];
      let running = 0;
      let overlapped = false;
      let maxBatch = 0;
      const sub = store.subscribeToAll(
        async (batch) => {
          running++;
          if (running > 1) overlapped = true;
          maxBatch = Math.max(maxBatch, batch.length);
          await new Promise((r) => setTimeout(r, 5));
          got.push(...batch.filter((e) => e.stream === stream));
          running--;
        },
        { fromPosition: start, batchSize: 7 },
      );
      const filtered = store.subscribeToAll(
        (batch) => {
          gotFiltered.push(...batch.filter((e) => e.stream === stream));
          return Promise.resolve();
        },
        { fromPosition: start, eventTypes: ['Wanted'] },
      );
      for (let i = 0; i < 10; i++) {
        await store.appendToStream(stream, [newEvent(i % 3 === 0 ? 'Wanted' : 'Other', { i }), newEvent('Other', { i, j: 1 })]);
      }
      await waitFor(() => got.length >= 20 && gotFiltered.length >= 4, 50_000, 'subscription delivery');
      await sub.close();
      await filtered.close();
      await sub.done;
      expect(got.map((e) => e.streamRevision)).toEqual(Array.from({ length: 20 }, (_, i) => BigInt(i)));
      expect(isStrictlyIncreasing(got.map((e) => e.globalPosition))).toBe(true);
      expect(gotFiltered.map((e) => (e.data as { i: number }).i)).toEqual([0, 3, 6, 9]);
      expect(gotFiltered.every((e) => e.type === 'Wanted')).toBe(true);
      expect(overlapped).toBe(false);
      expect(maxBatch).toBeLessThanOrEqual(7);
    });

    it('stops a subscription whose handler throws and rejects done', async () => {
      const start = await store.headPosition();
      const stream = streamName('sub-fail');
      const sub = store.subscribeToAll(
        (batch) => (batch.some((e) => e.stream === stream) ? Promise.reject(new Error('boom')) : Promise.resolve()),
        { fromPosition: start },
      );
      await store.appendToStream(stream, [newEvent('A')]);
      await expect(sub.done).rejects.toThrow('boom');
      await sub.close();
    });

    it('16 concurrent writers on one stream: one winner per revision, no gaps', async () => {
      const stream = streamName('race');
      const target = 120n;
      const winners = new Map<bigint, number>();
      let conflicts = 0;
      const writer = async (w: number): Promise<void> => {
        let expected: bigint | 'no_stream' = 'no_stream';
        for (;;) {
          const next: bigint = expected === 'no_stream' ? 0n : expected + 1n;
          if (next >= target) return;
          try {
            const r = await store.appendToStream(stream, [newEvent('Raced', { w, next: next.toString() })], {
              expectedRevision: expected,
            });
            expect(r.nextExpectedRevision).toBe(next);
            expect(winners.has(next)).toBe(false);
            winners.set(next, w);
            expected = r.nextExpectedRevision;
          } catch (err) {
            if (!(err instanceof WrongExpectedRevisionError)) throw err;
            conflicts++;
            expected = err.actual;
          }
        }
      };
      await Promise.all(Array.from({ length: 16 }, (_, w) => writer(w)));
      const events = await store.readStream(stream);
      expect(events.map((e) => e.streamRevision)).toEqual(Array.from({ length: Number(target) }, (_, i) => BigInt(i)));
      expect(winners.size).toBe(Number(target));
      for (const e of events) {
        expect((e.data as { w: number }).w).toBe(winners.get(e.streamRevision));
      }
      expect(conflicts).toBeGreaterThan(0);
    }, 180_000);

    it('8 writers on different streams, many events, while a subscriber reads: each exactly once, in global order', async () => {
      const total = options.manyWritersEvents ?? 100_000;
      const writers = 8;
      const perWriter = Math.ceil(total / writers);
      const prefix = streamName('many');
      const start = await store.headPosition();
      const seen: RecordedEvent[] = [];
      const sub = store.subscribeToAll(
        (batch) => {
          for (const e of batch) if (e.stream.startsWith(prefix)) seen.push(e);
          return Promise.resolve();
        },
        { fromPosition: start, batchSize: 1000 },
      );
      const appended = new Set<string>();
      let seed = 12345;
      const rnd = (): number => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed / 0x7fffffff;
      };
      const writer = async (w: number): Promise<void> => {
        let written = 0;
        const revisions = new Map<string, bigint>();
        let k = 0;
        while (written < perWriter) {
          const stream = `${prefix}-w${w}-s${k++ % 4}`;
          const size = Math.min(perWriter - written, 1 + Math.floor(rnd() * 60));
          const batch = Array.from({ length: size }, (_, i) => newEvent('Many', { w, i: written + i }));
          const expected = revisions.get(stream) ?? 'no_stream';
          const r = await store.appendToStream(stream, batch, { expectedRevision: expected });
          revisions.set(stream, r.nextExpectedRevision);
          for (const e of batch) appended.add(e.eventId);
          written += size;
        }
      };
      await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
      await waitFor(() => seen.length >= appended.size, 240_000, `the subscriber to see ${appended.size} events`);
      await new Promise((r) => setTimeout(r, 200)); // a duplicate would arrive now
      await sub.close();
      expect(seen.length).toBe(appended.size);
      expect(new Set(seen.map((e) => e.eventId)).size).toBe(seen.length);
      expect(seen.every((e) => appended.has(e.eventId))).toBe(true);
      expect(isStrictlyIncreasing(seen.map((e) => e.globalPosition))).toBe(true);
      const lastRevision = new Map<string, bigint>();
      for (const e of seen) {
        expect(e.streamRevision).toBe((lastRevision.get(e.stream) ?? -1n) + 1n);
        lastRevision.set(e.stream, e.streamRevision);
      }
    }, 600_000);
  });
}
