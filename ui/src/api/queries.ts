/**
 * One `queryOptions` factory per read model. Query keys live here too, so the SSE stream and
 * the mutations address the cache through the same names.
 */
import { queryOptions } from '@tanstack/react-query';
import { request } from './client.ts';
import type {
  Candle,
  CandleInterval,
  Fill,
  Market,
  Order,
  OrderBook,
  OrderListStatus,
  Page,
  Portfolio,
  PublicTrade,
} from './types.ts';
import { add, cmp, dec, parseDecimal, percentChange, toPlain, type Dec } from '../lib/decimal.ts';

export const BOOK_DEPTH = 20;
export const TAPE_LIMIT = 50;

export const queryKeys = {
  markets: () => ['markets'] as const,
  market: (marketId: number) => ['markets', marketId] as const,
  marketStats: (marketId: number) => ['marketStats', marketId] as const,
  book: (marketId: number) => ['book', marketId] as const,
  marketTrades: (marketId: number) => ['marketTrades', marketId] as const,
  candlesAll: (marketId: number) => ['candles', marketId] as const,
  candles: (marketId: number, interval: CandleInterval) => ['candles', marketId, interval] as const,
  ordersAll: () => ['orders'] as const,
  orders: (status: OrderListStatus, marketId?: number) => ['orders', { status, marketId: marketId ?? null }] as const,
  order: (orderId: string) => ['order', orderId] as const,
  portfolio: () => ['portfolio'] as const,
  fillsAll: () => ['fills'] as const,
  fills: (marketId?: number) => ['fills', { marketId: marketId ?? null }] as const,
};

export function marketsQuery() {
  return queryOptions({
    queryKey: queryKeys.markets(),
    queryFn: ({ signal }) => request<Market[]>('/markets', { signal }),
    staleTime: 30_000,
  });
}

export function marketQuery(marketId: number) {
  return queryOptions({
    queryKey: queryKeys.market(marketId),
    queryFn: ({ signal }) => request<Market>(`/markets/${marketId}`, { signal }),
    staleTime: 30_000,
  });
}

export function bookQuery(marketId: number) {
  return queryOptions({
    queryKey: queryKeys.book(marketId),
    queryFn: ({ signal }) => request<OrderBook>(`/markets/${marketId}/book?depth=${BOOK_DEPTH}`, { signal }),
    staleTime: 10_000,
  });
}

export function marketTradesQuery(marketId: number) {
  return queryOptions({
    queryKey: queryKeys.marketTrades(marketId),
    queryFn: ({ signal }) => request<Page<PublicTrade>>(`/markets/${marketId}/trades?limit=${TAPE_LIMIT}`, { signal }),
    staleTime: 10_000,
  });
}

export const INTERVAL_MS: Record<CandleInterval, number> = {
  '1m': 60_000,
  '5m': 300_000,
  '1h': 3_600_000,
  '1d': 86_400_000,
};

/** How far back the chart looks for each interval. */
const CANDLE_SPAN: Record<CandleInterval, number> = {
  '1m': 6 * 3_600_000,
  '5m': 2 * 86_400_000,
  '1h': 14 * 86_400_000,
  '1d': 365 * 86_400_000,
};

export function candlesQuery(marketId: number, interval: CandleInterval, now: () => number = Date.now) {
  return queryOptions({
    queryKey: queryKeys.candles(marketId, interval),
    queryFn: ({ signal }) => {
      const to = now();
      const from = to - CANDLE_SPAN[interval];
      const q = new URLSearchParams({ interval, from: new Date(from).toISOString(), to: new Date(to).toISOString() });
      return request<Candle[]>(`/markets/${marketId}/candles?${q.toString()}`, { signal });
    },
    staleTime: 60_000,
  });
}

/** Last price, 24 h change and volume of a market, derived from its hourly candles. */
export interface MarketStats {
  marketId: number;
  open24h: string | null;
  last: string | null;
  high24h: string | null;
  low24h: string | null;
  volume24h: string;
  /** Percentage with two decimals, e.g. "-1.25"; null when there is no reference. */
  change24hPct: string | null;
}

export function candleTimeMs(time: string | number): number {
  if (typeof time === 'number') return time < 1e12 ? time * 1000 : time;
  return /^\d+$/.test(time) ? candleTimeMs(Number(time)) : Date.parse(time);
}

export function statsFromCandles(marketId: number, candles: readonly Candle[], lastPrice: string | null): MarketStats {
  const sorted = [...candles].sort((a, b) => candleTimeMs(a.time) - candleTimeMs(b.time));
  let volume: Dec = dec('0');
  let high: Dec | null = null;
  let low: Dec | null = null;
  for (const c of sorted) {
    volume = add(volume, parseDecimal(c.volume) ?? dec('0'));
    const h = parseDecimal(c.high);
    const l = parseDecimal(c.low);
    if (h && (!high || cmp(h, high) > 0)) high = h;
    if (l && (!low || cmp(l, low) < 0)) low = l;
  }
  const first = sorted[0];
  const lastCandle = sorted[sorted.length - 1];
  const open = first ? parseDecimal(first.open) : null;
  const last = parseDecimal(lastPrice) ?? (lastCandle ? parseDecimal(lastCandle.close) : null);
  const change = open && last ? percentChange(open, last, 2) : null;
  return {
    marketId,
    open24h: open ? toPlain(open) : null,
    last: last ? toPlain(last) : null,
    high24h: high ? toPlain(high) : null,
    low24h: low ? toPlain(low) : null,
    volume24h: toPlain(volume),
    change24hPct: change ? toPlain(change) : null,
  };
}

export function marketStatsQuery(marketId: number, lastPrice: string | null, now: () => number = Date.now) {
  return queryOptions({
    queryKey: queryKeys.marketStats(marketId),
    queryFn: async ({ signal }) => {
      const to = now();
      const q = new URLSearchParams({
        interval: '1h',
        from: new Date(to - 24 * 3_600_000).toISOString(),
        to: new Date(to).toISOString(),
      });
      const candles = await request<Candle[]>(`/markets/${marketId}/candles?${q.toString()}`, { signal });
      return statsFromCandles(marketId, candles, lastPrice);
    },
    staleTime: 60_000,
  });
}

/** Orders of the signed-in user. `open` covers pending, open and partially filled. */
export function ordersQuery(status: OrderListStatus, marketId?: number) {
  return queryOptions({
    queryKey: queryKeys.orders(status, marketId),
    queryFn: ({ signal }) => {
      const q = new URLSearchParams({ status, limit: '200' });
      if (marketId !== undefined) q.set('marketId', String(marketId));
      return request<Page<Order>>(`/orders?${q.toString()}`, { signal });
    },
    staleTime: 15_000,
    // A pending order is still going through risk: look again soon even without the stream.
    refetchInterval: (query) => (query.state.data?.items.some((o) => o.status === 'pending') ? 1_000 : false),
  });
}

export function orderQuery(orderId: string) {
  return queryOptions({
    queryKey: queryKeys.order(orderId),
    queryFn: ({ signal }) => request<Order>(`/orders/${encodeURIComponent(orderId)}`, { signal }),
  });
}

export function portfolioQuery() {
  return queryOptions({
    queryKey: queryKeys.portfolio(),
    queryFn: ({ signal }) => request<Portfolio>('/portfolio', { signal }),
    staleTime: 15_000,
  });
}

export function fillsQuery(marketId?: number) {
  return queryOptions({
    queryKey: queryKeys.fills(marketId),
    queryFn: ({ signal }) => {
      const q = new URLSearchParams({ limit: '200' });
      if (marketId !== undefined) q.set('marketId', String(marketId));
      return request<Page<Fill>>(`/trades?${q.toString()}`, { signal });
    },
    staleTime: 15_000,
  });
}
