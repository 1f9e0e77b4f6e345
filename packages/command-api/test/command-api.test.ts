import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import jwt from 'jsonwebtoken';
import type { InjectOptions } from 'fastify';
import { JWT_SECRET, startHarness, type Harness } from './harness.ts';

let h: Harness;
let trader: { userId: number; token: string };
let other: { userId: number; token: string };
let marketId: number;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  h = await startHarness();
  trader = await h.register('alice');
  other = await h.register('bob');
  const r = await h.app.inject({
    method: 'POST',
    url: '/api/v1/admin/markets',
    headers: bearer(h.adminToken),
    payload: { symbol: 'BTC-USD', baseAsset: 'BTC', quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.001', referencePrice: '50000' },
  });
  expect(r.statusCode).toBe(201);
  marketId = (r.json() as { marketId: number }).marketId;
});
afterAll(async () => h?.close());

function expectProblem(res: { statusCode: number; headers: Record<string, unknown>; json(): unknown }, status: number) {
  expect(res.statusCode).toBe(status);
  expect(String(res.headers['content-type'])).toContain('application/problem+json');
  const body = res.json() as { type: string; title: string; status: number; detail: string };
  expect(body.status).toBe(status);
  expect(body.type).toMatch(/^https:\/\//);
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+|stack|select |insert /i);
  return body as { errors?: { path: string; message: string }[] };
}

/** Runs a bad request and proves it answered `status` and appended nothing. */
async function rejects(req: InjectOptions, status: number) {
  const before = await h.head();
  const res = await h.app.inject(req);
  const body = expectProblem(res, status);
  expect(await h.head()).toBe(before);
  return body;
}

const order = (over: Record<string, unknown> = {}) => ({ marketId, side: 'sell', type: 'limit', quantity: '0.5', price: '50000.00', ...over });

describe('auth', () => {
  it('registers, refuses a taken name with 409 and bad names with 400', async () => {
    await rejects({ method: 'POST', url: '/api/v1/auth/register', payload: { username: 'alice', password: 'password-123' } }, 409);
    await rejects({ method: 'POST', url: '/api/v1/auth/register', payload: { username: 'a', password: 'password-123' } }, 400);
    await rejects({ method: 'POST', url: '/api/v1/auth/register', payload: { username: 'carol', password: 'short' } }, 400);
    await rejects({ method: 'POST', url: '/api/v1/auth/register', payload: { username: 'carol', password: 'password-123', admin: true } }, 400);
  });

  it('answers login failures the same for an unknown user and a wrong password', async () => {
    const a = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'nobody', password: 'password-123' } });
    const b = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'alice', password: 'wrong-password' } });
    expect(a.statusCode).toBe(401);
    expect(b.statusCode).toBe(401);
    expect(a.json()).toEqual(b.json());
  });

  it('logs in with a bearer token carrying the roles', async () => {
    const r = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'alice', password: 'password-123' } });
    expect(r.statusCode).toBe(200);
    const body = r.json() as { token: string; tokenType: string; expiresAt: string; user: { userId: number; username: string; roles: string[] } };
    expect(body.tokenType).toBe('Bearer');
    expect(body.user).toEqual({ userId: trader.userId, username: 'alice', roles: ['trader'] });
    expect(body.expiresAt).toBe('2026-11-26T13:00:00.000Z');
    const claims = jwt.decode(body.token) as Record<string, unknown>;
    expect(claims).toMatchObject({ iss: 'tradecore', aud: 'tradecore-api', sub: String(trader.userId) });
    expect(typeof claims.exp).toBe('number');
  });
});

describe('token checks on POST /orders', () => {
  it('refuses no token, an expired token, alg none and a wrong signature, appending nothing', async () => {
    await rejects({ method: 'POST', url: '/api/v1/orders', payload: order() }, 401);
    const now = Math.floor(new Date('2026-11-26T12:00:00.000Z').getTime() / 1000);
    const expired = jwt.sign({ name: 'alice', roles: ['trader'], iat: now - 7200, exp: now - 3600 }, JWT_SECRET, { algorithm: 'HS256', issuer: 'tradecore', audience: 'tradecore-api', subject: String(trader.userId) });
    await rejects({ method: 'POST', url: '/api/v1/orders', headers: bearer(expired), payload: order() }, 401);
    const none = jwt.sign({ name: 'alice', roles: ['trader', 'admin'], exp: now + 3600 }, '', { algorithm: 'none', issuer: 'tradecore', audience: 'tradecore-api', subject: String(trader.userId) });
    await rejects({ method: 'POST', url: '/api/v1/orders', headers: bearer(none), payload: order() }, 401);
    const forged = jwt.sign({ name: 'alice', roles: ['trader'], exp: now + 3600 }, 'another-secret-that-is-long-enough-to-sign', { algorithm: 'HS256', issuer: 'tradecore', audience: 'tradecore-api', subject: String(trader.userId) });
    await rejects({ method: 'POST', url: '/api/v1/orders', headers: bearer(forged), payload: order() }, 401);
    const wrongAudience = jwt.sign({ name: 'alice', roles: ['trader'], exp: now + 3600 }, JWT_SECRET, { algorithm: 'HS256', issuer: 'tradecore', audience: 'elsewhere', subject: String(trader.userId) });
    await rejects({ method: 'POST', url: '/api/v1/orders', headers: bearer(wrongAudience), payload: order() }, 401);
  });
});

describe('POST /orders', () => {
  it('accepts a valid order with 202, its position in the body and X-Event-Position', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/api/v1/orders', headers: bearer(trader.token), payload: order({ clientOrderId: 'a-1' }) });
    expect(res.statusCode).toBe(202);
    const body = res.json() as { orderId: string; clientOrderId: string; status: string; position: number };
    expect(body.status).toBe('pending');
    expect(body.clientOrderId).toBe('a-1');
    expect(res.headers['x-event-position']).toBe(String(body.position));
    expect(await h.head()).toMatch(new RegExp(`@${body.position}$`));
    const [placed] = await h.store.readStream(`order-${body.orderId}`);
    expect(placed?.type).toBe('OrderPlaced');
    expect(placed?.metadata.userId).toBe(trader.userId);
    expect(placed?.metadata.correlationId).toBe(res.headers['x-request-id']);
  });

  it('carries X-Request-Id into the event metadata as the correlation id', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/api/v1/orders', headers: { ...bearer(trader.token), 'x-request-id': 'req-abc-123' }, payload: order() });
    expect(res.statusCode).toBe(202);
    const [placed] = await h.store.readStream(`order-${(res.json() as { orderId: string }).orderId}`);
    expect(placed?.metadata.correlationId).toBe('req-abc-123');
  });

  it.each([
    ['zero quantity', { quantity: '0' }, 'quantity'],
    ['negative quantity', { quantity: '-1' }, 'quantity'],
    ['over-precise quantity', { quantity: '0.0005' }, 'quantity'],
    ['exponent quantity', { quantity: '1e3' }, 'quantity'],
    ['number quantity', { quantity: 1 }, 'quantity'],
    ['off-tick price', { price: '50000.005' }, 'price'],
    ['limit without price', { price: undefined }, 'price'],
    ['market with price', { type: 'market' }, 'price'],
    ['unknown market', { marketId: 999 }, 'marketId'],
    ['unknown field', { leverage: 100 }, 'leverage'],
    ['bad side', { side: 'short' }, 'side'],
    ['too long clientOrderId', { clientOrderId: 'x'.repeat(65) }, 'clientOrderId'],
  ])('refuses %s with a 400 naming the field', async (_name, over, field) => {
    const body = await rejects({ method: 'POST', url: '/api/v1/orders', headers: bearer(trader.token), payload: order(over) }, 400);
    expect(body.errors?.some((e) => e.path.includes(field) || e.message.includes(field))).toBe(true);
  });

  it('refuses a 1 MiB body with 413', async () => {
    await rejects({ method: 'POST', url: '/api/v1/orders', headers: { ...bearer(trader.token), 'content-type': 'application/json' }, payload: JSON.stringify({ ...order(), pad: 'x'.repeat(1024 * 1024) }) }, 413);
  });

  it('refuses malformed JSON with 400', async () => {
    await rejects({ method: 'POST', url: '/api/v1/orders', headers: { ...bearer(trader.token), 'content-type': 'application/json' }, payload: '{"marketId": 1,' }, 400);
  });

  it('answers a retry with the same Idempotency-Key and body with the same order, placing nothing new', async () => {
    const req = { method: 'POST' as const, url: '/api/v1/orders', headers: { ...bearer(trader.token), 'idempotency-key': 'key-1' }, payload: order() };
    const first = await h.app.inject(req);
    expect(first.statusCode).toBe(202);
    const head = await h.head();
    const again = await h.app.inject(req);
    expect(again.statusCode).toBe(202);
    expect(again.json()).toEqual(first.json());
    expect(await h.head()).toBe(head);
    await rejects({ ...req, payload: order({ quantity: '0.7' }) }, 409);
  });

  it('treats clientOrderId as the idempotency key when no header is given', async () => {
    const req = { method: 'POST' as const, url: '/api/v1/orders', headers: bearer(trader.token), payload: order({ clientOrderId: 'cid-7' }) };
    const first = await h.app.inject(req);
    const again = await h.app.inject(req);
    expect((again.json() as { orderId: string }).orderId).toBe((first.json() as { orderId: string }).orderId);
    await rejects({ ...req, payload: order({ clientOrderId: 'cid-7', price: '50001.00' }) }, 409);
    // Another user's identical clientOrderId is their own order.
    const theirs = await h.app.inject({ ...req, headers: bearer(other.token) });
    expect((theirs.json() as { orderId: string }).orderId).not.toBe((first.json() as { orderId: string }).orderId);
  });
});

describe('PATCH and DELETE /orders/:orderId', () => {
  it('amends and cancels own orders, 404s for another user or an unknown order', async () => {
    const placed = await h.app.inject({ method: 'POST', url: '/api/v1/orders', headers: bearer(trader.token), payload: order() });
    const { orderId } = placed.json() as { orderId: string };
    await rejects({ method: 'PATCH', url: `/api/v1/orders/${orderId}`, headers: bearer(other.token), payload: { price: '49999.00' } }, 404);
    await rejects({ method: 'DELETE', url: `/api/v1/orders/${orderId}`, headers: bearer(other.token) }, 404);
    await rejects({ method: 'DELETE', url: '/api/v1/orders/nope', headers: bearer(trader.token) }, 404);
    await rejects({ method: 'PATCH', url: `/api/v1/orders/${orderId}`, headers: bearer(trader.token), payload: {} }, 400);
    await rejects({ method: 'PATCH', url: `/api/v1/orders/${orderId}`, headers: bearer(trader.token), payload: { price: '1.001' } }, 400);
    const amend = await h.app.inject({ method: 'PATCH', url: `/api/v1/orders/${orderId}`, headers: bearer(trader.token), payload: { price: '49999.00' } });
    expect(amend.statusCode).toBe(202);
    expect(amend.headers['x-event-position']).toBe(String((amend.json() as { position: number }).position));
    const cancel = await h.app.inject({ method: 'DELETE', url: `/api/v1/orders/${orderId}`, headers: bearer(trader.token) });
    expect(cancel.statusCode).toBe(202);
    const types = (await h.store.readStream(`order-${orderId}`)).map((e) => e.type);
    expect(types).toEqual(['OrderPlaced', 'OrderAmendRequested', 'OrderCancelRequested']);
  });

  it('answers 409 for an order the read side already knows is final', async () => {
    const placed = await h.app.inject({ method: 'POST', url: '/api/v1/orders', headers: bearer(trader.token), payload: order() });
    const { orderId } = placed.json() as { orderId: string };
    h.statuses.set(orderId, 'filled');
    // Another user learns nothing of it, its status included: 404, as for an unknown order.
    await rejects({ method: 'DELETE', url: `/api/v1/orders/${orderId}`, headers: bearer(other.token) }, 404);
    await rejects({ method: 'DELETE', url: `/api/v1/orders/${orderId}`, headers: bearer(trader.token) }, 409);
    await rejects({ method: 'PATCH', url: `/api/v1/orders/${orderId}`, headers: bearer(trader.token), payload: { price: '49000.00' } }, 409);
  });
});

describe('admin routes', () => {
  it('refuses traders with 403 and anonymous callers with 401, appending nothing', async () => {
    const market = { symbol: 'ETH-USD', baseAsset: 'ETH', quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.01' };
    await rejects({ method: 'POST', url: '/api/v1/admin/markets', headers: bearer(trader.token), payload: market }, 403);
    await rejects({ method: 'POST', url: '/api/v1/admin/markets', payload: market }, 401);
    await rejects({ method: 'POST', url: '/api/v1/admin/deposits', headers: bearer(trader.token), payload: { userId: trader.userId, asset: 'USD', amount: '100' } }, 403);
    await rejects({ method: 'POST', url: '/api/v1/admin/kill-switch', headers: bearer(trader.token), payload: { scope: 'global', engaged: true, reason: 'x' } }, 403);
  });

  it('lists markets with sequential ids and refuses a duplicate symbol or bad sizes', async () => {
    const r = await h.app.inject({ method: 'POST', url: '/api/v1/admin/markets', headers: bearer(h.adminToken), payload: { symbol: 'ETH-USD', baseAsset: 'ETH', quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.01' } });
    expect(r.statusCode).toBe(201);
    expect((r.json() as { marketId: number }).marketId).toBe(marketId + 1);
    await rejects({ method: 'POST', url: '/api/v1/admin/markets', headers: bearer(h.adminToken), payload: { symbol: 'ETH-USD', baseAsset: 'ETH', quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.01' } }, 409);
    await rejects({ method: 'POST', url: '/api/v1/admin/markets', headers: bearer(h.adminToken), payload: { symbol: 'SOL-USD', baseAsset: 'SOL', quoteAsset: 'USD', tickSize: '0', lotSize: '0.01' } }, 400);
    await rejects({ method: 'POST', url: '/api/v1/admin/markets', headers: bearer(h.adminToken), payload: { symbol: 'SOL-USD', baseAsset: 'SOL', quoteAsset: 'USD', tickSize: '0.0000001', lotSize: '0.0000001' } }, 400);
  });

  it('deposits to a known user and refuses unknown users and bad amounts', async () => {
    const r = await h.app.inject({ method: 'POST', url: '/api/v1/admin/deposits', headers: bearer(h.adminToken), payload: { userId: trader.userId, asset: 'USD', amount: '100000' } });
    expect(r.statusCode).toBe(202);
    const events = await h.store.readStream(`account-${trader.userId}`);
    expect(events.map((e) => e.type)).toEqual(['FundsDeposited']);
    await rejects({ method: 'POST', url: '/api/v1/admin/deposits', headers: bearer(h.adminToken), payload: { userId: 9999, asset: 'USD', amount: '1' } }, 400);
    await rejects({ method: 'POST', url: '/api/v1/admin/deposits', headers: bearer(h.adminToken), payload: { userId: trader.userId, asset: 'USD', amount: '-5' } }, 400);
    await rejects({ method: 'POST', url: '/api/v1/admin/deposits', headers: bearer(h.adminToken), payload: { userId: trader.userId, asset: 'USD', amount: '0' } }, 400);
  });

  it('engages a kill switch as a control event', async () => {
    const r = await h.app.inject({ method: 'POST', url: '/api/v1/admin/kill-switch', headers: bearer(h.adminToken), payload: { scope: 'market', marketId, engaged: true, reason: 'drill' } });
    expect(r.statusCode).toBe(202);
    const [e] = await h.store.readStream('control');
    expect(e?.type).toBe('KillSwitchEngaged');
    await rejects({ method: 'POST', url: '/api/v1/admin/kill-switch', headers: bearer(h.adminToken), payload: { scope: 'market', engaged: true, reason: 'no market id' } }, 400);
  });
});

describe('operations and documentation', () => {
  it('serves health, metrics and an OpenAPI document generated from the schemas', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain('http_request_duration_seconds');
    const doc = (await h.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json() as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/orders', '/api/v1/orders/{orderId}', '/api/v1/auth/login', '/api/v1/admin/markets']));
    const ui = await h.app.inject({ method: 'GET', url: '/api/v1/docs/' });
    expect(ui.statusCode).toBe(200);
  });

  it('sets security headers and answers unknown routes with a problem document', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/health' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toBeDefined();
    expectProblem(await h.app.inject({ method: 'GET', url: '/api/v1/nothing-here' }), 404);
  });
});

describe('rate limits', () => {
  it('answers a burst of 1,000 requests with 429 and Retry-After past the per-user limit, appending only what was allowed', async () => {
    const limited = await startHarness({ rateLimitPerSecond: 50 });
    try {
      const user = await limited.register('burst');
      const before = await limited.head();
      const responses = await Promise.all(
        Array.from({ length: 1000 }, () => limited.app.inject({ method: 'DELETE', url: '/api/v1/orders/none', headers: bearer(user.token) })),
      );
      const tooMany = responses.filter((r) => r.statusCode === 429);
      expect(tooMany.length).toBeGreaterThanOrEqual(900);
      expect(tooMany[0]?.headers['retry-after']).toBeDefined();
      expectProblem(tooMany[0]!, 429);
      expect(await limited.head()).toBe(before);
    } finally {
      await limited.close();
    }
  });
});
