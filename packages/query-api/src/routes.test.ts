import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { formatAmount, parseAmount, parseSignedAmount } from '@tradecore/core-domain';
import { createTokenService, manualClock, type TokenService } from '@tradecore/http-kit';
import { createProjector, type Projector } from '@tradecore/projections';
import { generateHistory, type SimAction } from '@tradecore/projections/testing';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { buildQueryApp, createPositionWaiter, type PositionWaiter } from './index.ts';

let db: TestDatabase;
let pool: pg.Pool;
let projector: Projector;
let waiter: PositionWaiter;
let app: FastifyInstance;
let tokens: TokenService;
const { simulator: sim, events } = generateHistory({ events: 4_000, seed: 5, users: 6, markets: 3 });
let applied = 0;
const lastEventTime = new Date(events[events.length - 1]?.metadata.occurredAt ?? 0);
const clock = manualClock(lastEventTime);

/** Runs simulator actions and projects the events they produce. */
async function more(actions: SimAction[]): Promise<bigint> {
  for (const a of actions) sim.step(a);
  const fresh = sim.events.slice(applied);
  applied = sim.events.length;
  return (await projector.apply(fresh)).position;
}

const auth = (userId: number) => ({ authorization: `Bearer ${tokens.issue({ userId, username: `user${userId}`, roles: ['trader'] }).token}` });
const json = <T>(body: string) => JSON.parse(body) as T;

beforeAll(async () => {
  db = await createTestDatabase('query');
  pool = new pg.Pool({ connectionString: db.url, max: 6 });
  projector = createProjector({ pool });
  await projector.migrate();
  await projector.apply(events);
  applied = events.length;
  waiter = createPositionWaiter({ pool });
  await waiter.ready();
  tokens = createTokenService({ secret: 'a-test-secret-that-is-long-enough-1234', clock });
  app = await buildQueryApp({ pool, tokens, clock, positions: waiter, cache: 'memory', maxWaitMs: 400, heartbeatMs: 200 });
});

afterAll(async () => {
  await app.close();
  await waiter.close();
  await pool.end();
  await db.drop();
});

async function checkpoint(): Promise<string> {
  return String(await projector.position());
}

describe('markets', () => {
  it('lists every market with decimal strings and the projection position', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/markets' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-projection-position']).toBe(await checkpoint());
    const markets = json<Record<string, unknown>[]>(res.body);
    expect(markets).toHaveLength(3);
    for (const [i, m] of markets.entries()) {
      const simMarket = sim.marketOf(i + 1);
      expect(m).toMatchObject({ marketId: i + 1, symbol: simMarket?.symbol, baseAsset: simMarket?.base, quoteAsset: 'USD', tickSize: simMarket?.tickSize, lotSize: simMarket?.lotSize, status: 'open' });
      expect(typeof m.currentPrice).toBe('string');
      expect(typeof m.volume24h).toBe('string');
      expect(parseAmount(m.volume24h as string)).toBeGreaterThan(0n);
    }
  });

  it('answers one market, 404 for an unknown one, 400 for a bad id or an unknown parameter', async () => {
    const one = await app.inject({ method: 'GET', url: '/api/v1/markets/2' });
    expect(one.statusCode).toBe(200);
    expect(json<{ marketId: number }>(one.body).marketId).toBe(2);
    const missing = await app.inject({ method: 'GET', url: '/api/v1/markets/999' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toContain('application/problem+json');
    expect(missing.headers['x-projection-position']).toBe(await checkpoint());
    for (const url of ['/api/v1/markets/abc', '/api/v1/markets/0', '/api/v1/markets/1?foo=1', '/api/v1/markets?x=1']) {
      const bad = await app.inject({ method: 'GET', url });
      expect(bad.statusCode, url).toBe(400);
      expect(json<{ status: number }>(bad.body).status).toBe(400);
    }
  });

  it('serves the aggregated L2 book, best first, equal to the simulator’s book', async () => {
    for (const marketId of [1, 2, 3]) {
      const res = await app.inject({ method: 'GET', url: `/api/v1/markets/${marketId}/book?depth=500` });
      expect(res.statusCode).toBe(200);
      const book = json<{ marketId: number; bids: { price: string; quantity: string }[]; asks: { price: string; quantity: string }[] }>(res.body);
      const expected = [...sim.levels()].filter(([k]) => k.startsWith(`${marketId}|`));
      expect(book.bids.length + book.asks.length).toBe(expected.length);
      for (const l of book.bids) expect(sim.levels().get(`${marketId}|buy|${l.price}`)?.quantity).toBe(l.quantity);
      for (const l of book.asks) expect(sim.levels().get(`${marketId}|sell|${l.price}`)?.quantity).toBe(l.quantity);
      const bidPrices = book.bids.map((b) => parseAmount(b.price));
      expect([...bidPrices].sort((a, b) => (a > b ? -1 : 1))).toEqual(bidPrices);
      const askPrices = book.asks.map((b) => parseAmount(b.price));
      expect([...askPrices].sort((a, b) => (a < b ? -1 : 1))).toEqual(askPrices);
      if (book.bids.length > 0 && book.asks.length > 0) expect(bidPrices[0] ?? 0n).toBeLessThan(askPrices[0] ?? 0n);
    }
    const shallow = json<{ bids: unknown[]; asks: unknown[] }>((await app.inject({ method: 'GET', url: '/api/v1/markets/1/book?depth=1' })).body);
    expect(shallow.bids.length).toBeLessThanOrEqual(1);
    expect(shallow.asks.length).toBeLessThanOrEqual(1);
    for (const url of ['/api/v1/markets/1/book?depth=0', '/api/v1/markets/1/book?depth=x', '/api/v1/markets/1/book?depth=1001']) expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/api/v1/markets/77/book' })).statusCode).toBe(404);
  });

  it('pages the public tape newest first with opaque cursors', async () => {
    const expected = events.filter((e) => e.type === 'TradeExecuted' && (e.data as { marketId: number }).marketId === 1).map((e) => (e.data as { tradeId: string }).tradeId).reverse();
    expect(expected.length).toBeGreaterThan(20);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/api/v1/markets/1/trades?limit=7${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      const page = json<{ items: { tradeId: string; price: string; takerSide: string; tradeTime: string }[]; nextCursor: string | null }>(res.body);
      expect(page.items.length).toBeLessThanOrEqual(7);
      seen.push(...page.items.map((t) => t.tradeId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(expected);
    const first = json<{ items: unknown[] }>((await app.inject({ method: 'GET', url: '/api/v1/markets/1/trades' })).body);
    expect(first.items).toHaveLength(Math.min(50, expected.length));
    for (const url of ['/api/v1/markets/1/trades?limit=0', '/api/v1/markets/1/trades?limit=501', '/api/v1/markets/1/trades?cursor=nope', '/api/v1/markets/1/trades?limit=2&limit=3', '/api/v1/markets/1/trades?page=2']) {
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(400);
    }
    expect((await app.inject({ method: 'GET', url: '/api/v1/markets/42/trades' })).statusCode).toBe(404);
  });

  it('serves OHLCV candles in time order, and rejects bad intervals and ranges', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/markets/1/candles?interval=1h' });
    expect(res.statusCode).toBe(200);
    const candles = json<{ time: string; open: string; high: string; low: string; close: string; volume: string }[]>(res.body);
    expect(candles.length).toBeGreaterThan(0);
    for (const c of candles) {
      expect(parseAmount(c.low)).toBeLessThanOrEqual(parseAmount(c.open));
      expect(parseAmount(c.high)).toBeGreaterThanOrEqual(parseAmount(c.close));
    }
    expect(candles.map((c) => c.time)).toEqual([...candles.map((c) => c.time)].sort());
    const total = candles.reduce((s, c) => s + parseAmount(c.volume), 0n);
    const tape = events.filter((e) => e.type === 'TradeExecuted' && (e.data as { marketId: number }).marketId === 1).reduce((s, e) => s + parseAmount((e.data as { quantity: string }).quantity), 0n);
    expect(formatAmount(total)).toBe(formatAmount(tape));
    const from = candles[1]?.time ?? '';
    const ranged = json<unknown[]>((await app.inject({ method: 'GET', url: `/api/v1/markets/1/candles?interval=1h&from=${from}&to=${candles[2]?.time ?? ''}` })).body);
    expect(ranged.length).toBeLessThanOrEqual(2);
    for (const url of ['/api/v1/markets/1/candles?interval=2m', '/api/v1/markets/1/candles?from=yesterday', '/api/v1/markets/1/candles?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', '/api/v1/markets/1/candles?limit=0']) {
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(400);
    }
  });
});

describe('private routes', () => {
  const user = 2;
  const ownOrders = () => [...sim.orders.values()].filter((o) => o.user === user);

  it('need a valid bearer token', async () => {
    for (const url of ['/api/v1/orders', '/api/v1/portfolio', '/api/v1/trades', `/api/v1/orders/${ownOrders()[0]?.id ?? 'x'}`]) {
      const none = await app.inject({ method: 'GET', url });
      expect(none.statusCode, url).toBe(401);
      expect(none.headers['content-type']).toContain('application/problem+json');
      const bad = await app.inject({ method: 'GET', url, headers: { authorization: 'Bearer nonsense.token.here' } });
      expect(bad.statusCode, url).toBe(401);
    }
  });

  it('lists only the caller’s orders, newest first, filtered and paged', async () => {
    const mine = ownOrders().map((o) => o.id).reverse();
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { statusCode: number; body: string } = await app.inject({ method: 'GET', url: `/api/v1/orders?limit=500${cursor ? `&cursor=${cursor}` : ''}`, headers: auth(user) });
      expect(res.statusCode).toBe(200);
      const page: { items: { orderId: string }[]; nextCursor: string | null } = json<{ items: { orderId: string }[]; nextCursor: string | null }>(res.body);
      seen.push(...page.items.map((o) => o.orderId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(mine);
    const open = json<{ items: { orderId: string; status: string }[] }>((await app.inject({ method: 'GET', url: '/api/v1/orders?status=open&limit=500', headers: auth(user) })).body).items;
    expect(open.map((o) => o.orderId).sort()).toEqual(ownOrders().filter((o) => o.status === 'open' || o.status === 'partially_filled').map((o) => o.id).sort());
    const filled = json<{ items: { status: string; marketId: number }[] }>((await app.inject({ method: 'GET', url: '/api/v1/orders?status=filled&marketId=2&limit=500', headers: auth(user) })).body).items;
    expect(filled.length).toBe(ownOrders().filter((o) => o.status === 'filled' && o.market === 2).length);
    for (const o of filled) expect(o).toMatchObject({ status: 'filled', marketId: 2 });
    const small = json<{ items: unknown[]; nextCursor: string | null }>((await app.inject({ method: 'GET', url: '/api/v1/orders?limit=3', headers: auth(user) })).body);
    expect(small.items).toHaveLength(3);
    expect(small.nextCursor).not.toBeNull();
    for (const url of ['/api/v1/orders?status=weird', '/api/v1/orders?limit=600', '/api/v1/orders?marketId=-1', '/api/v1/orders?userId=3']) {
      expect((await app.inject({ method: 'GET', url, headers: auth(user) })).statusCode, url).toBe(400);
    }
  });

  it('shows one order to its owner and a 404 to anyone else', async () => {
    const o = ownOrders().find((x) => x.status === 'partially_filled' || x.status === 'filled');
    expect(o).toBeDefined();
    const res = await app.inject({ method: 'GET', url: `/api/v1/orders/${o?.id}`, headers: auth(user) });
    expect(res.statusCode).toBe(200);
    const order = json<Record<string, unknown>>(res.body);
    expect(Object.keys(order).sort()).toEqual(
      ['orderId', 'clientOrderId', 'marketId', 'side', 'type', 'timeInForce', 'price', 'quantity', 'filledQuantity', 'averageFillPrice', 'status', 'rejectReason', 'cancelReason', 'amend', 'createdAt', 'updatedAt'].sort(),
    );
    expect(order).toMatchObject({ orderId: o?.id, status: o?.status, side: o?.side });
    expect(typeof order.averageFillPrice).toBe('string');
    expect((await app.inject({ method: 'GET', url: `/api/v1/orders/${o?.id}`, headers: auth(3) })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/api/v1/orders/no-such-order', headers: auth(user) })).statusCode).toBe(404);
  });

  it("carries the outcome of each order's latest amend request: pending, applied, or rejected with risk's reason", async () => {
    // The expected outcome, straight from the log: the latest request of each order, and its answer.
    type Amend = { requestId: string; status: string; rejectReason: string | null; price: string | null; quantity: string | null };
    const expected = new Map<string, Amend>();
    for (const e of sim.events) {
      if (e.type === 'OrderAmendRequested') {
        const d = e.data as { orderId: string; requestId: string; newPrice: string | null; newQuantity: string | null };
        expected.set(d.orderId, { requestId: d.requestId, status: 'pending', rejectReason: null, price: d.newPrice, quantity: d.newQuantity });
      } else if (e.type === 'OrderAmendRejected') {
        const d = e.data as { orderId: string; requestId: string; reason: string };
        const a = expected.get(d.orderId);
        if (a?.requestId === d.requestId) expected.set(d.orderId, { ...a, status: 'rejected', rejectReason: d.reason });
      } else if (e.type === 'OrderAmended') {
        // the simulator's book applies each accepted amend at once, on the terms it asked for
        const d = e.data as { orderId: string; price: string; quantity: string };
        const a = expected.get(d.orderId);
        if (a?.status === 'pending' && a.price === d.price && a.quantity === d.quantity) expected.set(d.orderId, { ...a, status: 'applied' });
      }
    }
    // every trader's orders, so that the history holds each outcome (and orders never amended)
    const items: { orderId: string; userId: number; amend: Amend | null }[] = [];
    for (const userId of [1, 2, 3, 4, 5, 6]) {
      const res = await app.inject({ method: 'GET', url: '/api/v1/orders?status=all&limit=500', headers: auth(userId) });
      expect(res.statusCode).toBe(200);
      const page = json<{ items: { orderId: string; amend: Amend | null }[]; nextCursor: string | null }>(res.body);
      expect(page.nextCursor).toBeNull();
      items.push(...page.items.map((o) => ({ ...o, userId })));
    }
    expect(items.length).toBe(sim.orders.size);
    for (const o of items) expect(o.amend, o.orderId).toEqual(expected.get(o.orderId) ?? null);
    const statuses = new Set(items.map((o) => o.amend?.status ?? 'none'));
    expect([...statuses].sort()).toEqual(['applied', 'none', 'rejected']);
    const rejected = items.find((o) => o.amend?.status === 'rejected');
    expect(rejected?.amend?.rejectReason).toMatch(/^(price_band|insufficient_funds|insufficient_position)$/);
    // the single-order route answers the same
    const one = json<{ amend: Amend | null }>((await app.inject({ method: 'GET', url: `/api/v1/orders/${rejected?.orderId}`, headers: auth(rejected?.userId ?? 0) })).body);
    expect(one.amend).toEqual(rejected?.amend);
  });

  it('answers the portfolio with exact balances and PnL', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/portfolio', headers: auth(user) });
    expect(res.statusCode).toBe(200);
    const p = json<{ userId: number; balances: { asset: string; available: string; reserved: string }[]; positions: { marketId: number; symbol: string; quantity: string; averagePrice: string; realizedPnl: string; unrealizedPnl: string; marketPrice: string }[] }>(res.body);
    expect(p.userId).toBe(user);
    const acct = sim.accounts.get(user);
    expect(p.balances.length).toBe(acct?.size);
    for (const b of p.balances) expect(b).toEqual({ asset: b.asset, available: formatAmount(acct?.get(b.asset)?.available ?? -1n), reserved: formatAmount(acct?.get(b.asset)?.reserved ?? -1n) });
    expect(p.positions.length).toBeGreaterThan(0);
    const rows = await pool.query<{ market_id: number; quantity: string; cost_basis: string }>('select market_id, quantity::text, cost_basis::text from readmodel.positions where user_id = $1', [user]);
    for (const pos of p.positions) {
      const row = rows.rows.find((r) => r.market_id === pos.marketId);
      const q = parseSignedAmount(row?.quantity ?? 'x');
      const cost = parseSignedAmount(row?.cost_basis ?? 'x');
      const mark = parseAmount(pos.marketPrice);
      // q × mark has at most 24 decimals; compare at that scale, exactly
      const expected = q * mark - cost * 10n ** 12n;
      const [int = '0', frac = ''] = pos.unrealizedPnl.replace('-', '').split('.');
      const got = (pos.unrealizedPnl.startsWith('-') ? -1n : 1n) * BigInt(int + frac.padEnd(24, '0'));
      expect(got, `market ${pos.marketId}`).toBe(expected);
      expect(pos.symbol).toBe(sim.marketOf(pos.marketId)?.symbol);
    }
  });

  it('lists the caller’s own fills with fees, paged', async () => {
    const expected = events
      .filter((e) => e.type === 'FillSettled' && (e.data as { userId: number }).userId === user)
      .map((e) => `${(e.data as { tradeId: string }).tradeId}|${(e.data as { liquidity: string }).liquidity}`)
      .sort();
    expect(expected.length).toBeGreaterThan(5);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { statusCode: number; body: string } = await app.inject({ method: 'GET', url: `/api/v1/trades?limit=4${cursor ? `&cursor=${cursor}` : ''}`, headers: auth(user) });
      expect(res.statusCode).toBe(200);
      const page: { items: { tradeId: string; liquidity: string; fee: string; orderId: string }[]; nextCursor: string | null } = json<{ items: { tradeId: string; liquidity: string; fee: string; orderId: string }[]; nextCursor: string | null }>(res.body);
      for (const t of page.items) expect(sim.orders.get(t.orderId)?.user).toBe(user);
      seen.push(...page.items.map((t) => `${t.tradeId}|${t.liquidity}`));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen.sort()).toEqual(expected);
    const m3 = json<{ items: { marketId: number }[] }>((await app.inject({ method: 'GET', url: '/api/v1/trades?marketId=3&limit=500', headers: auth(user) })).body).items;
    for (const t of m3) expect(t.marketId).toBe(3);
    expect((await app.inject({ method: 'GET', url: '/api/v1/trades?cursor=WyIxIl0', headers: auth(user) })).statusCode).toBe(400);
  });
});

describe('read your writes', () => {
  it('waits for X-Min-Position, then answers the newer data', async () => {
    const before = await projector.position();
    const marketId = 3;
    const later = new Promise<bigint>((resolve) => setTimeout(() => void more([{ kind: 'halt', market: marketId - 1, halted: true }]).then(resolve), 100));
    // the waiter in this app gives up after 400 ms: ask for the very next position
    const res = await app.inject({ method: 'GET', url: `/api/v1/markets/${marketId}`, headers: { 'x-min-position': String(before + 1n) } });
    const after = await later;
    expect(res.statusCode).toBe(200);
    expect(json<{ status: string }>(res.body).status).toBe('halted');
    expect(BigInt(res.headers['x-projection-position'] as string)).toBeGreaterThanOrEqual(after);
    expect(res.headers['x-min-position-reached']).toBeUndefined();
  });

  it('answers with the real position when the wait runs out', async () => {
    const started = Date.now();
    const target = (await projector.position()) + 1_000_000n;
    const res = await app.inject({ method: 'GET', url: '/api/v1/markets', headers: { 'x-min-position': String(target) } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-min-position-reached']).toBe('false');
    expect(res.headers['x-projection-position']).toBe(await checkpoint());
    for (const v of ['-1', 'abc', '1.5']) expect((await app.inject({ method: 'GET', url: '/api/v1/markets', headers: { 'x-min-position': v } })).statusCode, v).toBe(400);
  });

  it('invalidates cached market data on projection notifications', async () => {
    const first = json<{ status: string }[]>((await app.inject({ method: 'GET', url: '/api/v1/markets' })).body);
    expect(first[0]?.status).toBe('open');
    const position = await more([{ kind: 'halt', market: 0, halted: true }]);
    const deadline = Date.now() + 3_000;
    while (waiter.current() < position && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const res = await app.inject({ method: 'GET', url: '/api/v1/markets' });
    expect(json<{ status: string }[]>(res.body)[0]?.status).toBe('halted');
    expect(res.headers['x-projection-position']).toBe(position.toString());
    await more([{ kind: 'halt', market: 0, halted: false }, { kind: 'halt', market: 2, halted: false }]);
  });
});

describe('portfolio cache', () => {
  it('is dropped when the user’s rows change or a market they hold trades', async () => {
    const user = 4;
    const get = async () => {
      const res = await app.inject({ method: 'GET', url: '/api/v1/portfolio', headers: auth(user) });
      return { position: BigInt(res.headers['x-projection-position'] as string), body: json<{ balances: { asset: string; available: string }[]; positions: { marketId: number; marketPrice: string }[] }>(res.body) };
    };
    const settle = async (position: bigint) => {
      const deadline = Date.now() + 3_000;
      while (waiter.current() < position && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    };
    const first = await get();
    expect((await get()).position).toBe(first.position); // served again (cached or not, same data)
    const usd = (p: typeof first) => parseAmount(p.body.balances.find((b) => b.asset === 'USD')?.available ?? '0');
    // a deposit to this user
    const afterDeposit = await more([{ kind: 'deposit', user: user - 1, market: 0, base: false, whole: 7 }]);
    await settle(afterDeposit);
    const second = await get();
    expect(usd(second) - usd(first)).toBe(parseAmount('7'));
    expect(second.position).toBe(afterDeposit);
    // someone else trades in a market this user holds: the mark price moves, and so must the answer
    const held = second.body.positions[0]?.marketId ?? 1;
    let traded = 0n;
    for (let i = 0; i < 6 && traded === 0n; i += 1) {
      const [buyer, seller] = i % 2 === 0 ? [0, 5] : [5, 0];
      const before = sim.events.length;
      sim.step({ kind: 'deposit', user: buyer, market: held - 1, base: false, whole: 10_000 });
      sim.step({ kind: 'deposit', user: seller, market: held - 1, base: true, whole: 1_000 });
      sim.step({ kind: 'place', user: buyer, market: held - 1, side: 'buy', type: 'limit', tif: 'GTC', postOnly: false, offsetTicks: 7 + i, lots: 1 });
      sim.step({ kind: 'place', user: seller, market: held - 1, side: 'sell', type: 'market', tif: 'IOC', postOnly: false, offsetTicks: 0, lots: 1 });
      const trade = sim.events.slice(before).find((e) => e.type === 'TradeExecuted' && (e.data as { makerUserId: number; takerUserId: number }).makerUserId !== user && (e.data as { takerUserId: number }).takerUserId !== user);
      if (trade) traded = trade.globalPosition;
    }
    expect(traded).toBeGreaterThan(0n);
    const afterTrade = await more([]);
    await settle(afterTrade);
    const third = await get();
    expect(third.position).toBe(afterTrade);
    const lastPrice = [...sim.events].reverse().find((e) => e.type === 'TradeExecuted' && (e.data as { marketId: number }).marketId === held)?.data as { price: string };
    expect(third.body.positions.find((p) => p.marketId === held)?.marketPrice).toBe(lastPrice.price);
  });
});

describe('GET /api/v1/stream', () => {
  interface Message {
    id: string;
    event: string;
    data: Record<string, unknown>;
  }

  async function listen(): Promise<string> {
    await app.listen({ port: 0, host: '127.0.0.1' });
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  }

  function open(url: string, headers: Record<string, string> = {}) {
    const messages: Message[] = [];
    let raw = '';
    let status = 0;
    let heartbeats = 0;
    const req = http.get(url, { headers }, (res) => {
      status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        raw += chunk;
        let cut: number;
        while ((cut = raw.indexOf('\n\n')) >= 0) {
          const block = raw.slice(0, cut);
          raw = raw.slice(cut + 2);
          if (block.includes(': heartbeat')) heartbeats += 1;
          const fields = Object.fromEntries(block.split('\n').filter((l) => /^(id|event|data): /.test(l)).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
          if (fields.event && fields.data && fields.id) messages.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data) as Record<string, unknown> });
        }
      });
    });
    req.on('error', () => undefined);
    return { messages, status: () => status, heartbeats: () => heartbeats, close: () => req.destroy() };
  }

  const until = async (cond: () => boolean, ms = 5_000) => {
    const deadline = Date.now() + ms;
    while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return cond();
  };

  it('pushes book and trade to everyone, order and portfolio to the owner only, with resumable ids', async () => {
    const base = await listen();
    const user = 3;
    const token = tokens.issue({ userId: user, username: `user${user}`, roles: ['trader'] }).token;
    const mine = open(`${base}/api/v1/stream?access_token=${token}`);
    const other = open(`${base}/api/v1/stream`, auth(4));
    const anon = open(`${base}/api/v1/stream?marketId=1`);
    expect(await until(() => mine.messages.some((m) => m.event === 'portfolio') && anon.messages.some((m) => m.event === 'book'))).toBe(true);
    expect(mine.status()).toBe(200);
    expect(anon.messages.every((m) => m.event === 'book' && m.data.marketId === 1)).toBe(true);
    const mark = mine.messages[mine.messages.length - 1]?.id ?? '0';

    // someone sells into the bids of market 1 (a trade for everyone); user 3 places an order (theirs only)
    for (let i = 0; i < 6 && !sim.events.slice(applied).some((e) => e.type === 'TradeExecuted'); i += 1) {
      const [buyer, seller] = i % 2 === 0 ? [4, 5] : [5, 4]; // users 5 and 6
      sim.step({ kind: 'deposit', user: buyer, market: 0, base: false, whole: 1_000 });
      sim.step({ kind: 'deposit', user: seller, market: 0, base: true, whole: 1_000 });
      sim.step({ kind: 'place', user: buyer, market: 0, side: 'buy', type: 'limit', tif: 'GTC', postOnly: false, offsetTicks: 5 * i, lots: 3 });
      sim.step({ kind: 'place', user: seller, market: 0, side: 'sell', type: 'market', tif: 'IOC', postOnly: false, offsetTicks: 0, lots: 3 });
    }
    sim.step({ kind: 'place', user: user - 1, market: 0, side: 'buy', type: 'limit', tif: 'GTC', postOnly: false, offsetTicks: -300, lots: 2 });
    const position = await more([]);
    const tradeIds = sim.events.filter((e) => e.globalPosition > BigInt(mark) && e.type === 'TradeExecuted').map((e) => (e.data as { tradeId: string }).tradeId);
    expect(tradeIds.length).toBeGreaterThan(0);
    expect(await until(() => tradeIds.every((t) => mine.messages.some((m) => m.event === 'trade' && m.data.tradeId === t)))).toBe(true);
    expect(await until(() => mine.messages.some((m) => m.event === 'order' && BigInt(m.id) > BigInt(mark)))).toBe(true);
    expect(await until(() => anon.messages.some((m) => m.event === 'trade'))).toBe(true);
    expect(await until(() => other.messages.some((m) => m.event === 'trade'))).toBe(true);
    expect(other.messages.filter((m) => m.event === 'order' || m.event === 'portfolio').every((m) => (m.data.userId ?? 4) === 4)).toBe(true);
    expect(other.messages.some((m) => m.event === 'order' && sim.orders.get(m.data.orderId as string)?.user !== 4)).toBe(false);
    expect(anon.messages.some((m) => m.event === 'order' || m.event === 'portfolio')).toBe(false);
    const ids = mine.messages.map((m) => BigInt(m.id));
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(ids[ids.length - 1]).toBeLessThanOrEqual(position);
    expect(await until(() => mine.heartbeats() > 0)).toBe(true);
    mine.close();

    // reconnect with Last-Event-ID: the trades after it are replayed, none before it
    const resumed = open(`${base}/api/v1/stream?access_token=${token}`, { 'last-event-id': mark });
    expect(await until(() => tradeIds.every((t) => resumed.messages.some((m) => m.event === 'trade' && m.data.tradeId === t)))).toBe(true);
    expect(resumed.messages.filter((m) => m.event === 'trade').every((m) => BigInt(m.id) > BigInt(mark))).toBe(true);
    resumed.close();
    other.close();
    anon.close();

    const denied = open(`${base}/api/v1/stream?access_token=bad`);
    expect(await until(() => denied.status() === 401)).toBe(true);
    denied.close();
    const unknown = open(`${base}/api/v1/stream?foo=1`);
    expect(await until(() => unknown.status() === 400)).toBe(true);
    unknown.close();
  });
});

describe('operations', () => {
  it('answers health, readiness and metrics; unknown routes are problem 404s', async () => {
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    const ready = await app.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode).toBe(200);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain('http_request_duration_seconds');
    const none = await app.inject({ method: 'GET', url: '/api/v1/nothing' });
    expect(none.statusCode).toBe(404);
    expect(none.headers['content-type']).toContain('application/problem+json');
  });
});
