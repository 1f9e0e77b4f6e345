import { describe, expect, it } from 'vitest';
import type { EventData, TradecoreEvent } from '../events.ts';
import { catalogueEvent } from './decider.ts';
import { spec } from './given-when-then.testkit.ts';
import {
  InvalidAmendError,
  OrderAlreadyExistsError,
  OrderNotAmendableError,
  OrderNotFoundError,
  OrderNotOpenError,
  averageFillPrice,
  averageFillPriceFraction,
  filledQuantity,
  isOrderOpen,
  orderDecider,
  orderStatus,
  orderView,
  remainingQuantity,
} from './order.ts';

const T = '2030-01-01T00:00:00.000Z';
const placedData: EventData<'OrderPlaced'> = {
  orderId: 'o1',
  userId: 7,
  marketId: 1,
  side: 'buy',
  type: 'limit',
  timeInForce: 'GTC',
  price: '100',
  quantity: '3',
  postOnly: false,
  selfTradePrevention: 'cancel_newest',
  clientOrderId: 'c1',
  requestHash: 'hash-1',
  placedAt: T,
};
const Placed = catalogueEvent('OrderPlaced', placedData);
const Accepted = catalogueEvent('OrderAccepted', {
  orderId: 'o1',
  userId: 7,
  marketId: 1,
  side: 'buy',
  type: 'limit',
  timeInForce: 'GTC',
  price: '100',
  protectionPrice: null,
  quantity: '3',
  postOnly: false,
  selfTradePrevention: 'cancel_newest',
  reservedAsset: 'USD',
  reservedAmount: '300.6',
  checks: [],
});
const Rested = catalogueEvent('OrderRested', { orderId: 'o1', userId: 7, marketId: 1, side: 'buy', price: '100', remainingQuantity: '3' });
const trade = (quantity: string, price: string, remaining: string, asMaker = true): TradecoreEvent =>
  catalogueEvent('TradeExecuted', {
    tradeId: `t-${quantity}-${price}`,
    marketId: 1,
    price,
    quantity,
    takerSide: asMaker ? 'sell' : 'buy',
    takerOrderId: asMaker ? 'x' : 'o1',
    takerUserId: asMaker ? 9 : 7,
    makerOrderId: asMaker ? 'o1' : 'x',
    makerUserId: asMaker ? 7 : 9,
    takerFee: '0',
    makerFee: '0',
    takerRemainingQuantity: asMaker ? '0' : remaining,
    makerRemainingQuantity: asMaker ? remaining : '0',
    executedAt: T,
  });
const Cancelled = catalogueEvent('OrderCancelled', { orderId: 'o1', userId: 7, marketId: 1, reason: 'user', cancelledQuantity: '2' });

const given = spec(orderDecider).given;
const amend = (newPrice: string | null, newQuantity: string | null, userId = 7) => ({ kind: 'AmendOrder' as const, orderId: 'o1', userId, requestId: 'r1', newPrice, newQuantity, requestedAt: T });
const cancel = (userId = 7) => ({ kind: 'CancelOrder' as const, orderId: 'o1', userId, requestId: 'r2', requestedAt: T });

describe('order lifecycle view', () => {
  it('goes pending → open → partially_filled → filled', () => {
    expect(orderStatus(orderView([]))).toBe('none');
    expect(orderStatus(orderView([Placed]))).toBe('pending');
    expect(orderStatus(orderView([Placed, Accepted]))).toBe('open');
    expect(orderStatus(orderView([Placed, Accepted, Rested]))).toBe('open');
    const partial = orderView([Placed, Accepted, Rested, trade('1', '100', '2')]);
    expect(orderStatus(partial)).toBe('partially_filled');
    expect(remainingQuantity(partial)).toBe('2');
    const filled = orderView([Placed, Accepted, Rested, trade('1', '100', '2'), trade('2', '99.5', '0')]);
    expect(orderStatus(filled)).toBe('filled');
    expect(filledQuantity(filled)).toBe('3');
    expect(isOrderOpen(filled)).toBe(false);
  });

  it('counts fills on either side of the trade', () => {
    const v = orderView([Placed, Accepted, trade('0.5', '100', '2.5', false), Rested]);
    expect(filledQuantity(v)).toBe('0.5');
    expect(orderStatus(v)).toBe('partially_filled');
  });

  it('ends cancelled, rejected (risk or engine) or expired', () => {
    expect(orderStatus(orderView([Placed, Accepted, Rested, Cancelled]))).toBe('cancelled');
    const rejected = orderView([Placed, catalogueEvent('OrderRejected', { orderId: 'o1', userId: 7, marketId: 1, reason: 'insufficient_funds', rule: 'available.USD', limit: '1', observed: '300.6' })]);
    expect(orderStatus(rejected)).toBe('rejected');
    expect(rejected.rejectReason).toBe('insufficient_funds');
    const byEngine = orderView([Placed, Accepted, catalogueEvent('OrderRejectedByEngine', { orderId: 'o1', userId: 7, marketId: 1, reason: 'post_only_would_take', rejectedQuantity: '3' })]);
    expect(orderStatus(byEngine)).toBe('rejected');
    expect(orderStatus(orderView([Placed, Accepted, Rested, catalogueEvent('OrderExpired', { orderId: 'o1', userId: 7, marketId: 1, expiredQuantity: '3' })]))).toBe('expired');
  });

  it('keeps the fills of a partially filled order that is then cancelled', () => {
    const v = orderView([Placed, Accepted, Rested, trade('1', '100', '2'), Cancelled]);
    expect(orderStatus(v)).toBe('cancelled');
    expect(v.cancelReason).toBe('user');
    expect(filledQuantity(v)).toBe('1');
    expect(averageFillPrice(v)).toBe('100');
  });

  it('follows amends the market applied', () => {
    const v = orderView([Placed, Accepted, Rested, catalogueEvent('OrderAmended', { orderId: 'o1', userId: 7, marketId: 1, price: '101', quantity: '4', remainingQuantity: '4', priorityLost: true })]);
    expect(v.price).toBe('101');
    expect(v.quantity).toBe('4');
    expect(remainingQuantity(v)).toBe('4');
  });

  it('ignores events about other orders', () => {
    const other = catalogueEvent('OrderCancelled', { orderId: 'o2', userId: 7, marketId: 1, reason: 'user', cancelledQuantity: '1' });
    expect(orderStatus(orderView([Placed, Accepted, other]))).toBe('open');
  });

  it('computes the average fill price exactly', () => {
    // 1 @ 100 + 2 @ 101.25 = 302.5 / 3 → does not terminate: rounded half up at 18 decimals
    const v = orderView([Placed, Accepted, trade('1', '100', '2'), trade('2', '101.25', '0')]);
    expect(averageFillPrice(v)).toBe('100.833333333333333333');
    expect(averageFillPrice(v, 4)).toBe('100.8333');
    expect(averageFillPriceFraction(v)).toEqual({ notional: '302.5', quantity: '3' });
    const w = orderView([Placed, Accepted, trade('0.5', '100.01', '2.5'), trade('1.5', '100.02', '1')]);
    expect(averageFillPrice(w)).toBe('100.0175');
    expect(averageFillPrice(orderView([Placed]))).toBeNull();
  });
});

describe('order decider', () => {
  it('places a new order', () => {
    given([]).when({ kind: 'PlaceOrder', order: placedData }).then([Placed]);
  });

  it('treats a faithful retry as idempotent and a reused id with another body as a conflict', () => {
    given([Placed]).when({ kind: 'PlaceOrder', order: placedData }).thenNothing();
    given([Placed]).when({ kind: 'PlaceOrder', order: { ...placedData, quantity: '4', requestHash: 'hash-2' } }).thenThrows(OrderAlreadyExistsError);
  });

  it('records an amend request of a live order', () => {
    given([Placed, Accepted, Rested]).when(amend('101', null)).then([
      catalogueEvent('OrderAmendRequested', { orderId: 'o1', userId: 7, marketId: 1, requestId: 'r1', newPrice: '101', newQuantity: null, requestedAt: T }),
    ]);
    given([Placed]).when(amend(null, '5')).thenMatch([{ type: 'OrderAmendRequested' }]);
  });

  it('refuses illegal amends with typed errors', () => {
    given([]).when(amend('101', null)).thenThrows(OrderNotFoundError);
    given([Placed, Accepted]).when(amend('101', null, 8)).thenThrows(OrderNotFoundError);
    given([Placed, Accepted, Rested, Cancelled]).when(amend('101', null)).thenThrows(OrderNotOpenError);
    given([Placed, Accepted, trade('3', '100', '0')]).when(amend('101', null)).thenThrows(OrderNotOpenError);
    given([catalogueEvent('OrderPlaced', { ...placedData, type: 'market', price: null })]).when(amend(null, '1')).thenThrows(OrderNotAmendableError);
    given([Placed]).when(amend(null, null)).thenThrows(InvalidAmendError);
    given([Placed]).when(amend('100.00', '3')).thenThrows(InvalidAmendError);
    given([Placed, Accepted, trade('1', '100', '2')]).when(amend(null, '1')).thenThrows(InvalidAmendError);
  });

  it('cancels a live order and refuses to cancel a finished one', () => {
    given([Placed, Accepted, Rested]).when(cancel()).then([catalogueEvent('OrderCancelRequested', { orderId: 'o1', userId: 7, marketId: 1, requestId: 'r2', requestedAt: T })]);
    given([Placed, Accepted, trade('3', '100', '0')]).when(cancel()).thenThrows(OrderNotOpenError);
    given([Placed, Accepted, Rested, Cancelled]).when(cancel()).thenThrows(OrderNotOpenError);
    given([Placed]).when(cancel(8)).thenThrows(OrderNotFoundError);
  });

  it('expires the open remainder, and only of a live order', () => {
    given([Placed, Accepted, Rested, trade('1', '100', '2')]).when({ kind: 'ExpireOrder', orderId: 'o1' }).then([
      catalogueEvent('OrderExpired', { orderId: 'o1', userId: 7, marketId: 1, expiredQuantity: '2' }),
    ]);
    given([Placed, Accepted, Rested, Cancelled]).when({ kind: 'ExpireOrder', orderId: 'o1' }).thenThrows(OrderNotOpenError);
  });

  it('exposes an HTTP status and a code on every error', () => {
    const e = new OrderNotOpenError('o1', 'filled');
    expect([e.httpStatus, e.code, e.status]).toEqual([409, 'order_not_open', 'filled']);
    expect(new OrderNotFoundError('o1').httpStatus).toBe(404);
    expect(new InvalidAmendError('x').httpStatus).toBe(422);
  });
});
