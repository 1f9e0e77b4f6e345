/**
 * The order's `amend` field after the order ended while an amend was pending, on the events the
 * real risk and execution deciders record (projections' WriteSide): an amend to no more than was
 * filled ends the order cancelled and is applied (it showed `pending` on the cancelled order for
 * good before); an order filled before its amend reached the book shows the book's refusal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { createTokenService, manualClock, type TokenService } from '@tradecore/http-kit';
import { createProjector } from '@tradecore/projections';
import { WriteSide } from '@tradecore/projections/testing';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { buildQueryApp, createPositionWaiter, type PositionWaiter } from './index.ts';

const TRADER = 7;
const OTHER = 8;
let db: TestDatabase;
let pool: pg.Pool;
let waiter: PositionWaiter;
let app: FastifyInstance;
let tokens: TokenService;
const ws = new WriteSide([TRADER, OTHER]);
// a buy of 1 at 100, 0.4 of it filled, then amended to a total of 0.4
const cut = ws.place(TRADER, { side: 'buy', price: '100', quantity: '1' });
ws.drain();
ws.place(OTHER, { side: 'sell', price: '100', quantity: '0.4' });
ws.drain();
const cutRequest = ws.amend(TRADER, cut, null, '0.4');
ws.drain();
// a buy of 1 at 99 filled by a sell recorded before its amend reached the book
const filled = ws.place(TRADER, { side: 'buy', price: '99', quantity: '1' });
ws.drain();
ws.place(OTHER, { side: 'sell', price: '99', quantity: '1' });
const filledRequest = ws.amend(TRADER, filled, '98', null);
ws.drain();

beforeAll(async () => {
  db = await createTestDatabase('query_amend');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  const projector = createProjector({ pool, notify: false });
  await projector.migrate();
  await projector.apply(ws.log);
  waiter = createPositionWaiter({ pool });
  await waiter.ready();
  const clock = manualClock(new Date('2030-01-01T00:00:00.000Z'));
  tokens = createTokenService({ secret: 'a-test-secret-that-is-long-enough-1234', clock });
  app = await buildQueryApp({ pool, tokens, clock, positions: waiter, cache: 'memory', maxWaitMs: 400, heartbeatMs: 200 });
});

afterAll(async () => {
  await app.close();
  await waiter.close();
  await pool.end();
  await db.drop();
});

const auth = () => ({ authorization: `Bearer ${tokens.issue({ userId: TRADER, username: 'trader', roles: ['trader'] }).token}` });

describe("an order's amend field once the order has ended", () => {
  it('is applied on the order an amend to no more than was filled cancelled', async () => {
    const res = await app.inject({ method: 'GET', url: `/api/v1/orders/${cut}`, headers: auth() });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'user',
      filledQuantity: '0.4',
      amend: { requestId: cutRequest, status: 'applied', rejectReason: null, price: '100', quantity: '0.4' },
    });
  });

  it('is rejected order_not_open on an order filled before the amend reached the book, and the list says the same', async () => {
    const one = JSON.parse((await app.inject({ method: 'GET', url: `/api/v1/orders/${filled}`, headers: auth() })).body) as { status: string; amend: unknown };
    expect(one).toMatchObject({ status: 'filled', amend: { requestId: filledRequest, status: 'rejected', rejectReason: 'order_not_open', price: '98', quantity: '1' } });
    const list = JSON.parse((await app.inject({ method: 'GET', url: '/api/v1/orders?status=all', headers: auth() })).body) as { items: { orderId: string; status: string; amend: { status: string } | null }[] };
    expect(list.items.map((o) => [o.orderId, o.status, o.amend?.status])).toEqual(
      expect.arrayContaining([
        [cut, 'cancelled', 'applied'],
        [filled, 'filled', 'rejected'],
      ]),
    );
    // no final order shows a pending amend
    expect(list.items.filter((o) => o.amend?.status === 'pending')).toEqual([]);
  });
});
