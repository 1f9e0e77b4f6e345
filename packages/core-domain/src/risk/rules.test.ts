import { describe, expect, it } from 'vitest';
import type { MarketSpec } from '../market/spec.ts';
import { bandTicks, DEFAULT_ACCOUNT_LIMITS, evaluateAmend, evaluateOrder, perLotReservation, protectionPriceTicks, recheck, type AmendRiskInputs, type OrderRiskInputs } from './rules.ts';

const market: MarketSpec = {
  marketId: 1,
  symbol: 'BTC-USD',
  baseAsset: 'BTC',
  quoteAsset: 'USD',
  tickSize: '0.01',
  lotSize: '0.001',
  referencePrice: '100',
  makerFeeBps: 10,
  takerFeeBps: 20,
  maxOrderQuantity: '10',
  maxOrderNotional: '5000',
  priceBandBps: 1000,
};

function inputs(over: Partial<OrderRiskInputs> = {}, order: Partial<OrderRiskInputs['order']> = {}): OrderRiskInputs {
  return {
    order: { orderId: 'o1', userId: 7, marketId: 1, side: 'buy', type: 'limit', price: '100', quantity: '1', ...order },
    market,
    block: null,
    lastPrice: null,
    available: { base: '5', quote: '10000' },
    openOrders: 0,
    ordersInWindow: 0,
    limits: DEFAULT_ACCOUNT_LIMITS,
    ...over,
  };
}

function rejection(i: OrderRiskInputs) {
  const d = evaluateOrder(i);
  if (d.outcome !== 'rejected') throw new Error('expected a rejection');
  return { reason: d.reason, rule: d.rule, limit: d.limit, observed: d.observed };
}

describe('reservations', () => {
  it('a buy reserves price × quantity plus the larger fee, a sell its base', () => {
    const d = evaluateOrder(inputs());
    expect(d).toMatchObject({ outcome: 'accepted', reservedAsset: 'USD', reservedAmount: '100.2', lots: '1000', priceTicks: '10000', protectionPrice: null });
    const s = evaluateOrder(inputs({}, { side: 'sell', quantity: '2.5' }));
    expect(s).toMatchObject({ outcome: 'accepted', reservedAsset: 'BTC', reservedAmount: '2.5' });
  });

  it('rounds the fee up per lot so that partial fills stay covered', () => {
    // 1 lot at 0.01: notional 0.00001 quote = 10^7 units; 20 bps → 20000 units exactly; at 0.03 fee is 60000 units
    expect(perLotReservation(market, 'buy', 1n)).toBe(10_000_000n + 20_000n);
    expect(perLotReservation({ ...market, takerFeeBps: 3 }, 'buy', 1n)).toBe(10_000_000n + 10_000n);
    expect(perLotReservation({ ...market, tickSize: '0.000000001' }, 'buy', 1n)).toBe(1n + 1n);
  });

  it('a market buy reserves at the protection price (the band edge)', () => {
    const d = evaluateOrder(inputs({ lastPrice: '200' }, { type: 'market', price: null }));
    expect(d).toMatchObject({ outcome: 'accepted', protectionPrice: '220', reservedAmount: '220.44' });
    const s = evaluateOrder(inputs({ lastPrice: '200' }, { type: 'market', side: 'sell', price: null }));
    expect(s).toMatchObject({ outcome: 'accepted', protectionPrice: '180', reservedAmount: '1' });
  });
});

describe('price band', () => {
  it('computes the band edges on the tick grid', () => {
    expect(bandTicks(market, '100')).toEqual({ low: 9000n, high: 11000n });
    expect(bandTicks({ tickSize: '0.01', priceBandBps: 33 }, '100.01')).toEqual({ low: 9968n, high: 10034n });
    expect(bandTicks({ tickSize: '1', priceBandBps: 20_000 }, '5')).toEqual({ low: 1n, high: 15n });
    expect(protectionPriceTicks(market, 'sell', '100')).toBe(9000n);
  });

  it('rejects limit prices outside the band around the last price, else the reference price', () => {
    expect(rejection(inputs({}, { price: '110.01' }))).toEqual({ reason: 'price_band', rule: 'price_band.high', limit: '110', observed: '110.01' });
    expect(rejection(inputs({}, { price: '89.99', side: 'sell' }))).toEqual({ reason: 'price_band', rule: 'price_band.low', limit: '90', observed: '89.99' });
    expect(evaluateOrder(inputs({}, { price: '110' })).outcome).toBe('accepted');
    expect(evaluateOrder(inputs({ lastPrice: '105' }, { price: '115' })).outcome).toBe('accepted');
  });

  it('lets limit orders through without any reference, but not market orders', () => {
    const noRef = { ...market, referencePrice: null };
    expect(evaluateOrder(inputs({ market: noRef }, { price: '1000' })).outcome).toBe('accepted');
    expect(rejection(inputs({ market: noRef }, { type: 'market', price: null }))).toEqual({ reason: 'price_band', rule: 'price_band.reference', limit: null, observed: null });
  });
});

describe('rejections, each with its reason, rule, limit and observed value', () => {
  it.each<[string, OrderRiskInputs, ReturnType<typeof rejection>]>([
    ['unknown market', inputs({ market: null }), { reason: 'unknown_market', rule: 'market.listed', limit: null, observed: '1' }],
    ['global kill switch', inputs({ block: { reason: 'kill_switch', rule: 'kill_switch.global', detail: 'ops' } }), { reason: 'kill_switch', rule: 'kill_switch.global', limit: null, observed: 'ops' }],
    ['halted market', inputs({ block: { reason: 'market_halted', rule: 'market_halted', detail: 'auction' } }), { reason: 'market_halted', rule: 'market_halted', limit: null, observed: 'auction' }],
    ['quantity off the lot grid', inputs({}, { quantity: '0.0015' }), { reason: 'invalid_quantity', rule: 'quantity.lot_size', limit: '0.001', observed: '0.0015' }],
    ['price off the tick grid', inputs({}, { price: '100.001' }), { reason: 'invalid_price', rule: 'price.tick_size', limit: '0.01', observed: '100.001' }],
    ['limit without price', inputs({}, { price: null }), { reason: 'invalid_price', rule: 'price.required', limit: null, observed: null }],
    ['too large a quantity', inputs({}, { quantity: '10.001' }), { reason: 'max_order_quantity', rule: 'max_order_quantity', limit: '10', observed: '10.001' }],
    ['too large a notional', inputs({ market: { ...market, maxOrderNotional: '1000' } }, { quantity: '10', price: '100.01' }), { reason: 'max_order_notional', rule: 'max_order_notional', limit: '1000', observed: '1000.1' }],
    ['too many open orders', inputs({ openOrders: 200 }), { reason: 'max_open_orders', rule: 'max_open_orders', limit: '200', observed: '201' }],
    ['order rate', inputs({ ordersInWindow: 50 }), { reason: 'order_rate', rule: 'order_rate.1000ms', limit: '50', observed: '51' }],
    ['insufficient quote', inputs({ available: { base: '0', quote: '100.19' } }), { reason: 'insufficient_funds', rule: 'available.USD', limit: '100.19', observed: '100.2' }],
    ['no short selling', inputs({ available: { base: '0.999', quote: '0' } }, { side: 'sell' }), { reason: 'insufficient_position', rule: 'available.BTC', limit: '0.999', observed: '1' }],
  ])('%s', (_name, i, expected) => {
    expect(rejection(i)).toEqual(expected);
  });

  it('records every check that passed on acceptance', () => {
    const d = evaluateOrder(inputs());
    expect(d.checks.map((c) => c.rule)).toEqual([
      'market.listed',
      'control',
      'quantity.lot_size',
      'max_order_quantity',
      'price.tick_size',
      'price_band.high',
      'price_band.low',
      'max_order_notional',
      'max_open_orders',
      'order_rate.1000ms',
      'available.USD',
    ]);
    expect(d.checks.at(-1)).toEqual({ rule: 'available.USD', limit: '10000', observed: '100.2' });
  });
});

describe('recheck', () => {
  it('re-runs a recorded decision and agrees with it', () => {
    const i = inputs();
    const d = evaluateOrder(i);
    if (d.outcome !== 'accepted') throw new Error('accepted expected');
    const recorded = { type: 'OrderAccepted' as const, data: { reservedAsset: d.reservedAsset, reservedAmount: d.reservedAmount, protectionPrice: null, checks: d.checks } };
    expect(recheck(JSON.parse(JSON.stringify(i)) as OrderRiskInputs, recorded)).toMatchObject({ matches: true, differences: [] });
  });

  it('reports what differs when the recorded outcome is not what the rules say', () => {
    const r = recheck(inputs({ openOrders: 200 }), { type: 'OrderRejected', data: { reason: 'order_rate', rule: 'order_rate.1000ms', limit: '50', observed: '51' } });
    expect(r.matches).toBe(false);
    expect(r.differences).toContain('reason: order_rate → max_open_orders');
    const r2 = recheck(inputs(), { type: 'OrderRejected', data: { reason: 'price_band', rule: 'price_band.high', limit: '1', observed: '2' } });
    expect(r2.differences[0]).toMatch(/now accepted/);
  });
});

describe('amend risk', () => {
  const amendInputs = (over: Partial<AmendRiskInputs> = {}, amend: AmendRiskInputs['amend'] = { newPrice: null, newQuantity: null }): AmendRiskInputs => ({
    order: { orderId: 'o1', userId: 7, marketId: 1, side: 'buy', type: 'limit', price: '100', quantity: '2', filled: '0.5', coverQuantity: '1.5', reserved: '150.3' },
    amend,
    market,
    block: null,
    lastPrice: null,
    available: { base: '0', quote: '1000' },
    ...over,
  });

  it('reserves more for a higher price, covering old and new terms', () => {
    const d = evaluateAmend(amendInputs({}, { newPrice: '105', newQuantity: null }));
    // per lot at 105: 0.105 + 0.00021 → 1.5 × 105.21 = 157.815
    expect(d).toMatchObject({ outcome: 'accepted', newPrice: '105', newQuantity: '2', reservationDelta: '7.515', coverQuantity: '1.5', reservedAsset: 'USD' });
  });

  it('reserves nothing now for a reduction: the excess is released when the market applies it', () => {
    expect(evaluateAmend(amendInputs({}, { newPrice: '90', newQuantity: '1' }))).toMatchObject({ outcome: 'accepted', reservationDelta: '0', coverQuantity: '1.5' });
  });

  it('covers a larger quantity at the larger per-lot amount', () => {
    // new open 3.5 at max(100.2, 95.19) per unit = 350.7
    expect(evaluateAmend(amendInputs({}, { newPrice: '95', newQuantity: '4' }))).toMatchObject({ reservationDelta: '200.4', coverQuantity: '3.5' });
  });

  it('rejects an amend it cannot fund, a market order, a blocked market', () => {
    expect(evaluateAmend(amendInputs({ available: { base: '0', quote: '1' } }, { newPrice: '105', newQuantity: null }))).toMatchObject({ outcome: 'rejected', reason: 'insufficient_funds', limit: '1', observed: '7.515' });
    expect(evaluateAmend(amendInputs({ order: { ...amendInputs().order, type: 'market' } }))).toMatchObject({ outcome: 'rejected', reason: 'order_not_open' });
    expect(evaluateAmend(amendInputs({ block: { reason: 'market_halted', rule: 'market_halted', detail: '' } }))).toMatchObject({ outcome: 'rejected', reason: 'market_halted' });
    expect(evaluateAmend(amendInputs({}, { newPrice: '200', newQuantity: null }))).toMatchObject({ outcome: 'rejected', reason: 'price_band' });
  });
});
