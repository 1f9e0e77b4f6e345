/** Turns successive snapshots of the user's orders into fill and rejection notices (for toasts). */
import type { Order } from '../api/types.ts';
import { cmp, dec, parseDecimal, sub, type Dec } from './decimal.ts';

export type OrderNotice =
  | { kind: 'fill'; order: Order; quantity: Dec; complete: boolean }
  | { kind: 'rejected'; order: Order }
  | { kind: 'accepted'; order: Order };

interface Seen {
  status: Order['status'];
  filled: Dec;
}

/** pending → open/partially filled → final: a snapshot that goes backwards is stale. */
function rank(status: Order['status']): number {
  switch (status) {
    case 'pending':
      return 0;
    case 'open':
    case 'partially_filled':
      return 1;
    case 'filled':
    case 'cancelled':
    case 'rejected':
    case 'expired':
      return 2;
  }
}

const FRESH_MS = 5_000;

export class OrderNotifier {
  private readonly seen = new Map<string, Seen>();

  /** `since`: orders created after this (ms) that we first see already filled or rejected are news. */
  constructor(private readonly since: number) {}

  /** Register an order this UI just placed, so its outcome is reported even if it is final on first sight. */
  expect(order: Pick<Order, 'orderId'>): void {
    if (!this.seen.has(order.orderId)) this.seen.set(order.orderId, { status: 'pending', filled: dec('0') });
  }

  observe(orders: readonly Order[]): OrderNotice[] {
    const notices: OrderNotice[] = [];
    for (const order of orders) {
      const filled = parseDecimal(order.filledQuantity) ?? dec('0');
      const prev = this.seen.get(order.orderId);
      // A response that left the server before a newer pushed update: ignore it, never re-announce.
      if (prev && (rank(order.status) < rank(prev.status) || cmp(filled, prev.filled) < 0)) continue;
      this.seen.set(order.orderId, { status: order.status, filled });
      const fresh = Date.parse(order.createdAt) >= this.since - FRESH_MS;
      const before: Seen | null = prev ?? (fresh ? { status: 'pending', filled: dec('0') } : null);
      if (!before) continue;
      if (cmp(filled, before.filled) > 0)
        notices.push({ kind: 'fill', order, quantity: sub(filled, before.filled), complete: order.status === 'filled' });
      if (order.status !== before.status) {
        if (order.status === 'rejected') notices.push({ kind: 'rejected', order });
        else if (before.status === 'pending' && (order.status === 'open' || order.status === 'partially_filled'))
          notices.push({ kind: 'accepted', order });
      }
    }
    return notices;
  }
}
