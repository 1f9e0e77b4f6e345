/**
 * The order lifecycle decider: the order's own view, evolved from catalogue events of every
 * stream that speaks about it (order-, account- and market- streams), and the commands a trader
 * or the venue may issue on it. Illegal transitions throw typed errors (command-api answers 404 /
 * 409 / 422 from `httpStatus`).
 *
 *   pending ─OrderAccepted─► open ─TradeExecuted─► partially_filled ─TradeExecuted─► filled
 *      │                      │  ╲                    │
 *      └─OrderRejected─► rejected  ╲─OrderCancelled─► cancelled ◄─┘   (OrderExpired ─► expired;
 *                                                                      OrderRejectedByEngine ─► rejected)
 */
import type { CancelReason, EventData, RejectReason, TradecoreEvent } from '../events.ts';
import { addFixed, compareDecimals, divideToDecimal, formatFixed, mulFixed, parseFixed, subDecimals, type Fixed } from '../numbers.ts';
import { catalogueEvent, type CatalogueEvent } from './decider.ts';

export type OrderStatus = 'pending' | 'open' | 'partially_filled' | 'filled' | 'cancelled' | 'rejected' | 'expired';
export const TERMINAL_STATUSES: readonly OrderStatus[] = ['filled', 'cancelled', 'rejected', 'expired'];

export interface OrderState {
  /** `none` until OrderPlaced. */
  status: OrderStatus | 'none';
  placed: EventData<'OrderPlaced'> | null;
  /** Current terms (after amends the market applied). */
  price: string | null;
  quantity: string;
  filledQuantity: Fixed;
  /** Σ price × quantity over fills, exact. */
  filledNotional: Fixed;
  remainingQuantity: string;
  fills: number;
  rejectReason: RejectReason | null;
  cancelReason: CancelReason | null;
  /** Amend requests recorded and not yet answered by the account (accepted/rejected). */
  amendsRequested: number;
  cancelRequested: boolean;
}

export function initialOrderState(): OrderState {
  return {
    status: 'none',
    placed: null,
    price: null,
    quantity: '0',
    filledQuantity: { units: 0n, scale: 0 },
    filledNotional: { units: 0n, scale: 0 },
    remainingQuantity: '0',
    fills: 0,
    rejectReason: null,
    cancelReason: null,
    amendsRequested: 0,
    cancelRequested: false,
  };
}

// ---- errors ----

export type OrderErrorCode = 'order_not_found' | 'order_exists' | 'order_not_open' | 'order_not_amendable' | 'invalid_amend';

export abstract class OrderDomainError extends Error {
  abstract readonly code: OrderErrorCode;
  abstract readonly httpStatus: 404 | 409 | 422;
}

/** No such order (or not this user's: ownership is not disclosed). 404. */
export class OrderNotFoundError extends OrderDomainError {
  readonly code = 'order_not_found';
  readonly httpStatus = 404;
  constructor(readonly orderId: string) {
    super(`order ${orderId} not found`);
    this.name = 'OrderNotFoundError';
  }
}

/** The order id is taken by a request with another body (idempotency key reused). 409. */
export class OrderAlreadyExistsError extends OrderDomainError {
  readonly code = 'order_exists';
  readonly httpStatus = 409;
  constructor(readonly orderId: string) {
    super(`order ${orderId} already exists with a different request`);
    this.name = 'OrderAlreadyExistsError';
  }
}

/** The order is filled, cancelled, rejected or expired. 409. */
export class OrderNotOpenError extends OrderDomainError {
  readonly code = 'order_not_open';
  readonly httpStatus = 409;
  constructor(
    readonly orderId: string,
    readonly status: OrderStatus,
  ) {
    super(`order ${orderId} is ${status}`);
    this.name = 'OrderNotOpenError';
  }
}

/** Market orders cannot be amended. 409. */
export class OrderNotAmendableError extends OrderDomainError {
  readonly code = 'order_not_amendable';
  readonly httpStatus = 409;
  constructor(readonly orderId: string) {
    super(`order ${orderId} is a market order and cannot be amended`);
    this.name = 'OrderNotAmendableError';
  }
}

/** An amend that changes nothing or asks for no more than is already filled. 422. */
export class InvalidAmendError extends OrderDomainError {
  readonly code = 'invalid_amend';
  readonly httpStatus = 422;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidAmendError';
  }
}

// ---- commands ----

export type OrderCommand =
  | { kind: 'PlaceOrder'; order: EventData<'OrderPlaced'> }
  | { kind: 'AmendOrder'; orderId: string; userId: number; requestId: string; newPrice: string | null; newQuantity: string | null; requestedAt: string }
  | { kind: 'CancelOrder'; orderId: string; userId: number; requestId: string; requestedAt: string }
  | { kind: 'ExpireOrder'; orderId: string };

export type OrderEvent = CatalogueEvent<'OrderPlaced' | 'OrderAmendRequested' | 'OrderCancelRequested' | 'OrderExpired'>;

function isTerminal(status: OrderState['status']): status is OrderStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

function requireLive(state: OrderState, orderId: string, userId: number | null): EventData<'OrderPlaced'> {
  const placed = state.placed;
  if (!placed || placed.orderId !== orderId || (userId !== null && placed.userId !== userId)) throw new OrderNotFoundError(orderId);
  if (isTerminal(state.status)) throw new OrderNotOpenError(orderId, state.status);
  return placed;
}

/**
 * Decide a command on the order. `PlaceOrder` on an existing order is idempotent when the
 * request hash matches (decides nothing) and an `OrderAlreadyExistsError` otherwise.
 */
export function decideOrder(command: OrderCommand, state: OrderState): OrderEvent[] {
  switch (command.kind) {
    case 'PlaceOrder': {
      if (state.placed) {
        if (state.placed.requestHash === command.order.requestHash && state.placed.orderId === command.order.orderId) return [];
        throw new OrderAlreadyExistsError(command.order.orderId);
      }
      return [catalogueEvent('OrderPlaced', command.order)];
    }
    case 'AmendOrder': {
      const placed = requireLive(state, command.orderId, command.userId);
      if (placed.type === 'market') throw new OrderNotAmendableError(command.orderId);
      if (command.newPrice === null && command.newQuantity === null) throw new InvalidAmendError('an amend changes the price, the quantity or both');
      const samePrice = command.newPrice === null || (state.price !== null && compareDecimals(command.newPrice, state.price) === 0);
      const sameQty = command.newQuantity === null || compareDecimals(command.newQuantity, state.quantity) === 0;
      if (samePrice && sameQty) throw new InvalidAmendError('the amend changes nothing');
      if (command.newQuantity !== null && compareDecimals(command.newQuantity, formatFixed(state.filledQuantity)) <= 0)
        throw new InvalidAmendError(`new quantity must exceed the filled quantity ${formatFixed(state.filledQuantity)}`);
      return [
        catalogueEvent('OrderAmendRequested', {
          orderId: command.orderId,
          userId: command.userId,
          marketId: placed.marketId,
          requestId: command.requestId,
          newPrice: command.newPrice,
          newQuantity: command.newQuantity,
          requestedAt: command.requestedAt,
        }),
      ];
    }
    case 'CancelOrder': {
      const placed = requireLive(state, command.orderId, command.userId);
      return [
        catalogueEvent('OrderCancelRequested', {
          orderId: command.orderId,
          userId: command.userId,
          marketId: placed.marketId,
          requestId: command.requestId,
          requestedAt: command.requestedAt,
        }),
      ];
    }
    case 'ExpireOrder': {
      const placed = requireLive(state, command.orderId, null);
      return [catalogueEvent('OrderExpired', { orderId: placed.orderId, userId: placed.userId, marketId: placed.marketId, expiredQuantity: state.remainingQuantity })];
    }
  }
}

// ---- evolve ----

function orderIdOf(event: TradecoreEvent): string[] {
  switch (event.type) {
    case 'TradeExecuted':
      return [event.data.takerOrderId, event.data.makerOrderId];
    case 'OrderPlaced':
    case 'OrderAccepted':
    case 'OrderRejected':
    case 'OrderAmendRequested':
    case 'OrderAmendAccepted':
    case 'OrderAmendRejected':
    case 'OrderCancelRequested':
    case 'OrderCancelRejected':
    case 'OrderEntered':
    case 'OrderRested':
    case 'OrderCancelled':
    case 'OrderExpired':
    case 'OrderAmended':
    case 'OrderRejectedByEngine':
    case 'OrderAmendRejectedByEngine':
    case 'FillSettled':
    case 'ReservationReleased':
      return [event.data.orderId];
    default:
      return [];
  }
}

/** Fold any catalogue event; events about other orders (or none) leave the state unchanged. */
export function evolveOrder(state: OrderState, event: TradecoreEvent): OrderState {
  if (event.type === 'OrderPlaced') {
    if (state.placed) return state;
    const d = event.data;
    return { ...state, status: 'pending', placed: d, price: d.price, quantity: d.quantity, remainingQuantity: d.quantity };
  }
  const id = state.placed?.orderId;
  if (id === undefined || !orderIdOf(event).includes(id)) return state;
  const terminal = isTerminal(state.status);
  switch (event.type) {
    case 'OrderAccepted':
      return state.status === 'pending' ? { ...state, status: 'open' } : state;
    case 'OrderRejected':
      return terminal ? state : { ...state, status: 'rejected', rejectReason: event.data.reason, remainingQuantity: '0' };
    case 'OrderRested':
      return terminal ? state : { ...state, status: state.fills > 0 ? 'partially_filled' : 'open', remainingQuantity: event.data.remainingQuantity };
    case 'TradeExecuted': {
      const d = event.data;
      const remaining = d.takerOrderId === id ? d.takerRemainingQuantity : d.makerRemainingQuantity;
      const qty = parseFixed(d.quantity, 'quantity');
      return {
        ...state,
        status: terminal ? state.status : compareDecimals(remaining, '0') === 0 ? 'filled' : 'partially_filled',
        filledQuantity: addFixed(state.filledQuantity, qty),
        filledNotional: addFixed(state.filledNotional, mulFixed(parseFixed(d.price, 'price'), qty)),
        remainingQuantity: remaining,
        fills: state.fills + 1,
      };
    }
    case 'OrderCancelled':
      return terminal ? state : { ...state, status: 'cancelled', cancelReason: event.data.reason, remainingQuantity: '0' };
    case 'OrderExpired':
      return terminal ? state : { ...state, status: 'expired', remainingQuantity: '0' };
    case 'OrderRejectedByEngine':
      return terminal ? state : { ...state, status: 'rejected', rejectReason: event.data.reason, remainingQuantity: '0' };
    case 'OrderAmended':
      return terminal
        ? state
        : { ...state, price: event.data.price, quantity: event.data.quantity, remainingQuantity: event.data.remainingQuantity };
    case 'OrderAmendRejectedByEngine':
      // The book refused an amend risk had accepted: the order keeps its terms (risk's acceptance
      // already answered the request, so amendsRequested does not change either).
      return state;
    case 'OrderAmendRequested':
      return { ...state, amendsRequested: state.amendsRequested + 1 };
    case 'OrderAmendAccepted':
    case 'OrderAmendRejected':
      return { ...state, amendsRequested: Math.max(0, state.amendsRequested - 1) };
    case 'OrderCancelRequested':
      return { ...state, cancelRequested: true };
    case 'OrderCancelRejected':
      return { ...state, cancelRequested: false };
    default:
      return state;
  }
}

export const orderDecider = {
  decide: decideOrder,
  evolve: evolveOrder,
  initialState: initialOrderState,
};

// ---- read side ----

export function orderStatus(state: OrderState): OrderStatus | 'none' {
  return state.status;
}

export function isOrderOpen(state: OrderState): boolean {
  return state.status === 'pending' || state.status === 'open' || state.status === 'partially_filled';
}

/** Filled quantity as a decimal string ("0" before any fill). */
export function filledQuantity(state: OrderState): string {
  return formatFixed(state.filledQuantity);
}

export function remainingQuantity(state: OrderState): string {
  return state.remainingQuantity;
}

/** Quantity still open before the fills: current total − filled. */
export function unfilledQuantity(state: OrderState): string {
  return subDecimals(state.quantity, filledQuantity(state));
}

/**
 * Volume-weighted average fill price, as a decimal string, or null before any fill. Exact (all
 * digits) whenever the quotient terminates within `maxDecimals` decimals, which it does for any
 * fills whose total quantity divides a power of ten times the notional; otherwise rounded half up
 * at `maxDecimals` (default 18). See `averageFillPriceFraction` for the exact rational.
 */
export function averageFillPrice(state: OrderState, maxDecimals = 18): string | null {
  if (state.filledQuantity.units === 0n) return null;
  return divideToDecimal(state.filledNotional, state.filledQuantity, maxDecimals);
}

/** The average fill price as an exact fraction of decimal strings: notional / quantity. */
export function averageFillPriceFraction(state: OrderState): { notional: string; quantity: string } | null {
  if (state.filledQuantity.units === 0n) return null;
  return { notional: formatFixed(state.filledNotional), quantity: formatFixed(state.filledQuantity) };
}

/** Fold a list of events into the order's view. */
export function orderView(events: readonly TradecoreEvent[]): OrderState {
  return events.reduce(evolveOrder, initialOrderState());
}
