/**
 * Test fixture: an isolated PostgreSQL database (testkit) holding an event store seeded with a
 * realistic scenario by the simulator, through createPostgresEventStore.
 */
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { createPostgresEventStore, createSealer, type PostgresEventStore, type RecordedEvent } from '@tradecore/event-store';
import { memoryIo } from '../io.ts';
import { run } from '../cli.ts';
import { BTC_USD, ETH_USD, Simulator, storeSink, type PlaceResult } from './simulator.ts';

export interface Scenario {
  admin: number;
  alice: number;
  bob: number;
  carol: number;
  dave: number;
  btc: number;
  eth: number;
  /** alice's buy 1.5 BTC @ 101.50 that fills against bob's ask at 101. */
  aliceBuy: PlaceResult;
  /** dave's buy rejected for insufficient funds. */
  daveRejected: PlaceResult;
  /** alice's buy rejected by the price band. */
  aliceBandRejected: PlaceResult;
  /** dave's order rejected by a user kill switch. */
  daveKilled: PlaceResult;
  /** alice's resting bid, cancelled by her. */
  aliceCancelled: PlaceResult;
  /** bob's resting ask 2 BTC @ 101 (partially filled by alice). */
  bobAsk: PlaceResult;
  /** The simulated time right after alice's fill, and the log position then. */
  afterFill: { time: string; position: bigint };
  /** carol's ETH bid (after the seals), amended once (accepted) and once more (rejected: price band). */
  carolBid: PlaceResult;
  /** Position of the last sealed event. */
  sealedTo: bigint;
  /** Events in total. */
  events: number;
}

export interface Seeded {
  db: TestDatabase;
  url: string;
  store: PostgresEventStore;
  pool: pg.Pool;
  sim: Simulator;
  s: Scenario;
  close(): Promise<void>;
}

export async function seed(prefix = 'tradectl'): Promise<Seeded> {
  const db = await createTestDatabase(prefix);
  const store = createPostgresEventStore({ connectionString: db.url, poolSize: 4 });
  await store.ready();
  const sim = new Simulator(storeSink(store), { start: '2025-03-14T14:00:00.000Z', stepMs: 1000 });
  const admin = await sim.registerUser('admin', ['admin', 'trader']);
  const alice = await sim.registerUser('alice');
  const bob = await sim.registerUser('bob');
  const carol = await sim.registerUser('carol');
  const dave = await sim.registerUser('dave');
  const btc = await sim.listMarket(BTC_USD, admin);
  const eth = await sim.listMarket(ETH_USD, admin);
  await sim.deposit(alice, 'USD', '100000', admin);
  await sim.deposit(bob, 'BTC', '50', admin);
  await sim.deposit(bob, 'USD', '10000', admin);
  await sim.deposit(carol, 'USD', '20000', admin);
  await sim.deposit(carol, 'ETH', '100', admin);
  await sim.deposit(dave, 'USD', '10', admin);

  const bobAsk = await sim.placeOrder({ userId: bob, marketId: btc, side: 'sell', price: '101.00', quantity: '2' });
  await sim.placeOrder({ userId: bob, marketId: btc, side: 'sell', price: '102.00', quantity: '1' });
  const aliceBuy = await sim.placeOrder({ userId: alice, marketId: btc, side: 'buy', price: '101.50', quantity: '1.5' });
  const state = await store.pool.query<{ p: string }>('select max(position)::text as p from event_store.events');
  const afterFill = { time: sim.now(), position: BigInt(state.rows[0]?.p ?? '0') };
  sim.tick(60_000);

  const daveRejected = await sim.placeOrder({ userId: dave, marketId: btc, side: 'buy', price: '101.00', quantity: '1' });
  const aliceBandRejected = await sim.placeOrder({ userId: alice, marketId: btc, side: 'buy', price: '150.00', quantity: '1' });
  await sim.placeOrder({ userId: carol, marketId: eth, side: 'sell', price: '50.00', quantity: '5' });
  await sim.placeOrder({ userId: alice, marketId: eth, side: 'buy', type: 'market', quantity: '2' });
  const aliceCancelled = await sim.placeOrder({ userId: alice, marketId: btc, side: 'buy', price: '100.00', quantity: '1' });
  await sim.cancelOrder(aliceCancelled.orderId);
  await sim.control_('KillSwitchEngaged', { scope: 'user', marketId: null, userId: dave, reason: 'compliance review', changedBy: admin });
  const daveKilled = await sim.placeOrder({ userId: dave, marketId: btc, side: 'buy', price: '100.00', quantity: '0.01' });
  await sim.control_('KillSwitchReleased', { scope: 'user', marketId: null, userId: dave, reason: 'review done', changedBy: admin });
  await sim.placeOrder({ userId: carol, marketId: btc, side: 'buy', price: '100.50', quantity: '1' });
  await sim.placeOrder({ userId: bob, marketId: btc, side: 'sell', type: 'limit', price: '100.00', quantity: '1.5', timeInForce: 'IOC' });

  // The sealer seals only what readers can see: wait out other transactions on the server first.
  const pool = new pg.Pool({ connectionString: db.url, max: 3 });
  pool.on('error', () => undefined);
  await waitVisible(store, pool);
  const lastBeforeTail = BigInt((await pool.query<{ p: string }>('select max(position)::text as p from event_store.events')).rows[0]?.p ?? '0');
  const sealer = createSealer(store, { maxEventsPerSeal: 25 });
  let sealedTo = 0n;
  for (const deadline = Date.now() + 90_000; sealedTo < lastBeforeTail; ) {
    const seals = await sealer.sealNow();
    sealedTo = seals[seals.length - 1]?.toPosition ?? sealedTo;
    if (sealedTo < lastBeforeTail) {
      if (Date.now() > deadline) throw new Error('fixture: could not seal the scenario within 90 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  // a tail after the last seal: covered by the stream chains only
  await sim.deposit(carol, 'USD', '500', admin);
  const carolBid = await sim.placeOrder({ userId: carol, marketId: eth, side: 'buy', price: '49.00', quantity: '1' });
  const amendAccepted = await sim.amendOrder(carolBid.orderId, { newPrice: '48.50', newQuantity: '2' });
  const amendRejected = await sim.amendOrder(carolBid.orderId, { newPrice: '10.00' });
  if (amendAccepted.outcome !== 'accepted' || amendRejected.reason !== 'price_band') throw new Error('fixture: unexpected amend outcomes');

  await waitVisible(store, pool);
  return {
    db,
    url: db.url,
    store,
    pool,
    sim,
    s: { admin, alice, bob, carol, dave, btc, eth, aliceBuy, daveRejected, aliceBandRejected, daveKilled, aliceCancelled, bobAsk, carolBid, afterFill, sealedTo, events: sim.events },
    async close() {
      await pool.end().catch(() => undefined);
      await store.close().catch(() => undefined);
      await db.drop().catch(() => undefined);
    },
  };
}

/** Runs tradectl in-process; returns exit code and captured output. */
export async function tradectl(args: string[], env: Record<string, string | undefined> = {}, options: { tty?: boolean; signal?: AbortSignal; clock?: { now(): Date } } = {}) {
  const io = memoryIo(env, options);
  const code = await run(args, io);
  return { code, out: io.out(), err: io.err() };
}

/**
 * Positions are transaction ids × 10^6 and readers stop below the oldest running transaction of
 * the whole server (pg_snapshot_xmin): another database's open transaction delays visibility.
 * Waits until every committed event is visible to readers.
 */
export async function waitVisible(store: PostgresEventStore, pool: pg.Pool, timeoutMs = 90_000): Promise<void> {
  const r = await pool.query<{ p: string | null }>('select max(position)::text as p from event_store.events');
  const max = BigInt(r.rows[0]?.p ?? '0');
  const deadline = Date.now() + timeoutMs;
  while ((await store.headPosition()) < max) {
    if (Date.now() > deadline) throw new Error(`events up to ${max} are still not visible after ${timeoutMs} ms (a long transaction elsewhere on the server?)`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Rows of the events table (for tampering), in position order. */
export async function eventRows(pool: pg.Pool): Promise<{ position: string; stream: string; revision: string; type: string; event_id: string }[]> {
  const r = await pool.query<{ position: string; stream: string; revision: string; type: string; event_id: string }>(
    'select position::text as position, stream, revision::text as revision, type, event_id::text as event_id from event_store.events order by position',
  );
  return r.rows;
}

/** Every event of the seeded log, in global order. */
export async function allEvents(store: PostgresEventStore): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const e of store.readAllStream()) out.push(e);
  return out;
}
