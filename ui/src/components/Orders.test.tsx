import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { OpenOrdersTable, OrderHistoryTable } from './Orders.tsx';
import { ToastProvider } from './Toasts.tsx';
import { queryKeys } from '../api/queries.ts';
import type { Market, Order, Page } from '../api/types.ts';
import { amendRejectReasonText } from '../lib/rejectReasons.ts';

const market: Market = { marketId: 1, symbol: 'BTC-USD', baseAsset: 'BTC', quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.001', currentPrice: '100', status: 'open' };

function order(over: Partial<Order>): Order {
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
    amend: null,
    createdAt: '2026-11-26T12:00:00.000Z',
    updatedAt: '2026-11-26T12:00:00.000Z',
    ...over,
  };
}

const orders: Order[] = [
  order({ orderId: 'refused-by-book', amend: { requestId: 'r1', status: 'rejected', rejectReason: 'post_only_would_take', price: '101', quantity: '2' } }),
  order({ orderId: 'refused-by-risk', amend: { requestId: 'r2', status: 'rejected', rejectReason: 'insufficient_funds', price: '100', quantity: '50' } }),
  order({ orderId: 'waiting', amend: { requestId: 'r3', status: 'pending', rejectReason: null, price: '99.5', quantity: '2' } }),
  order({ orderId: 'applied', price: '98', amend: { requestId: 'r4', status: 'applied', rejectReason: null, price: '98', quantity: '2' } }),
  order({ orderId: 'never-amended' }),
  // the order filled before the book could apply it: the amend is still refused, not pending
  order({ orderId: 'filled-meanwhile', status: 'filled', filledQuantity: '2', averageFillPrice: '100', amend: { requestId: 'r5', status: 'rejected', rejectReason: 'order_not_open', price: '101', quantity: '2' } }),
  // an amend to no more than was filled ends the order cancelled, and the API shows it applied
  order({ orderId: 'cancelled-by-amend', status: 'cancelled', filledQuantity: '1', averageFillPrice: '100', amend: { requestId: 'r6', status: 'applied', rejectReason: null, price: '100', quantity: '1' } }),
  // filled while the amend was on its way: pending only until the book's refusal (order_not_open) is read
  order({ orderId: 'refusal-on-its-way', status: 'filled', filledQuantity: '2', averageFillPrice: '100', amend: { requestId: 'r7', status: 'pending', rejectReason: null, price: '99', quantity: '2' } }),
];

/** Both tables read from the query cache, filled the way the API answers (no network). */
function renderWith(ui: React.ReactNode) {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } });
  qc.setQueryData<Market[]>(queryKeys.markets(), [market]);
  const page = (status: 'open' | 'all'): Page<Order> => ({ items: orders.filter((o) => status === 'all' || o.status === 'open'), nextCursor: null });
  qc.setQueryData(queryKeys.orders('open', undefined), page('open'));
  qc.setQueryData(queryKeys.orders('all', undefined), page('all'));
  render(
    <QueryClientProvider client={qc}>
      <ToastProvider>{ui}</ToastProvider>
    </QueryClientProvider>,
  );
}

function amendNote(table: HTMLElement, orderId: string): string | null {
  const row = table.querySelector(`tr[data-order-id="${orderId}"]`);
  expect(row, orderId).not.toBeNull();
  return within(row as HTMLElement).queryByTestId('amend-status')?.textContent ?? null;
}

describe('the outcome of an amend in the order tables', () => {
  it('shows open orders with a refused amend and its reason, and a pending amend as pending', () => {
    renderWith(<OpenOrdersTable />);
    const table = screen.getByTestId('open-orders');
    expect(amendNote(table, 'refused-by-book')).toBe(`Amend to 101 × 2 refused: ${amendRejectReasonText('post_only_would_take')}`);
    expect(amendNote(table, 'refused-by-risk')).toBe(`Amend to 100 × 50 refused: ${amendRejectReasonText('insufficient_funds')}`);
    expect(amendNote(table, 'waiting')).toBe('Amend to 99.5 × 2 pending…');
    // an applied amend is the order's terms now: nothing more to say
    expect(amendNote(table, 'applied')).toBeNull();
    expect(amendNote(table, 'never-amended')).toBeNull();
  });

  it('shows the same in the order history, also on orders that have ended', () => {
    renderWith(<OrderHistoryTable />);
    const table = screen.getByTestId('order-history');
    expect(amendNote(table, 'refused-by-book')).toBe(`Amend to 101 × 2 refused: ${amendRejectReasonText('post_only_would_take')}`);
    expect(amendNote(table, 'waiting')).toBe('Amend to 99.5 × 2 pending…');
    expect(amendNote(table, 'filled-meanwhile')).toBe(`Amend to 101 × 2 refused: ${amendRejectReasonText('order_not_open')}`);
    expect(amendNote(table, 'applied')).toBeNull();
    expect(amendNote(table, 'cancelled-by-amend')).toBeNull();
    expect(amendNote(table, 'refusal-on-its-way')).toBeNull();
  });
});
