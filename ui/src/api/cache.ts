/**
 * Pushed stream messages applied to the TanStack Query cache. Complete payloads are written
 * with setQueryData; anything partial or unrecognised invalidates the affected read model so
 * it is refetched instead of guessed.
 */
import type { QueryClient, QueryKey } from '@tanstack/react-query';
import { queryKeys, TAPE_LIMIT, INTERVAL_MS, candleTimeMs, type MarketStats } from './queries.ts';
import type { Candle, Market, Order, OrderBook, OrderListStatus, Page, Portfolio, PublicTrade } from './types.ts';
import { isOpenStatus } from './types.ts';
import { add, cmp, dec, parseDecimal, percentChange, sub, mul, toPlain, type Dec } from '../lib/decimal.ts';

export type Invalidate = (key: QueryKey) => void;

export type StreamEventType = 'book' | 'trade' | 'order' | 'portfolio';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Some servers wrap the payload (`{ type, data }` or `{ payload }`); take the inner object then. */
export function unwrap(raw: unknown, fields: readonly string[]): unknown {
  if (!isObj(raw)) return raw;
  if (fields.some((f) => f in raw)) return raw;
  for (const k of ['data', 'payload', 'value']) {
    const inner = raw[k];
    if (isObj(inner)) return inner;
  }
  return raw;
}

function marketIdOf(v: Obj): number | null {
  const id = v.marketId;
  if (typeof id === 'number' && Number.isInteger(id)) return id;
  if (typeof id === 'string' && /^\d+$/.test(id)) return Number(id);
  return null;
}

/**
 * A fetch already under way may answer with data older than the message just applied; refetch
 * it after the push so the stale answer is replaced rather than kept.
 */
function supersedeInFlight(qc: QueryClient, key: QueryKey, invalidate: Invalidate): void {
  if (qc.isFetching({ queryKey: key }) > 0) invalidate(key);
}

// ---- book ----
export function applyBook(qc: QueryClient, raw: unknown, invalidate: Invalidate): void {
  const v = unwrap(raw, ['bids', 'asks']);
  if (!isObj(v)) return invalidate(['book']);
  const marketId = marketIdOf(v);
  if (marketId === null) return invalidate(['book']);
  if (Array.isArray(v.bids) && Array.isArray(v.asks)) {
    qc.setQueryData<OrderBook>(queryKeys.book(marketId), {
      marketId,
      bids: v.bids as OrderBook['bids'],
      asks: v.asks as OrderBook['asks'],
    });
    supersedeInFlight(qc, queryKeys.book(marketId), invalidate);
  } else invalidate(queryKeys.book(marketId));
}

// ---- trade ----
function isTrade(v: Obj): boolean {
  return typeof v.tradeId === 'string' && typeof v.price === 'string' && typeof v.quantity === 'string';
}

function updateStats(stats: MarketStats, price: Dec, qty: Dec): MarketStats {
  const open = parseDecimal(stats.open24h) ?? price;
  const high = parseDecimal(stats.high24h);
  const low = parseDecimal(stats.low24h);
  const change = percentChange(open, price, 2);
  return {
    ...stats,
    open24h: toPlain(open),
    last: toPlain(price),
    high24h: toPlain(high && cmp(high, price) >= 0 ? high : price),
    low24h: toPlain(low && cmp(low, price) <= 0 ? low : price),
    volume24h: toPlain(add(parseDecimal(stats.volume24h) ?? dec('0'), qty)),
    change24hPct: change ? toPlain(change) : null,
  };
}

function updateCandles(candles: Candle[], intervalMs: number, tradeMs: number, price: string, qty: Dec): Candle[] {
  const bucket = Math.floor(tradeMs / intervalMs) * intervalMs;
  const lastCandle = candles[candles.length - 1];
  const p = dec(price);
  if (lastCandle && candleTimeMs(lastCandle.time) === bucket) {
    const high = parseDecimal(lastCandle.high);
    const low = parseDecimal(lastCandle.low);
    const updated: Candle = {
      ...lastCandle,
      high: high && cmp(high, p) >= 0 ? lastCandle.high : price,
      low: low && cmp(low, p) <= 0 ? lastCandle.low : price,
      close: price,
      volume: toPlain(add(parseDecimal(lastCandle.volume) ?? dec('0'), qty)),
    };
    return [...candles.slice(0, -1), updated];
  }
  if (lastCandle && candleTimeMs(lastCandle.time) > bucket) return candles; // late trade: leave to the next refetch
  const time = typeof lastCandle?.time === 'number' ? (lastCandle.time < 1e12 ? bucket / 1000 : bucket) : new Date(bucket).toISOString();
  return [...candles, { time, open: price, high: price, low: price, close: price, volume: toPlain(qty) }];
}

function unrealized(position: { quantity: string; averagePrice: string | null }, price: Dec): string | null {
  const q = parseDecimal(position.quantity);
  const avg = parseDecimal(position.averagePrice);
  if (!q || !avg) return null;
  return toPlain(mul(sub(price, avg), q));
}

export function applyTrade(qc: QueryClient, raw: unknown, invalidate: Invalidate): void {
  const v = unwrap(raw, ['tradeId', 'price']);
  if (!isObj(v) || !isTrade(v)) {
    invalidate(['marketTrades']);
    invalidate(queryKeys.markets());
    return;
  }
  const marketId = marketIdOf(v);
  if (marketId === null) {
    invalidate(['marketTrades']);
    invalidate(queryKeys.markets());
    return;
  }
  const trade: PublicTrade = {
    tradeId: v.tradeId as string,
    price: v.price as string,
    quantity: v.quantity as string,
    takerSide: v.takerSide === 'sell' ? 'sell' : 'buy',
    tradeTime: typeof v.tradeTime === 'string' ? v.tradeTime : typeof v.executedAt === 'string' ? v.executedAt : new Date().toISOString(),
    marketId,
  };
  const price = parseDecimal(trade.price);
  const qty = parseDecimal(trade.quantity);
  if (!price || !qty) return invalidate(queryKeys.marketTrades(marketId));

  // the tape, newest first, no duplicates
  qc.setQueryData<Page<PublicTrade>>(queryKeys.marketTrades(marketId), (old) => {
    if (!old) return old;
    if (old.items.some((t) => t.tradeId === trade.tradeId)) return old;
    return { ...old, items: [trade, ...old.items].slice(0, TAPE_LIMIT) };
  });

  // last price everywhere a market is shown
  qc.setQueryData<Market[]>(queryKeys.markets(), (old) =>
    old?.map((m) => (m.marketId === marketId ? { ...m, currentPrice: trade.price } : m)),
  );
  qc.setQueryData<Market>(queryKeys.market(marketId), (old) => (old ? { ...old, currentPrice: trade.price } : old));
  qc.setQueryData<MarketStats>(queryKeys.marketStats(marketId), (old) => (old ? updateStats(old, price, qty) : old));

  // chart candles of every cached interval
  const tradeMs = Date.parse(trade.tradeTime);
  for (const [key, data] of qc.getQueriesData<Candle[]>({ queryKey: queryKeys.candlesAll(marketId) })) {
    const interval = key[2];
    if (!data || typeof interval !== 'string' || !(interval in INTERVAL_MS) || Number.isNaN(tradeMs)) continue;
    qc.setQueryData<Candle[]>(key, updateCandles(data, INTERVAL_MS[interval as keyof typeof INTERVAL_MS], tradeMs, trade.price, qty));
  }

  supersedeInFlight(qc, queryKeys.marketTrades(marketId), invalidate);
  supersedeInFlight(qc, queryKeys.markets(), invalidate);

  // mark-to-market of an open position
  qc.setQueryData<Portfolio>(queryKeys.portfolio(), (old) => {
    if (!old || !old.positions.some((p) => p.marketId === marketId)) return old;
    return {
      ...old,
      positions: old.positions.map((p) =>
        p.marketId === marketId ? { ...p, marketPrice: trade.price, unrealizedPnl: unrealized(p, price) ?? p.unrealizedPnl } : p,
      ),
    };
  });
}

// ---- order ----
const ORDER_FIELDS = ['orderId', 'marketId', 'side', 'type', 'quantity', 'status'] as const;

function isCompleteOrder(v: Obj): boolean {
  return ORDER_FIELDS.every((f) => v[f] !== undefined && v[f] !== null);
}

export function orderMatchesList(status: OrderListStatus, marketId: number | null, o: Order): boolean {
  if (marketId !== null && o.marketId !== marketId) return false;
  switch (status) {
    case 'all':
      return true;
    case 'open':
      return isOpenStatus(o.status);
    case 'filled':
      return o.status === 'filled';
    case 'cancelled':
      return o.status === 'cancelled' || o.status === 'expired';
    case 'rejected':
      return o.status === 'rejected';
  }
}

function findCachedOrder(qc: QueryClient, orderId: string): Order | undefined {
  const single = qc.getQueryData<Order>(queryKeys.order(orderId));
  if (single) return single;
  for (const [, page] of qc.getQueriesData<Page<Order>>({ queryKey: queryKeys.ordersAll() })) {
    const found = page?.items.find((o) => o.orderId === orderId);
    if (found) return found;
  }
  return undefined;
}

/** Writes one order into every cached order list it belongs to (and out of those it left). */
export function upsertOrder(qc: QueryClient, order: Order): void {
  qc.setQueryData<Order>(queryKeys.order(order.orderId), order);
  for (const [key, page] of qc.getQueriesData<Page<Order>>({ queryKey: queryKeys.ordersAll() })) {
    if (!page) continue;
    const filter = key[1] as { status?: OrderListStatus; marketId?: number | null } | undefined;
    const status = filter?.status ?? 'all';
    const belongs = orderMatchesList(status, filter?.marketId ?? null, order);
    const index = page.items.findIndex((o) => o.orderId === order.orderId);
    let items = page.items;
    if (index >= 0 && belongs) items = items.map((o, i) => (i === index ? order : o));
    else if (index >= 0) items = items.filter((_, i) => i !== index);
    else if (belongs) items = [order, ...items];
    else continue;
    qc.setQueryData<Page<Order>>(key, { ...page, items });
  }
}

export function applyOrder(qc: QueryClient, raw: unknown, invalidate: Invalidate): void {
  const v = unwrap(raw, ['orderId']);
  if (!isObj(v) || typeof v.orderId !== 'string') return invalidate(queryKeys.ordersAll());
  const previous = findCachedOrder(qc, v.orderId);
  let order: Order | null = null;
  if (isCompleteOrder(v)) order = { ...(previous ?? {}), ...(v as unknown as Order) };
  else if (previous) order = { ...previous, ...(v as Partial<Order>) };
  if (!order) {
    invalidate(queryKeys.ordersAll());
    invalidate(queryKeys.portfolio());
    return;
  }
  upsertOrder(qc, order);
  supersedeInFlight(qc, queryKeys.ordersAll(), invalidate);
  const filledBefore = parseDecimal(previous?.filledQuantity ?? '0') ?? dec('0');
  const filledNow = parseDecimal(order.filledQuantity) ?? dec('0');
  if (cmp(filledNow, filledBefore) !== 0) invalidate(queryKeys.fillsAll());
  if (!previous || previous.status !== order.status || cmp(filledNow, filledBefore) !== 0) invalidate(queryKeys.portfolio());
}

// ---- portfolio ----
export function applyPortfolio(qc: QueryClient, raw: unknown, invalidate: Invalidate): void {
  const v = unwrap(raw, ['balances', 'positions']);
  if (!isObj(v) || (!Array.isArray(v.balances) && !Array.isArray(v.positions))) return invalidate(queryKeys.portfolio());
  const old = qc.getQueryData<Portfolio>(queryKeys.portfolio());
  if (Array.isArray(v.balances) && Array.isArray(v.positions)) {
    qc.setQueryData<Portfolio>(queryKeys.portfolio(), {
      userId: typeof v.userId === 'number' ? v.userId : (old?.userId ?? 0),
      balances: v.balances as Portfolio['balances'],
      positions: v.positions as Portfolio['positions'],
    });
    supersedeInFlight(qc, queryKeys.portfolio(), invalidate);
    return;
  }
  if (!old) return invalidate(queryKeys.portfolio());
  qc.setQueryData<Portfolio>(queryKeys.portfolio(), {
    ...old,
    ...(Array.isArray(v.balances) ? { balances: v.balances as Portfolio['balances'] } : {}),
    ...(Array.isArray(v.positions) ? { positions: v.positions as Portfolio['positions'] } : {}),
  });
}

export function applyStreamMessage(qc: QueryClient, type: StreamEventType, data: unknown, invalidate: Invalidate): void {
  switch (type) {
    case 'book':
      return applyBook(qc, data, invalidate);
    case 'trade':
      return applyTrade(qc, data, invalidate);
    case 'order':
      return applyOrder(qc, data, invalidate);
    case 'portfolio':
      return applyPortfolio(qc, data, invalidate);
  }
}

/** Coalesces invalidations: each key is invalidated at most once per `delayMs`. */
export function createInvalidator(qc: QueryClient, delayMs = 150): Invalidate & { flush(): void } {
  const pending = new Map<string, QueryKey>();
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    timer = null;
    const keys = [...pending.values()];
    pending.clear();
    for (const key of keys) void qc.invalidateQueries({ queryKey: key });
  };
  const fn = ((key: QueryKey) => {
    pending.set(JSON.stringify(key), key);
    timer ??= setTimeout(flush, delayMs);
  }) as Invalidate & { flush(): void };
  fn.flush = () => {
    if (timer) clearTimeout(timer);
    flush();
  };
  return fn;
}
