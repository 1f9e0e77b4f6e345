import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import pg from 'pg';
import type { RecordedEvent } from '@tradecore/event-store';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { createProjector, diffReadModels, rebuildReadModels, snapshotReadModels, type CanonicalRow } from './index.ts';
import { ExchangeSimulator, InMemoryEventStore, type SimAction } from './testing/index.ts';
import { referenceFold } from '../test/reference-fold.ts';

const action: fc.Arbitrary<SimAction> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('deposit' as const), user: fc.nat(), market: fc.nat(), base: fc.boolean(), whole: fc.integer({ min: 1, max: 5000 }) }) },
  {
    weight: 30,
    arbitrary: fc.record({
      kind: fc.constant('place' as const),
      user: fc.nat(),
      market: fc.nat(),
      side: fc.constantFrom('buy' as const, 'sell' as const),
      type: fc.constantFrom('limit' as const, 'limit' as const, 'limit' as const, 'market' as const),
      tif: fc.constantFrom('GTC' as const, 'GTC' as const, 'IOC' as const, 'FOK' as const),
      postOnly: fc.boolean(),
      offsetTicks: fc.integer({ min: -6, max: 6 }),
      lots: fc.integer({ min: 1, max: 30 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('amend' as const), pick: fc.nat(), offsetTicks: fc.integer({ min: -4, max: 4 }), lots: fc.integer({ min: 1, max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('halt' as const), market: fc.nat(), halted: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('kill' as const), engaged: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'kill', engaged: false } as const) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 600_000 }), fc.integer({ min: 0, max: 2 * 86_400_000 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('poison' as const), variant: fc.nat(2) }) },
);

/** A few users with money and two markets first, so that random actions trade. */
const SETUP: SimAction[] = [
  { kind: 'register' },
  { kind: 'register' },
  { kind: 'register' },
  { kind: 'register' },
  { kind: 'list', spec: 0, refTicks: 1000, makerFeeBps: 10, takerFeeBps: 25 },
  { kind: 'list', spec: 1, refTicks: 200, makerFeeBps: 0, takerFeeBps: 30 },
  { kind: 'list', spec: 2, refTicks: 60, makerFeeBps: 5, takerFeeBps: 5 },
  ...[0, 1, 2, 3].flatMap((user) => [0, 1, 2].flatMap((market) => [true, false].map((base) => ({ kind: 'deposit' as const, user, market, base, whole: 5000 })))),
];

function history(actions: readonly SimAction[]): { sim: ExchangeSimulator; events: RecordedEvent[] } {
  const sim = new ExchangeSimulator({ gapEvery: 7 });
  for (const a of [...SETUP, ...actions]) sim.step(a);
  return { sim, events: sim.events };
}

/** Deliveries: random batch sizes, each batch re-sending some earlier events and repeating some of its own, shuffled. */
function deliveries(events: readonly RecordedEvent[], sizes: number[], redeliver: number[], seed: number): RecordedEvent[][] {
  const out: RecordedEvent[][] = [];
  let i = 0;
  let k = 0;
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s;
  };
  while (i < events.length) {
    const size = sizes[k % Math.max(1, sizes.length)] ?? 10;
    const back = redeliver[k % Math.max(1, redeliver.length)] ?? 0;
    const batch = events.slice(i, i + size);
    const again = events.slice(Math.max(0, i - back), i);
    const dup = batch.filter(() => next() % 5 === 0);
    const all = [...again, ...batch, ...dup];
    for (let j = all.length - 1; j > 0; j -= 1) {
      const r = next() % (j + 1);
      [all[j], all[r]] = [all[r] as RecordedEvent, all[j] as RecordedEvent];
    }
    out.push(all);
    i += size;
    k += 1;
  }
  return out;
}

function keyed(rows: CanonicalRow[], key: string[]): Map<string, CanonicalRow> {
  return new Map(rows.map((r) => [key.map((k) => r[k]).join('|'), r]));
}

const KEYS: Record<string, string[]> = {
  projection_checkpoint: ['name'],
  users: ['user_id'],
  markets: ['market_id'],
  orders: ['order_id'],
  balances: ['user_id', 'asset'],
  positions: ['position_id'],
  trades: ['trade_id', 'liquidity'],
  public_trades: ['trade_id'],
  candles: ['market_id', 'interval', 'bucket_start'],
  book_levels: ['market_id', 'side', 'price'],
  kill_switches: ['switch_key'],
};

let db: TestDatabase;
let pool: pg.Pool;
let run = 0;
/** What the runs covered, so that the property cannot pass by exercising nothing. */
const coverage = { trades: 0, errors: 0, statuses: new Set<string>(), cancelReasons: new Set<string>(), positions: 0, levels: 0 };

beforeAll(async () => {
  db = await createTestDatabase('proj_prop');
  pool = new pg.Pool({ connectionString: db.url, max: 6 });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

describe('projection of random histories', () => {
  it('live (random batches, duplicates, redelivery) = rebuild = in-memory fold = the simulator’s own state', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(action, { minLength: 20, maxLength: 150, size: 'max' }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(15), { minLength: 1, maxLength: 8 }),
        fc.nat(),
        async (actions, sizes, redeliver, seed) => {
          run += 1;
          const live = `live_${run}`;
          const rebuilt = `rebuilt_${run}`;
          const { sim, events } = history(actions);
          const projector = createProjector({ pool, schema: live, notify: false });
          await projector.migrate();
          await projector.migrate(); // idempotent
          for (const batch of deliveries(events, sizes, redeliver, seed)) await projector.apply(batch);
          // a full redelivery changes nothing
          const again = await projector.apply(events);
          expect(again.applied).toBe(0);

          await rebuildReadModels({ store: InMemoryEventStore.of(events), pool, liveSchema: rebuilt, batchSize: 97 });
          expect(await diffReadModels(pool, live, rebuilt)).toEqual([]);

          const snap = await snapshotReadModels(pool, live);
          const ref = referenceFold(events);
          for (const [table, key] of Object.entries(KEYS)) {
            const actual = keyed(snap[table] ?? [], key);
            const expected = keyed(ref.tables[table] ?? [], key);
            expect([...actual.keys()].sort(), table).toEqual([...expected.keys()].sort());
            for (const [k, row] of expected) expect(actual.get(k), `${table} ${k}`).toEqual(row);
          }
          expect((snap.projection_errors ?? []).map((e) => ({ position: e.position, kind: e.kind }))).toEqual(ref.errorPositions);

          // the simulator's own books agree: balances, resting book, order states
          const balances = keyed(snap.balances ?? [], ['user_id', 'asset']);
          for (const [user, acct] of sim.accounts) {
            for (const [asset, b] of acct) {
              const row = balances.get(`${user}|${asset}`);
              if (!row) {
                expect(b.available === 0n && b.reserved === 0n, `balance ${user}|${asset}`).toBe(true);
                continue;
              }
              expect({ a: row.available, r: row.reserved }, `balance ${user}|${asset}`).toEqual({ a: fmt(b.available), r: fmt(b.reserved) });
            }
          }
          const levels = keyed(snap.book_levels ?? [], ['market_id', 'side', 'price']);
          const simLevels = sim.levels();
          expect([...levels.keys()].sort()).toEqual([...simLevels.keys()].sort());
          for (const [k, l] of simLevels) expect({ q: levels.get(k)?.quantity, n: levels.get(k)?.order_count }).toEqual({ q: l.quantity, n: String(l.orderCount) });
          const orders = keyed(snap.orders ?? [], ['order_id']);
          for (const o of sim.orders.values()) expect(orders.get(o.id)?.status, `order ${o.id}`).toBe(o.status);

          coverage.trades += (snap.public_trades ?? []).length;
          coverage.errors += (snap.projection_errors ?? []).length;
          coverage.positions += (snap.positions ?? []).length;
          coverage.levels += (snap.book_levels ?? []).length;
          for (const o of snap.orders ?? []) {
            coverage.statuses.add(o.status ?? '');
            if (o.cancel_reason) coverage.cancelReasons.add(o.cancel_reason);
          }
          await pool.query(`drop schema ${live} cascade; drop schema ${rebuilt} cascade`);
        },
      ),
      { numRuns: Number(process.env.PROJECTION_RUNS ?? 20), endOnFailure: true },
    );
    console.log('projection property coverage', { ...coverage, statuses: [...coverage.statuses], cancelReasons: [...coverage.cancelReasons] });
    expect(coverage.trades).toBeGreaterThan(30);
    expect(coverage.errors).toBeGreaterThan(0);
    expect(coverage.positions).toBeGreaterThan(0);
    expect(coverage.levels).toBeGreaterThan(0);
    for (const status of ['open', 'partially_filled', 'filled', 'cancelled', 'rejected']) expect(coverage.statuses).toContain(status);
  });
});

function fmt(units: bigint): string {
  const neg = units < 0n;
  const s = (neg ? -units : units).toString().padStart(13, '0');
  const int = s.slice(0, -12);
  const frac = s.slice(-12).replace(/0+$/, '');
  return `${neg ? '-' : ''}${int}${frac ? `.${frac}` : ''}`;
}
