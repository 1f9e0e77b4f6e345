/**
 * The PostgreSQL path (filters pushed down into SQL) and the generic path (any EventStore:
 * readAllStream + the TypeScript predicate, as used for EventStoreDB) must select the same events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '@tradecore/event-store';
import { connect, type Connection, type GenericConnection, type PostgresConnection } from './connect.ts';
import type { EventFilter } from './filter.ts';
import { Output, memoryIo } from './io.ts';
import { positionAtTime, scan } from './log.ts';
import { orderStory } from './commands/story.ts';
import { recheckOrder } from './commands/recheck.ts';
import { eventRows, seed, type Seeded } from './testing/fixture.ts';

let f: Seeded;
let pgConn: PostgresConnection;
let generic: GenericConnection;
beforeAll(async () => {
  f = await seed('tctl_log');
  const c = await connect({ url: f.url, env: {} });
  if (c.kind !== 'postgres') throw new Error('expected postgres');
  pgConn = c;
  generic = { kind: 'esdb', url: c.url, display: c.display, store: c.store, close: async () => undefined };
});
afterAll(async () => {
  await pgConn.close();
  await f.close();
});

async function ids(conn: Connection, filter: EventFilter, batchSize = 7): Promise<string[]> {
  const out: string[] = [];
  for await (const e of scan(conn, filter, { batchSize })) out.push(`${e.globalPosition}:${e.type}`);
  return out;
}

describe('scan', () => {
  it('selects the same events on the SQL and the generic path, for every kind of filter', async () => {
    const rows = await eventRows(f.pool);
    const filters: EventFilter[] = [
      {},
      { types: ['OrderAccepted', 'OrderRejected'] },
      { streams: ['users', 'market-*'] },
      { userId: f.s.alice },
      { marketId: f.s.eth },
      { orderId: f.s.bobAsk.orderId },
      { fromPosition: BigInt(rows[9]?.position ?? '0'), toPosition: BigInt(rows[40]?.position ?? '0') },
      { sinceMs: Date.parse('2025-03-14T14:00:10Z'), untilMs: Date.parse('2025-03-14T14:01:30Z'), userId: f.s.bob },
      { streams: ['order_%'] },
    ];
    for (const flt of filters) {
      const a = await ids(pgConn, flt);
      const b = await ids(generic, flt);
      expect(a, JSON.stringify(flt, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).toEqual(b);
    }
    expect(await ids(pgConn, {})).toHaveLength(f.s.events);
    expect(await ids(pgConn, { streams: ['order_%'] })).toEqual([]); // LIKE wildcards are escaped
  });

  it('positionAtTime agrees on both paths', async () => {
    for (const t of ['2025-03-14T13:00:00Z', f.s.afterFill.time, '2030-01-01T00:00:00Z']) {
      const ms = Date.parse(t);
      expect(await positionAtTime(pgConn, ms, { batchSize: 5 })).toEqual(await positionAtTime(generic, ms));
    }
    expect((await positionAtTime(pgConn, Date.parse(f.s.afterFill.time))).position).toBe(f.s.afterFill.position);
  });

  it('order stories and rechecks are the same through the generic path', async () => {
    const render = async (conn: Connection) => {
      const io = memoryIo();
      const out = new Output(io.stdout);
      await orderStory(conn, out, f.s.aliceBuy.orderId, 'jsonl');
      await out.flush();
      return io.out();
    };
    expect(await render(generic)).toBe(await render(pgConn));
    const a = await recheckOrder(pgConn, f.s.daveKilled.orderId);
    const b = await recheckOrder(generic, f.s.daveKilled.orderId);
    expect(b.result.matches).toBe(true);
    expect(b.inputs).toEqual(a.inputs);
  });

  it('reads a log of more events than one page in order without gaps', async () => {
    const all: RecordedEvent[] = [];
    for await (const e of scan(pgConn, {}, { batchSize: 3 })) all.push(e);
    const rows = await eventRows(f.pool);
    expect(all.map((e) => e.globalPosition.toString())).toEqual(rows.map((r) => r.position));
  });
});
