import { describe, expect, it } from 'vitest';
import { OrderNotifier } from './notifier.ts';
import type { Order } from '../api/types.ts';

const T0 = Date.parse('2026-11-26T12:00:00.000Z');
function order(over: Partial<Order>): Order {
  return {
    orderId: 'o1',
    clientOrderId: null,
    marketId: 1,
    side: 'sell',
    type: 'limit',
    timeInForce: 'GTC',
    price: '10',
    quantity: '2',
    filledQuantity: '0',
    averageFillPrice: null,
    status: 'open',
    rejectReason: null,
    createdAt: new Date(T0 + 1000).toISOString(),
    updatedAt: new Date(T0 + 1000).toISOString(),
    ...over,
  };
}

describe('OrderNotifier', () => {
  it('announces fills by their increment and a rejection once', () => {
    const n = new OrderNotifier(T0);
    expect(n.observe([order({ status: 'pending' })]).map((x) => x.kind)).toEqual([]);
    const partial = n.observe([order({ status: 'partially_filled', filledQuantity: '0.5' })]);
    expect(partial).toHaveLength(2);
    expect(partial[0]).toMatchObject({ kind: 'fill', complete: false });
    expect(partial[1]?.kind).toBe('accepted');
    const full = n.observe([order({ status: 'filled', filledQuantity: '2' })]);
    expect(full).toEqual([expect.objectContaining({ kind: 'fill', complete: true })]);
    expect(n.observe([order({ orderId: 'o2', status: 'rejected', rejectReason: 'kill_switch' })]).map((x) => x.kind)).toEqual(['rejected']);
    expect(n.observe([order({ orderId: 'o2', status: 'rejected', rejectReason: 'kill_switch' })])).toEqual([]);
  });

  it('ignores stale snapshots that arrive after a newer push (no duplicate toasts)', () => {
    const n = new OrderNotifier(T0);
    n.expect({ orderId: 'o1' });
    expect(n.observe([order({ status: 'filled', filledQuantity: '2' })])).toHaveLength(1);
    expect(n.observe([order({ status: 'open', filledQuantity: '0' })])).toEqual([]); // stale refetch
    expect(n.observe([order({ status: 'filled', filledQuantity: '2' })])).toEqual([]); // and back
    n.observe([order({ orderId: 'r', status: 'rejected', rejectReason: 'price_band' })]);
    expect(n.observe([order({ orderId: 'r', status: 'pending' })])).toEqual([]);
    expect(n.observe([order({ orderId: 'r', status: 'rejected', rejectReason: 'price_band' })])).toEqual([]);
  });

  it('does not announce old history on first sight', () => {
    const n = new OrderNotifier(T0 + 3_600_000);
    expect(n.observe([order({ status: 'filled', filledQuantity: '2' }), order({ orderId: 'x', status: 'rejected' })])).toEqual([]);
  });
});
