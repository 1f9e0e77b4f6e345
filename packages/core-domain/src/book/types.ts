/**
 * The order book's language: commands in, events out, integers only (ticks and lots), no I/O.
 * Both books (the reference book and the fast book) implement `OrderBook` and pass one suite.
 */
import type { SelfTradePrevention, Side, TimeInForce } from '../events.ts';

export interface BookPlace {
  kind: 'place';
  orderId: string;
  userId: number;
  side: Side;
  type: 'limit' | 'market';
  timeInForce: TimeInForce;
  /** Limit price in ticks; for market orders the protection price (worst acceptable) in ticks. */
  priceTicks: bigint;
  lots: bigint;
  postOnly: boolean;
  selfTradePrevention: SelfTradePrevention;
}
export interface BookCancel {
  kind: 'cancel';
  orderId: string;
}
export interface BookAmend {
  kind: 'amend';
  orderId: string;
  /** New limit price in ticks (unchanged when equal to the current one). */
  priceTicks: bigint;
  /** New total order quantity in lots (original quantity semantics: remaining = new total - filled). */
  lots: bigint;
}
export type BookCommand = BookPlace | BookCancel | BookAmend;

export type BookEvent =
  | { kind: 'rested'; orderId: string; userId: number; side: Side; priceTicks: bigint; remainingLots: bigint }
  | {
      kind: 'trade';
      takerOrderId: string;
      takerUserId: number;
      makerOrderId: string;
      makerUserId: number;
      takerSide: Side;
      priceTicks: bigint;
      lots: bigint;
      takerRemainingLots: bigint;
      makerRemainingLots: bigint;
    }
  | {
      kind: 'cancelled';
      orderId: string;
      userId: number;
      reason: 'user' | 'ioc_remainder' | 'market_remainder' | 'self_trade';
      cancelledLots: bigint;
    }
  | {
      kind: 'rejected';
      orderId: string;
      userId: number;
      reason: 'post_only_would_take' | 'fok_unfillable' | 'no_liquidity' | 'unknown_order' | 'order_not_open' | 'duplicate_order';
      rejectedLots: bigint;
    }
  | { kind: 'amended'; orderId: string; userId: number; priceTicks: bigint; lots: bigint; remainingLots: bigint; priorityLost: boolean };

export interface DepthLevel {
  priceTicks: bigint;
  lots: bigint;
  orders: number;
}
export interface Depth {
  bids: DepthLevel[];
  asks: DepthLevel[];
}

export interface RestingOrderView {
  orderId: string;
  userId: number;
  side: Side;
  priceTicks: bigint;
  /** Total quantity of the order (after amends) and what is still open. */
  lots: bigint;
  remainingLots: bigint;
  selfTradePrevention: SelfTradePrevention;
  /** A post-only order stays a maker for its whole life: an amend that would take is rejected. */
  postOnly: boolean;
}

/** A serialisable snapshot: resting orders in priority order per side (best first, FIFO within a level). */
export interface BookSnapshot {
  version: 1;
  bids: RestingOrderView[];
  asks: RestingOrderView[];
}

export interface OrderBook {
  execute(command: BookCommand): BookEvent[];
  depth(levels: number): Depth;
  restingOrder(orderId: string): RestingOrderView | undefined;
  /** Every resting order, in priority order: bids best first, then asks best first. */
  restingOrders(): RestingOrderView[];
  bestBid(): bigint | null;
  bestAsk(): bigint | null;
  snapshot(): BookSnapshot;
  /** SHA-256 (hex) over the canonical snapshot: equal books have equal hashes. */
  stateHash(): string;
  /** Throws if an internal invariant is broken (crossed book, level totals, index consistency). */
  validateInternalState(): void;
}

/** Which implementation of `OrderBook` to build (see `createOrderBook`, `restoreBook`). */
export type BookKind = 'reference' | 'fast';

/** The place-rejection reasons and cancel reasons a book can emit, for exhaustive handling downstream. */
export type BookRejectReason = Extract<BookEvent, { kind: 'rejected' }>['reason'];
export type BookCancelReason = Extract<BookEvent, { kind: 'cancelled' }>['reason'];

/**
 * Thrown for a malformed command (non-positive or out-of-range price or quantity). Such a command
 * cannot come from a validated event; business outcomes are always events, never exceptions.
 */
export class MalformedBookCommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedBookCommandError';
  }
}

/** Thrown by `validateInternalState()` or when restoring a corrupt snapshot. */
export class BookInvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BookInvariantError';
  }
}
