/**
 * The reconciliation SQL against a tiny seeded dataset: the real read-model DDL (projections
 * migrations) and an event table with the columns the SQL reads. Two users, one BTC-USD trade.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { migrateSchema } from '@tradecore/projections';
import { reconcile } from './reconcile.ts';

const ES = 'es_t';
const RM = 'rm_t';

let db: TestDatabase;
let pool: pg.Pool;

async function seed(): Promise<void> {
  await pool.query(`drop schema if exists ${ES} cascade; drop schema if exists ${RM} cascade`);
  await migrateSchema(pool, RM);
  await pool.query(`create schema ${ES}; create table ${ES}.events (position bigint primary key, stream text not null, type text not null, data jsonb not null)`);
  const events: [number, string, string, Record<string, unknown>][] = [
    [1, 'account-1', 'FundsDeposited', { depositId: 'd1', userId: 1, asset: 'USD', amount: '100000', depositedBy: 9 }],
    [2, 'account-2', 'FundsDeposited', { depositId: 'd2', userId: 2, asset: 'BTC', amount: '2', depositedBy: 9 }],
    [3, 'order-s', 'OrderPlaced', { orderId: 's', userId: 2, marketId: 1 }],
    [4, 'order-b', 'OrderPlaced', { orderId: 'b', userId: 1, marketId: 1 }],
    // user 2 sold 0.5 BTC at 60000 as maker (fee 10 bps = 30), user 1 bought as taker (20 bps = 60)
    [5, 'account-2', 'FillSettled', { tradeId: 't1', orderId: 's', userId: 2, marketId: 1, side: 'sell', liquidity: 'maker', price: '60000', quantity: '0.5', baseAsset: 'BTC', quoteAsset: 'USD', notional: '30000', fee: '30', feeAsset: 'USD', reservationReleased: '0' }],
    [6, 'account-1', 'FillSettled', { tradeId: 't1', orderId: 'b', userId: 1, marketId: 1, side: 'buy', liquidity: 'taker', price: '60000', quantity: '0.5', baseAsset: 'BTC', quoteAsset: 'USD', notional: '30000', fee: '60', feeAsset: 'USD', reservationReleased: '10' }],
  ];
  for (const [position, stream, type, data] of events) await pool.query(`insert into ${ES}.events values ($1, $2, $3, $4)`, [position, stream, type, data]);
  await pool.query(`update ${RM}.projection_checkpoint set position = 6`);
  const t = `'2030-01-01T00:00:00Z'`;
  await pool.query(`insert into ${RM}.balances values
    (1, 'USD', 69940, 0, ${t}, 6), (1, 'BTC', 0.5, 0, ${t}, 6),
    (2, 'BTC', 1.5, 0, ${t}, 5), (2, 'USD', 29970, 0, ${t}, 5)`);
  await pool.query(`insert into ${RM}.trades values
    ('t1', 'maker', 2, 's', 1, 'sell', 60000, 0.5, 30000, 30, 'USD', true, true, ${t}, 5),
    ('t1', 'taker', 1, 'b', 1, 'buy', 60000, 0.5, 30000, 60, 'USD', true, true, ${t}, 6)`);
  await pool.query(`insert into ${RM}.positions values
    ('1:1', 1, 1, 0.5, 30000, 60000, 0, ${t}, 6),
    ('2:1', 2, 1, -0.5, -30000, 60000, 0, ${t}, 5)`);
  for (const [id, user, side, pos] of [['s', 2, 'sell', 3], ['b', 1, 'buy', 4]] as const) {
    await pool.query(
      `insert into ${RM}.orders (order_id, user_id, market_id, side, type, time_in_force, post_only, price, quantity, filled_quantity, filled_notional, status, book_quantity, created_at, updated_at, created_position, last_position)
       values ($1, $2, 1, $3, 'limit', 'GTC', false, 60000, 0.5, 0.5, 30000, 'filled', 0, ${t}, ${t}, $4, 6)`,
      [id, user, side, pos],
    );
  }
}

const run = (extra: Parameters<typeof reconcile>[1] = {}) => reconcile(pool, { storeSchema: ES, readSchema: RM, expectNoOpenOrders: true, ...extra });
const failed = async (extra?: Parameters<typeof reconcile>[1]) => (await run(extra)).checks.filter((c) => !c.ok).map((c) => c.name);

beforeAll(async () => {
  db = await createTestDatabase('loadtest_reconcile');
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});
beforeEach(seed);

describe('reconciliation SQL', () => {
  it('passes on a consistent dataset and reports per-asset conservation', async () => {
    const r = await run();
    expect(r.checks.filter((c) => !c.ok)).toEqual([]);
    expect(r.ok).toBe(true);
    const usd = r.assets.find((a) => a.asset === 'USD')!;
    expect(Number(usd.deposits)).toBe(100000);
    expect(Number(usd.feesReadModel)).toBe(90);
    expect(Number(usd.feesEvents)).toBe(90);
    expect(Number(usd.difference)).toBe(0);
    expect(r.counts).toMatchObject({ orders: 2, ordersPlacedEvents: 2, trades: 2, positions: 2, accounts: 2 });
  });

  it('catches money appearing in an account', async () => {
    await pool.query(`update ${RM}.balances set available = available + 0.000000000001 where user_id = 1 and asset = 'USD'`);
    expect(await failed()).toEqual(['assets conserved', 'accounts = fold of their events']);
  });

  it('catches money moved between accounts (conserved overall, wrong per account)', async () => {
    await pool.query(`update ${RM}.balances set available = available - 5 where user_id = 1 and asset = 'USD'`);
    await pool.query(`update ${RM}.balances set available = available + 5 where user_id = 2 and asset = 'USD'`);
    expect(await failed()).toEqual(['accounts = fold of their events']);
  });

  it('catches a fee the read model lost', async () => {
    await pool.query(`update ${RM}.trades set fee = 0 where liquidity = 'maker'`);
    expect(await failed()).toEqual(['assets conserved', 'fees: read model = events']);
  });

  it('catches a position that is not the sum of its fills', async () => {
    await pool.query(`update ${RM}.positions set quantity = 0.4 where user_id = 1`);
    expect(await failed()).toEqual(['positions = Σ fills (read model)', 'positions = Σ fills (events)']);
  });

  it('catches a fill the read model never settled and a one-sided trade', async () => {
    await pool.query(`update ${RM}.trades set settled = false where liquidity = 'taker'`);
    expect(await failed()).toContain('every trade executed and settled on both sides');
    await seed();
    await pool.query(`delete from ${RM}.trades where liquidity = 'taker'`);
    expect(await failed()).toContain('every trade executed and settled on both sides');
  });

  it('catches an order left open after its cancel was accepted', async () => {
    await pool.query(`update ${RM}.orders set status = 'open' where order_id = 's'`);
    await pool.query(`insert into ${ES}.events values (7, 'order-s', 'OrderCancelRequested', '{"orderId": "s", "userId": 2, "marketId": 1}')`);
    await pool.query(`update ${RM}.projection_checkpoint set position = 7`);
    expect(await failed({ expectNoOpenOrders: false })).toEqual(['no cancelled order left open']);
  });

  it('catches pending and open orders, reservations, negative balances, lag and missing orders', async () => {
    await pool.query(`update ${RM}.orders set status = 'pending' where order_id = 's'`);
    expect(await failed()).toEqual(['no order left pending']);
    await pool.query(`update ${RM}.orders set status = 'open' where order_id = 's'`);
    expect(await failed()).toEqual(['no open order after the drain']);
    expect(await failed({ expectNoOpenOrders: false })).toEqual([]);
    await seed();
    await pool.query(`update ${RM}.balances set available = available - 1, reserved = reserved + 1 where user_id = 2 and asset = 'BTC'`);
    expect(await failed()).toEqual(['nothing reserved after the drain']);
    await pool.query(`update ${RM}.balances set available = -1, reserved = 2.5 where user_id = 2 and asset = 'BTC'`);
    expect(await failed()).toContain('no negative balance');
    await seed();
    await pool.query(`update ${RM}.projection_checkpoint set position = 5`);
    expect(await failed()).toEqual(['projection checkpoint at the head']);
    await seed();
    await pool.query(`delete from ${RM}.orders where order_id = 'b'`);
    expect(await failed()).toEqual(['every OrderPlaced has a read-model order']);
  });

  it('restricts to the given users', async () => {
    const r = await run({ userIds: [2], expectNoOpenOrders: false });
    expect(r.assets.map((a) => a.asset)).toEqual(['BTC', 'USD']);
    // user 2 alone: its own account still equals the fold of its own events
    expect(r.checks.find((c) => c.name === 'accounts = fold of their events')!.ok).toBe(true);
    expect(r.counts.orders).toBe(1);
  });

  it('refuses odd schema names', async () => {
    await expect(reconcile(pool, { storeSchema: 'x; drop table y' })).rejects.toThrow(RangeError);
  });
});
