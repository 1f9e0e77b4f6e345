/**
 * Every GET of the HTTP contract, over the read models only, as an encapsulated fastify plugin
 * (the single-node server mounts it beside command-api on one origin).
 *
 * - `X-Projection-Position` on every answer: the checkpoint the data was read at (same SQL
 *   statement), or the cached entry's position.
 * - `X-Min-Position: n`: waits (≤ `maxWaitMs`, default 5 s) until the read models reach n, then
 *   answers. If they do not reach it in time the answer is still a 200 with the data as it is,
 *   its real (lower) `X-Projection-Position`, and `X-Min-Position-Reached: false`, so the client
 *   can tell and retry; a 5xx would turn a slow projection into an outage of every read.
 * - Private routes need a bearer token; they only ever read the caller's rows (another user's
 *   order is a 404, exactly like an unknown one).
 * - Lists page by opaque cursors (`limit` default 50, max 500; `nextCursor` null at the end).
 * - Unknown query parameters are a 400 problem (strict schemas).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type pg from 'pg';
import { z } from 'zod';
import { createHash } from 'node:crypto';
import { authenticate, problemErrorHandler, problems, type Clock, type Principal, type TokenService } from '@tradecore/http-kit';
import type { ReadModelNotification } from '@tradecore/projections';
import { memoryCache, redisCache, type Cache, type CacheEntry } from './cache.ts';
import { orderJson, queries, type OrderDbRow } from './sql.ts';
import { registerStream } from './sse.ts';
import type { PositionWaiter } from './waiter.ts';

export interface QueryApiDeps {
  pool: pg.Pool;
  /** Read-model schema (default `readmodel`). */
  schema?: string;
  tokens: TokenService;
  clock: Clock;
  /** A Redis URL, a Cache, or 'memory'. Default: REDIS_URL when set, else an in-process cache. */
  cache?: string | Cache;
  /** The LISTEN-based waiter of this schema (createPositionWaiter). */
  positions: PositionWaiter;
  /** Longest X-Min-Position wait (default 5000 ms). */
  maxWaitMs?: number;
  /** SSE heartbeat period (default 15 s). */
  heartbeatMs?: number;
}

export const MAX_LIMIT = 500;
export const DEFAULT_LIMIT = 50;

// ---- input schemas (strict: an unknown query parameter is a 400) ----

const Id = z.string().regex(/^[1-9]\d{0,9}$/, 'must be a positive integer').transform(Number).pipe(z.number().int().max(2_147_483_647));
const Limit = z.string().regex(/^\d{1,4}$/, 'must be an integer from 1 to 500').transform(Number).pipe(z.number().int().min(1).max(MAX_LIMIT)).optional();
const Cursor = z.string().min(1).max(200).optional();
const MarketParams = z.object({ marketId: Id }).strict();
const PublicTradesQuery = z.object({ limit: Limit, cursor: Cursor }).strict();
const BookQuery = z.object({ depth: z.string().regex(/^\d{1,4}$/, 'must be an integer from 1 to 1000').transform(Number).pipe(z.number().int().min(1).max(1000)).optional() }).strict();
const CandlesQuery = z
  .object({
    interval: z.enum(['1m', '5m', '1h', '1d']).optional(),
    from: z.string().datetime({ offset: true }).optional(),
    to: z.string().datetime({ offset: true }).optional(),
    limit: z.string().regex(/^\d{1,4}$/, 'must be an integer from 1 to 5000').transform(Number).pipe(z.number().int().min(1).max(5000)).optional(),
  })
  .strict();
const OrdersQuery = z
  .object({
    status: z.enum(['open', 'all', 'filled', 'cancelled', 'rejected', 'expired']).optional(),
    marketId: Id.optional(),
    limit: Limit,
    cursor: Cursor,
  })
  .strict();
const OrderParams = z.object({ orderId: z.string().min(1).max(64) }).strict();
const FillsQuery = z.object({ marketId: Id.optional(), limit: Limit, cursor: Cursor }).strict();
const EmptyQuery = z.object({}).strict();

const STATUS_FILTER: Record<string, string[] | null> = {
  all: null,
  open: ['pending', 'open', 'partially_filled'],
  filled: ['filled'],
  cancelled: ['cancelled'],
  rejected: ['rejected'],
  expired: ['expired'],
};

// ---- cursors: opaque to clients ----

export function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

function decodeCursor(cursor: string | undefined, shape: ('int' | 'text')[]): (string | null)[] {
  if (cursor === undefined) return shape.map(() => null);
  try {
    const parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(parts) && parts.length === shape.length && parts.every((p, i) => typeof p === 'string' && (shape[i] === 'text' ? p.length <= 64 : /^\d{1,20}$/.test(p)))) return parts as string[];
  } catch {
    // fall through
  }
  throw problems.validation('the cursor is invalid', [{ path: 'querystring.cursor', message: 'not a cursor this API issued' }]);
}

/** `exp` (seconds) of a JWT that has already been verified, or null. */
function tokenExpiry(header: string): number | null {
  const payload = header.split('.')[1];
  if (!payload) return null;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : null;
  } catch {
    return null;
  }
}

// ---- the plugin ----

declare module 'fastify' {
  interface FastifyRequest {
    /** X-Min-Position of the request, when given. */
    minPosition?: bigint;
  }
}

function positionHeader(reply: FastifyReply, position: string): void {
  void reply.header('x-projection-position', position);
}

export async function queryRoutes(app: FastifyInstance, deps: QueryApiDeps): Promise<void> {
  const schema = deps.schema ?? 'readmodel';
  const q = queries(schema);
  const maxWait = deps.maxWaitMs ?? 5_000;
  const cache: Cache = typeof deps.cache === 'object' ? deps.cache : deps.cache && deps.cache !== 'memory' ? redisCache(deps.cache) : process.env.REDIS_URL && deps.cache !== 'memory' ? redisCache(process.env.REDIS_URL) : memoryCache();
  if (typeof deps.cache !== 'object') app.addHook('onClose', async () => cache.close());

  // What changed when, as told by the projection: cached entries older than that are not served.
  const lastChange = new Map<number, bigint>();
  const lastUserChange = new Map<number, bigint>();
  let lastAll = 0n;
  let lastAny = 0n;
  // Portfolios, in process only (private data stays out of the shared cache): valid while neither
  // the user's rows nor the prices of the markets its positions are in have changed.
  const portfolios = new Map<number, { position: bigint; body: string; markets: number[] }>();
  const unsubscribe = deps.positions.subscribe((n: ReadModelNotification) => {
    const p = BigInt(n.position);
    if (p > lastAny) lastAny = p;
    for (const u of n.users) {
      lastUserChange.set(u, p);
      portfolios.delete(u);
    }
    if (n.overflow) {
      lastAll = p;
      portfolios.clear();
      void cache.drop(['markets', ...[...lastChange.keys()].map((m) => `m:${m}`)]);
      return;
    }
    if (n.markets.length === 0) return;
    for (const m of n.markets) lastChange.set(m, p);
    void cache.drop(['markets', ...n.markets.map((m) => `m:${m}`)]);
  });
  app.addHook('onClose', async () => unsubscribe());

  const freshEnough = (entry: CacheEntry, request: FastifyRequest, marketId: number | null): boolean => {
    const p = BigInt(entry.position);
    const floor = marketId === null ? lastAny : (lastChange.get(marketId) ?? 0n) > lastAll ? (lastChange.get(marketId) ?? 0n) : lastAll;
    return p >= floor && (request.minPosition === undefined || p >= request.minPosition);
  };

  /** Public market data through the cache: `load` returns the body and its position. */
  const cached = async (request: FastifyRequest, reply: FastifyReply, group: string, field: string, marketId: number | null, ttlMs: number, load: () => Promise<{ position: string; body: string | null }>) => {
    const hit = await cache.get(group, field);
    if (hit && freshEnough(hit, request, marketId)) {
      positionHeader(reply, hit.position);
      return reply.type('application/json; charset=utf-8').send(hit.body);
    }
    const fresh = await load();
    positionHeader(reply, fresh.position);
    if (fresh.body === null) throw problems.notFound(marketId === null ? 'not found' : `market ${marketId} does not exist`);
    const entry = { position: fresh.position, body: fresh.body };
    if (freshEnough(entry, request, marketId)) void cache.set(group, field, entry, ttlMs);
    return reply.type('application/json; charset=utf-8').send(fresh.body);
  };

  // Reads by key with no optional filter run as named prepared statements, so PostgreSQL parses and
  // plans them once per connection instead of on every request (GET /orders/:id is what clients
  // poll while waiting for an order). Statements with optional filters (`$2 is null or ...`) stay
  // unnamed: a custom plan per request can use the index the given filters allow. A rebuild's swap
  // renames schemas, after which PostgreSQL re-plans prepared statements by name again.
  const preparedNames = new Map<string, string>([[q.order, `tc_q_${createHash('sha256').update(q.order).digest('hex').slice(0, 24)}`]]);
  const prepared = (text: string, values: unknown[]): pg.QueryConfig => {
    const name = preparedNames.get(text);
    return name === undefined ? { text, values } : { name, text, values };
  };
  const one = async <R extends pg.QueryResultRow>(sql: string, values: unknown[]): Promise<R> => {
    const r = await deps.pool.query<R>(prepared(sql, values));
    const row = r.rows[0];
    if (!row) throw problems.unavailable('the read models are not initialised');
    return row;
  };
  const many = async <R extends pg.QueryResultRow>(sql: string, values: unknown[], present: keyof R): Promise<{ position: string; rows: R[] }> => {
    const r = await deps.pool.query<R & { __position: string }>(prepared(sql, values));
    const position = r.rows[0]?.__position;
    if (position === undefined) throw problems.unavailable('the read models are not initialised');
    return { position, rows: r.rows.filter((row) => row[present] !== null) };
  };
  // Verified tokens, remembered until they expire: HS256 verification through jsonwebtoken costs
  // milliseconds on small machines, and a read-heavy client sends the same token many times.
  const verified = new Map<string, { principal: Principal; expMs: number }>();
  const principal = (request: FastifyRequest): Principal => {
    const header = request.headers.authorization;
    const known = header ? verified.get(header) : undefined;
    if (known && known.expMs > deps.clock.now().getTime()) return known.principal;
    const p = authenticate(deps.tokens, request);
    const exp = tokenExpiry(header ?? '');
    if (header && exp !== null) {
      if (verified.size >= 10_000) verified.clear();
      verified.set(header, { principal: p, expMs: exp * 1000 });
    }
    return p;
  };

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(problemErrorHandler);

  // X-Min-Position: parse, then wait (bounded) before the handler reads.
  app.addHook('preHandler', async (request, reply) => {
    const raw = request.headers['x-min-position'];
    if (raw === undefined) return;
    if (typeof raw !== 'string' || !/^\d{1,20}$/.test(raw)) throw problems.validation('X-Min-Position must be a non-negative integer', [{ path: 'headers.x-min-position', message: 'must be a non-negative integer' }]);
    const min = BigInt(raw);
    request.minPosition = min;
    const reached = await deps.positions.waitFor(min, maxWait);
    if (reached < min) void reply.header('x-min-position-reached', 'false');
  });
  // Every answer carries a position, errors included.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (!reply.hasHeader('x-projection-position')) positionHeader(reply, deps.positions.current().toString());
    return payload;
  });

  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get('/api/v1/markets', { schema: { querystring: EmptyQuery } }, async (request, reply) =>
    cached(request, reply, 'markets', 'list', null, 1_000, async () => {
      const row = await one<{ __position: string; body: string }>(q.markets, [deps.clock.now().toISOString()]);
      return { position: row.__position, body: row.body };
    }),
  );

  r.get('/api/v1/markets/:marketId', { schema: { params: MarketParams, querystring: EmptyQuery } }, async (request, reply) => {
    const { marketId } = request.params;
    return cached(request, reply, `m:${marketId}`, 'market', marketId, 1_000, async () => {
      const row = await one<{ __position: string; body: string | null }>(q.market, [deps.clock.now().toISOString(), marketId]);
      return { position: row.__position, body: row.body };
    });
  });

  r.get('/api/v1/markets/:marketId/book', { schema: { params: MarketParams, querystring: BookQuery } }, async (request, reply) => {
    const { marketId } = request.params;
    const depth = request.query.depth ?? 20;
    return cached(request, reply, `m:${marketId}`, `book:${depth}`, marketId, 30_000, async () => {
      const row = await one<{ __position: string; body: string | null }>(q.book, [marketId, depth]);
      return { position: row.__position, body: row.body };
    });
  });

  r.get('/api/v1/markets/:marketId/trades', { schema: { params: MarketParams, querystring: PublicTradesQuery } }, async (request, reply) => {
    const { marketId } = request.params;
    const limit = request.query.limit ?? DEFAULT_LIMIT;
    const [after] = decodeCursor(request.query.cursor, ['int']);
    return cached(request, reply, `m:${marketId}`, `trades:${limit}:${after ?? ''}`, marketId, 30_000, async () => {
      const exists = await deps.pool.query(q.marketExists, [marketId]);
      const { position, rows } = await many<{ trade_id: string; price: string; quantity: string; taker_side: string; trade_time: string; position: string }>(q.tape, [marketId, limit + 1, after], 'trade_id');
      if (exists.rowCount === 0) return { position, body: null };
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        position,
        body: JSON.stringify({
          items: page.map((t) => ({ tradeId: t.trade_id, price: t.price, quantity: t.quantity, takerSide: t.taker_side, tradeTime: t.trade_time })),
          nextCursor: rows.length > limit && last ? encodeCursor([last.position]) : null,
        }),
      };
    });
  });

  r.get('/api/v1/markets/:marketId/candles', { schema: { params: MarketParams, querystring: CandlesQuery } }, async (request, reply) => {
    const { marketId } = request.params;
    const { interval = '1m', from, to, limit = 500 } = request.query;
    const toIso = to ? new Date(to).toISOString() : deps.clock.now().toISOString();
    const fromIso = from ? new Date(from).toISOString() : null;
    if (fromIso && fromIso > toIso) throw problems.validation('from must not be after to', [{ path: 'querystring.from', message: 'must not be after to' }]);
    return cached(request, reply, `m:${marketId}`, `candles:${interval}:${fromIso ?? ''}:${to ? toIso : 'now'}:${limit}`, marketId, to ? 30_000 : 1_000, async () => {
      const exists = await deps.pool.query(q.marketExists, [marketId]);
      const { position, rows } = await many<{ time: string; open: string; high: string; low: string; close: string; volume: string; quote_volume: string; trade_count: number }>(
        q.candles,
        [marketId, interval, fromIso, toIso, limit],
        'time',
      );
      if (exists.rowCount === 0) return { position, body: null };
      return {
        position,
        body: JSON.stringify(rows.reverse().map((c) => ({ time: c.time, open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume, quoteVolume: c.quote_volume, tradeCount: c.trade_count }))),
      };
    });
  });

  r.get('/api/v1/orders', { schema: { querystring: OrdersQuery } }, async (request, reply) => {
    const me = principal(request);
    const limit = request.query.limit ?? DEFAULT_LIMIT;
    const [after] = decodeCursor(request.query.cursor, ['int']);
    const statuses = STATUS_FILTER[request.query.status ?? 'all'] ?? null;
    const { position, rows } = await many<OrderDbRow>(q.orders, [me.userId, request.query.marketId ?? null, statuses, after, limit + 1], 'order_id');
    positionHeader(reply, position);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { items: page.map(orderJson), nextCursor: rows.length > limit && last ? encodeCursor([last.created_position]) : null };
  });

  r.get('/api/v1/orders/:orderId', { schema: { params: OrderParams, querystring: EmptyQuery } }, async (request, reply) => {
    const me = principal(request);
    const { position, rows } = await many<OrderDbRow>(q.order, [me.userId, request.params.orderId], 'order_id');
    positionHeader(reply, position);
    const o = rows[0];
    if (!o) throw problems.notFound(`order ${request.params.orderId} not found`);
    return orderJson(o);
  });

  r.get('/api/v1/portfolio', { schema: { querystring: EmptyQuery } }, async (request, reply) => {
    const me = principal(request);
    const hit = portfolios.get(me.userId);
    if (
      hit &&
      hit.position >= lastAll &&
      hit.position >= (lastUserChange.get(me.userId) ?? 0n) &&
      hit.markets.every((m) => hit.position >= (lastChange.get(m) ?? 0n)) &&
      (request.minPosition === undefined || hit.position >= request.minPosition)
    ) {
      positionHeader(reply, hit.position.toString());
      return reply.type('application/json; charset=utf-8').send(hit.body);
    }
    const row = await one<{ __position: string; body: string; markets: number[] }>(q.portfolio, [me.userId]);
    positionHeader(reply, row.__position);
    const entry = { position: BigInt(row.__position), body: row.body, markets: row.markets };
    if (entry.position >= lastAll && entry.position >= (lastUserChange.get(me.userId) ?? 0n) && entry.markets.every((m) => entry.position >= (lastChange.get(m) ?? 0n))) {
      if (portfolios.size >= 50_000) portfolios.clear();
      portfolios.set(me.userId, entry);
    }
    return reply.type('application/json; charset=utf-8').send(row.body);
  });

  r.get('/api/v1/trades', { schema: { querystring: FillsQuery } }, async (request, reply) => {
    const me = principal(request);
    const limit = request.query.limit ?? DEFAULT_LIMIT;
    const [afterPosition, afterLiquidity] = decodeCursor(request.query.cursor, ['int', 'text']);
    const { position, rows } = await many<{ trade_id: string; order_id: string; market_id: number; side: string; price: string; quantity: string; fee: string; fee_asset: string | null; liquidity: string; trade_time: string; position: string }>(
      q.fills,
      [me.userId, request.query.marketId ?? null, afterPosition, afterLiquidity, limit + 1],
      'trade_id',
    );
    positionHeader(reply, position);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map((t) => ({
        tradeId: t.trade_id,
        orderId: t.order_id,
        marketId: t.market_id,
        side: t.side,
        price: t.price,
        quantity: t.quantity,
        fee: t.fee,
        feeAsset: t.fee_asset,
        liquidity: t.liquidity,
        tradeTime: t.trade_time,
      })),
      nextCursor: rows.length > limit && last ? encodeCursor([last.position, last.liquidity]) : null,
    };
  });

  registerStream(app, { ...deps, schema, queries: q });
}

/** Registers the query routes as an encapsulated plugin on `app`. */
export async function registerQueryRoutes(app: FastifyInstance, deps: QueryApiDeps): Promise<void> {
  await app.register(async (instance) => queryRoutes(instance, deps));
}
