import { describe, expect, it, vi } from 'vitest';
import { QueryClient } from '@tanstack/react-query';
import { applyStreamMessage, createInvalidator, orderMatchesList } from './cache.ts';
import { queryKeys, statsFromCandles, type MarketStats } from './queries.ts';
import type { Candle, Market, Order, OrderBook, Page, Portfolio, PublicTrade } from './types.ts';

function client() {
  return new QueryClient({ defaultOptions: { queries: { retry: false } } });
}

const market: Market = {
  marketId: 1,
  symbol: 'BTC-USD',
  baseAsset: 'BTC',
  quoteAsset: 'USD',
  tickSize: '0.01',
  lotSize: '0.001',
  currentPrice: '100',
  status: 'open',
};

function order(over: Partial<Order> = {}): Order {
  return {
    orderId: 'o1',
    clientOrderId: null,
    marketId: 1,
    side: 'buy',
    type: 'limit',
    timeInForce: 'GTC',
    price: '100',
    quantity: '2',
    filledQuantity: '0',
    averageFillPrice: null,
    status: 'open',
    rejectReason: null,
    createdAt: '2026-11-26T12:00:00.000Z',
    updatedAt: '2026-11-26T12:00:00.000Z',
    ...over,
  };
}

describe('SSE messages update the query cache', () => {
  it('book: a full snapshot replaces the cached book', () => {
    const qc = client();
    const inv = vi.fn();
    qc.setQueryData<OrderBook>(queryKeys.book(1), { marketId: 1, bids: [], asks: [] });
    applyStreamMessage(qc, 'book', { marketId: 1, bids: [{ price: '99', quantity: '1' }], asks: [{ price: '101', quantity: '2' }] }, inv);
    expect(qc.getQueryData<OrderBook>(queryKeys.book(1))?.bids).toEqual([{ price: '99', quantity: '1' }]);
    expect(inv).not.toHaveBeenCalled();
  });

  it('book: a wrapped payload is unwrapped; a partial one invalidates instead of guessing', () => {
    const qc = client();
    const inv = vi.fn();
    applyStreamMessage(qc, 'book', { type: 'book', data: { marketId: 2, bids: [], asks: [{ price: '5', quantity: '1' }] } }, inv);
    expect(qc.getQueryData<OrderBook>(queryKeys.book(2))?.asks).toHaveLength(1);
    applyStreamMessage(qc, 'book', { marketId: 3, changes: [] }, inv);
    expect(inv).toHaveBeenCalledWith(queryKeys.book(3));
  });

  it('trade: prepends to the tape once, moves the last price, 24 h stats, candles and unrealized PnL', () => {
    const qc = client();
    const inv = vi.fn();
    qc.setQueryData<Page<PublicTrade>>(queryKeys.marketTrades(1), {
      items: [{ tradeId: 't0', price: '100', quantity: '1', takerSide: 'sell', tradeTime: '2026-11-26T11:59:00.000Z' }],
      nextCursor: null,
    });
    qc.setQueryData<Market[]>(queryKeys.markets(), [market, { ...market, marketId: 2, symbol: 'ETH-USD' }]);
    const candles: Candle[] = [{ time: '2026-11-26T12:00:00.000Z', open: '100', high: '100', low: '100', close: '100', volume: '1' }];
    qc.setQueryData(queryKeys.candles(1, '1m'), candles);
    qc.setQueryData<MarketStats>(queryKeys.marketStats(1), statsFromCandles(1, candles, '100'));
    qc.setQueryData<Portfolio>(queryKeys.portfolio(), {
      userId: 7,
      balances: [],
      positions: [{ marketId: 1, symbol: 'BTC-USD', quantity: '2', averagePrice: '90', realizedPnl: '0', unrealizedPnl: '20', marketPrice: '100' }],
    });

    const trade = { marketId: 1, tradeId: 't1', price: '110.5', quantity: '0.25', takerSide: 'buy', tradeTime: '2026-11-26T12:00:30.000Z' };
    applyStreamMessage(qc, 'trade', trade, inv);
    applyStreamMessage(qc, 'trade', trade, inv); // duplicate delivery

    const tape = qc.getQueryData<Page<PublicTrade>>(queryKeys.marketTrades(1))!;
    expect(tape.items.map((t) => t.tradeId)).toEqual(['t1', 't0']);
    const markets = qc.getQueryData<Market[]>(queryKeys.markets())!;
    expect(markets[0]?.currentPrice).toBe('110.5');
    expect(markets[1]?.currentPrice).toBe('100');
    const stats = qc.getQueryData<MarketStats>(queryKeys.marketStats(1))!;
    expect(stats.last).toBe('110.5');
    expect(stats.change24hPct).toBe('10.5');
    expect(stats.volume24h).toBe('1.5'); // 1 + 0.25 + 0.25: the duplicate only skips the tape
    const c = qc.getQueryData<Candle[]>(queryKeys.candles(1, '1m'))!;
    expect(c).toHaveLength(1);
    expect(c[0]).toMatchObject({ high: '110.5', close: '110.5' });
    const pos = qc.getQueryData<Portfolio>(queryKeys.portfolio())!.positions[0]!;
    expect(pos.marketPrice).toBe('110.5');
    expect(pos.unrealizedPnl).toBe('41'); // (110.5 - 90) * 2
    expect(inv).not.toHaveBeenCalled();
  });

  it('trade: a new minute opens a new candle', () => {
    const qc = client();
    qc.setQueryData<Candle[]>(queryKeys.candles(1, '1m'), [
      { time: '2026-11-26T12:00:00.000Z', open: '100', high: '100', low: '100', close: '100', volume: '1' },
    ]);
    applyStreamMessage(qc, 'trade', { marketId: 1, tradeId: 't2', price: '99', quantity: '3', takerSide: 'sell', tradeTime: '2026-11-26T12:01:10.000Z' }, vi.fn());
    const c = qc.getQueryData<Candle[]>(queryKeys.candles(1, '1m'))!;
    expect(c).toHaveLength(2);
    expect(c[1]).toEqual({ time: '2026-11-26T12:01:00.000Z', open: '99', high: '99', low: '99', close: '99', volume: '3' });
  });

  it('order: upserts into every matching list and out of lists it left', () => {
    const qc = client();
    const inv = vi.fn();
    qc.setQueryData<Page<Order>>(queryKeys.orders('open'), { items: [order()], nextCursor: null });
    qc.setQueryData<Page<Order>>(queryKeys.orders('all'), { items: [order()], nextCursor: null });
    qc.setQueryData<Page<Order>>(queryKeys.orders('open', 2), { items: [], nextCursor: null });
    qc.setQueryData<Page<Order>>(queryKeys.orders('filled'), { items: [], nextCursor: null });

    applyStreamMessage(qc, 'order', order({ filledQuantity: '2', status: 'filled', averageFillPrice: '100' }), inv);

    expect(qc.getQueryData<Page<Order>>(queryKeys.orders('open'))!.items).toEqual([]);
    expect(qc.getQueryData<Page<Order>>(queryKeys.orders('all'))!.items[0]?.status).toBe('filled');
    expect(qc.getQueryData<Page<Order>>(queryKeys.orders('filled'))!.items).toHaveLength(1);
    expect(qc.getQueryData<Page<Order>>(queryKeys.orders('open', 2))!.items).toEqual([]);
    expect(qc.getQueryData<Order>(queryKeys.order('o1'))?.status).toBe('filled');
    expect(inv).toHaveBeenCalledWith(queryKeys.fillsAll());
    expect(inv).toHaveBeenCalledWith(queryKeys.portfolio());
  });

  it('order: a new order lands at the top of the lists it belongs to; a partial update merges', () => {
    const qc = client();
    const inv = vi.fn();
    qc.setQueryData<Page<Order>>(queryKeys.orders('open'), { items: [order()], nextCursor: null });
    applyStreamMessage(qc, 'order', order({ orderId: 'o2', status: 'pending' }), inv);
    expect(qc.getQueryData<Page<Order>>(queryKeys.orders('open'))!.items.map((o) => o.orderId)).toEqual(['o2', 'o1']);
    applyStreamMessage(qc, 'order', { orderId: 'o2', status: 'rejected', rejectReason: 'insufficient_funds' }, inv);
    expect(qc.getQueryData<Page<Order>>(queryKeys.orders('open'))!.items.map((o) => o.orderId)).toEqual(['o1']);
    expect(qc.getQueryData<Order>(queryKeys.order('o2'))).toMatchObject({ status: 'rejected', rejectReason: 'insufficient_funds', side: 'buy' });
  });

  it('order: a partial update for an unknown order invalidates the order lists', () => {
    const qc = client();
    const inv = vi.fn();
    applyStreamMessage(qc, 'order', { orderId: 'zz', status: 'open' }, inv);
    expect(inv).toHaveBeenCalledWith(queryKeys.ordersAll());
  });

  it('portfolio: a full document replaces, a partial one merges, garbage invalidates', () => {
    const qc = client();
    const inv = vi.fn();
    applyStreamMessage(qc, 'portfolio', { userId: 7, balances: [{ asset: 'USD', available: '10', reserved: '0' }], positions: [] }, inv);
    expect(qc.getQueryData<Portfolio>(queryKeys.portfolio())?.balances[0]?.available).toBe('10');
    applyStreamMessage(qc, 'portfolio', { balances: [{ asset: 'USD', available: '5', reserved: '5' }] }, inv);
    expect(qc.getQueryData<Portfolio>(queryKeys.portfolio())).toMatchObject({ userId: 7, balances: [{ available: '5', reserved: '5' }], positions: [] });
    applyStreamMessage(qc, 'portfolio', 'nonsense', inv);
    expect(inv).toHaveBeenCalledWith(queryKeys.portfolio());
  });

  it('list membership follows the status filter', () => {
    expect(orderMatchesList('open', null, order({ status: 'partially_filled' }))).toBe(true);
    expect(orderMatchesList('open', null, order({ status: 'filled' }))).toBe(false);
    expect(orderMatchesList('cancelled', null, order({ status: 'expired' }))).toBe(true);
    expect(orderMatchesList('all', 2, order())).toBe(false);
  });

  it('coalesces invalidations', async () => {
    vi.useFakeTimers();
    try {
      const qc = client();
      const spy = vi.spyOn(qc, 'invalidateQueries');
      const inv = createInvalidator(qc, 100);
      inv(['portfolio']);
      inv(['portfolio']);
      inv(['orders']);
      expect(spy).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(120);
      expect(spy).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
