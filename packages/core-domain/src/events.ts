/**
 * The event catalogue: every fact Tradecore records, with its zod schema.
 *
 * Amounts, prices and quantities are decimal strings in the log so that an auditor can read
 * them without knowing a market's tick or lot size; the domain turns them into integer ticks,
 * lots and asset units (bigint) before doing arithmetic. See docs/events.md and
 * docs/architecture.md for streams, ownership and routing.
 */
import { z } from 'zod';

/** A non-negative decimal string without exponent or sign, e.g. "101.25", "0", "0.5". */
export const DecimalString = z
  .string()
  .regex(/^(0|[1-9]\d{0,29})(\.\d{1,18})?$/, 'must be a non-negative decimal string');
export const PositiveDecimalString = DecimalString.refine((s) => /[1-9]/.test(s), 'must be positive');

export const Side = z.enum(['buy', 'sell']);
export type Side = z.infer<typeof Side>;
export const OrderType = z.enum(['limit', 'market']);
export type OrderType = z.infer<typeof OrderType>;
export const TimeInForce = z.enum(['GTC', 'IOC', 'FOK']);
export type TimeInForce = z.infer<typeof TimeInForce>;
export const SelfTradePrevention = z.enum(['cancel_newest', 'cancel_oldest', 'cancel_both', 'decrement']);
export type SelfTradePrevention = z.infer<typeof SelfTradePrevention>;
export const Role = z.enum(['trader', 'admin']);
export type Role = z.infer<typeof Role>;
export const Liquidity = z.enum(['maker', 'taker']);
export type Liquidity = z.infer<typeof Liquidity>;

export const RejectReason = z.enum([
  'insufficient_funds',
  'insufficient_position',
  'max_order_quantity',
  'max_order_notional',
  'price_band',
  'kill_switch',
  'market_halted',
  'self_trade',
  'fok_unfillable',
  'post_only_would_take',
  'no_liquidity',
  'max_open_orders',
  'order_rate',
  'unknown_market',
  'unknown_order',
  'order_not_open',
  /** Price not a positive multiple of the market's tick (command-api validates; defensive). */
  'invalid_price',
  /** Quantity not a positive multiple of the market's lot (command-api validates; defensive). */
  'invalid_quantity',
  /**
   * A handler could not decide the input at all: its decider threw on every attempt and the input
   * was dead-lettered; the refusal is written in the decision's place, never decided by a rule.
   * The execution handler (`OrderRejectedByEngine`, `OrderAmendRejectedByEngine`), so that what risk
   * reserved is released instead of held forever; the risk handler (`OrderRejected`,
   * `OrderAmendRejected`, `OrderCancelRejected`, rule `engine.error`, nothing reserved), so that a
   * trader's request is answered instead of staying pending forever.
   */
  'engine_error',
]);
export type RejectReason = z.infer<typeof RejectReason>;

export const CancelReason = z.enum([
  'user',
  'ioc_remainder',
  'market_remainder',
  'self_trade',
  'kill_switch',
  'market_halted',
  'amend_rejected',
]);
export type CancelReason = z.infer<typeof CancelReason>;

const Iso = z.string().datetime({ offset: false });
const Uuidish = z.string().min(1).max(64);
const UserId = z.number().int().positive();
const MarketId = z.number().int().positive();

function event<T extends string, S extends z.ZodRawShape>(type: T, shape: S) {
  return z.object({ type: z.literal(type), schemaVersion: z.literal(1), data: z.object(shape).strict() });
}

// ---- users stream (registry: userId = stream revision + 1) ----
export const UserRegistered = event('UserRegistered', {
  userId: UserId,
  username: z.string(),
  passwordHash: z.string(),
  roles: z.array(Role).min(1),
});

// ---- erasures stream (right to erasure; one event per forgotten user, expected revision) ----
/**
 * An admin forgot a user: the user's data key was deleted from the vault (crypto-shredding), so the
 * sealed personal fields of their `UserRegistered` can no longer be opened. The events themselves
 * (and the hash chains) are unchanged. Who: `forgottenBy` (and `metadata.userId`); when:
 * `metadata.occurredAt`; why: `reason`.
 */
export const UserForgotten = event('UserForgotten', {
  userId: UserId,
  reason: z.string(),
  forgottenBy: UserId,
});

// ---- markets stream (registry: marketId = stream revision + 1) ----
export const MarketListed = event('MarketListed', {
  marketId: MarketId,
  symbol: z.string(),
  baseAsset: z.string(),
  quoteAsset: z.string(),
  tickSize: PositiveDecimalString,
  lotSize: PositiveDecimalString,
  referencePrice: PositiveDecimalString.nullable(),
  makerFeeBps: z.number().int().min(0).max(1000),
  takerFeeBps: z.number().int().min(0).max(1000),
  maxOrderQuantity: PositiveDecimalString,
  maxOrderNotional: PositiveDecimalString,
  /** Orders priced further than this from the reference/last price are rejected (`price_band`). */
  priceBandBps: z.number().int().positive(),
  listedBy: UserId,
});
export const MarketHalted = event('MarketHalted', { marketId: MarketId, reason: z.string(), haltedBy: UserId });
export const MarketResumed = event('MarketResumed', { marketId: MarketId, reason: z.string(), resumedBy: UserId });

// ---- control stream ----
export const KillSwitchScope = z.enum(['global', 'market', 'user']);
export type KillSwitchScope = z.infer<typeof KillSwitchScope>;
const killSwitchShape = {
  scope: KillSwitchScope,
  marketId: MarketId.nullable(),
  userId: UserId.nullable(),
  reason: z.string(),
  changedBy: UserId,
};
export const KillSwitchEngaged = event('KillSwitchEngaged', killSwitchShape);
export const KillSwitchReleased = event('KillSwitchReleased', killSwitchShape);

// ---- order-{orderId} streams: requests recorded by command-api ----
export const OrderPlaced = event('OrderPlaced', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  side: Side,
  type: OrderType,
  timeInForce: TimeInForce,
  price: PositiveDecimalString.nullable(),
  quantity: PositiveDecimalString,
  postOnly: z.boolean(),
  selfTradePrevention: SelfTradePrevention,
  clientOrderId: z.string().nullable(),
  /** SHA-256 of the canonical request body: a retry with the same key and another body is a 409. */
  requestHash: z.string(),
  placedAt: Iso,
});
export const OrderAmendRequested = event('OrderAmendRequested', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  requestId: Uuidish,
  newPrice: PositiveDecimalString.nullable(),
  newQuantity: PositiveDecimalString.nullable(),
  requestedAt: Iso,
});
export const OrderCancelRequested = event('OrderCancelRequested', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  requestId: Uuidish,
  requestedAt: Iso,
});

// ---- account-{userId} streams: written by command-api (deposits) and the risk handler ----
export const FundsDeposited = event('FundsDeposited', {
  depositId: Uuidish,
  userId: UserId,
  asset: z.string(),
  amount: PositiveDecimalString,
  depositedBy: UserId,
});
/** What the risk rule saw when it decided; recorded so `tradectl recheck` can re-run the decision. */
export const RiskCheck = z
  .object({ rule: z.string(), limit: z.string().nullable(), observed: z.string().nullable() })
  .strict();
export const OrderAccepted = event('OrderAccepted', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  side: Side,
  type: OrderType,
  timeInForce: TimeInForce,
  price: PositiveDecimalString.nullable(),
  /** For market orders: the worst price the protection band allows. */
  protectionPrice: PositiveDecimalString.nullable(),
  quantity: PositiveDecimalString,
  postOnly: z.boolean(),
  selfTradePrevention: SelfTradePrevention,
  reservedAsset: z.string(),
  reservedAmount: DecimalString,
  checks: z.array(RiskCheck),
});
export const OrderRejected = event('OrderRejected', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  reason: RejectReason,
  rule: z.string(),
  limit: z.string().nullable(),
  observed: z.string().nullable(),
});
export const OrderAmendAccepted = event('OrderAmendAccepted', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  requestId: Uuidish,
  newPrice: PositiveDecimalString,
  newQuantity: PositiveDecimalString,
  /** Signed change of the reservation, as a decimal string with optional leading '-'. */
  reservationDelta: z.string().regex(/^-?(0|[1-9]\d*)(\.\d+)?$/),
  reservedAsset: z.string(),
});
export const OrderAmendRejected = event('OrderAmendRejected', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  requestId: Uuidish,
  reason: RejectReason,
  rule: z.string(),
  limit: z.string().nullable(),
  observed: z.string().nullable(),
});
/**
 * Risk's acceptance of a cancel request, appended after the order's own acceptance. The execution
 * handler cancels on this event, never on the request: a request can be recorded before risk has
 * accepted the order, and would then reach the book before the order does and be lost.
 */
export const OrderCancelAccepted = event('OrderCancelAccepted', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  requestId: Uuidish,
});
export const OrderCancelRejected = event('OrderCancelRejected', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  requestId: Uuidish,
  reason: RejectReason,
});
/** Settlement of one side of a trade on the account: cash and instrument moved, fee paid, reservation released. */
export const FillSettled = event('FillSettled', {
  tradeId: Uuidish,
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  side: Side,
  liquidity: Liquidity,
  price: PositiveDecimalString,
  quantity: PositiveDecimalString,
  baseAsset: z.string(),
  quoteAsset: z.string(),
  /** Quote paid (buy) or received before fees (sell). */
  notional: DecimalString,
  fee: DecimalString,
  feeAsset: z.string(),
  reservationReleased: DecimalString,
  /** The order's open quantity after this fill ("0": filled, any leftover reservation released). */
  remainingQuantity: DecimalString.optional(),
  /**
   * Settled after a later market fact about the same open order (`tradectl redrive` of a dead-lettered
   * trade): `remainingQuantity` is the one that later fact set, which already counts this fill, and
   * `reservationReleased` is what the order held beyond what its terms then needed.
   */
  late: z.boolean().optional(),
});
export const ReservationReleased = event('ReservationReleased', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  asset: z.string(),
  amount: DecimalString,
  cause: z.enum(['cancelled', 'expired', 'rejected', 'filled', 'amended', 'amend_rejected']),
  /**
   * Cause `amended` only: the order's terms after the market changed it (an `OrderAmended`, from a
   * trader's amend or a self-trade decrement), so the account stream alone rebuilds the order.
   */
  price: PositiveDecimalString.optional(),
  quantity: PositiveDecimalString.optional(),
  remainingQuantity: DecimalString.optional(),
  /**
   * Cause `amend_rejected` only: the amend the book refused (`OrderAmendRejectedByEngine`). The order
   * stays open on its terms; the account stream names the request so that it alone knows which
   * pending amend to drop (two pending amends may ask for the same terms).
   */
  requestId: Uuidish.optional(),
});

// ---- market-{marketId} streams: written by the execution handler only ----
/**
 * The accepted order as the matching engine took it in, first event of every order decision:
 * the exact book command, so that the market stream alone rebuilds the book by replay.
 */
export const OrderEntered = event('OrderEntered', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  side: Side,
  type: OrderType,
  timeInForce: TimeInForce,
  price: PositiveDecimalString.nullable(),
  protectionPrice: PositiveDecimalString.nullable(),
  quantity: PositiveDecimalString,
  postOnly: z.boolean(),
  selfTradePrevention: SelfTradePrevention,
});
export const OrderRested = event('OrderRested', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  side: Side,
  price: PositiveDecimalString,
  remainingQuantity: PositiveDecimalString,
});
export const TradeExecuted = event('TradeExecuted', {
  tradeId: Uuidish,
  marketId: MarketId,
  price: PositiveDecimalString,
  quantity: PositiveDecimalString,
  takerSide: Side,
  takerOrderId: Uuidish,
  takerUserId: UserId,
  makerOrderId: Uuidish,
  makerUserId: UserId,
  takerFee: DecimalString,
  makerFee: DecimalString,
  /** Remaining open quantity of each order after this trade; 0 means the order is filled. */
  takerRemainingQuantity: DecimalString,
  makerRemainingQuantity: DecimalString,
  executedAt: Iso,
});
export const OrderCancelled = event('OrderCancelled', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  reason: CancelReason,
  cancelledQuantity: DecimalString,
});
export const OrderExpired = event('OrderExpired', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  expiredQuantity: DecimalString,
});
export const OrderAmended = event('OrderAmended', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  price: PositiveDecimalString,
  quantity: PositiveDecimalString,
  remainingQuantity: PositiveDecimalString,
  priorityLost: z.boolean(),
});
/**
 * A rejection decided by the matching engine (post-only would take, FOK unfillable, no liquidity,
 * a kill switch or halt engaged since risk accepted it, terms off the tick or lot), or written by
 * the execution handler for an accepted order its decider could not decide (`engine_error`, the
 * input dead-lettered; no `OrderEntered` before it: the order never reached the book).
 */
export const OrderRejectedByEngine = event('OrderRejectedByEngine', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  reason: RejectReason,
  rejectedQuantity: DecimalString,
});
/** Why the book refused an amend risk had accepted (a subset of RejectReason). */
export const AmendRefusalReason = RejectReason.extract(['post_only_would_take', 'order_not_open', 'invalid_price', 'invalid_quantity', 'engine_error']);
export type AmendRefusalReason = z.infer<typeof AmendRefusalReason>;
/**
 * The book refused an amend that risk had accepted (`OrderAmendAccepted`): a post-only order whose
 * new price would take, an order no longer resting (filled, cancelled or expired in between, so
 * no terms), or terms off the market's tick or lot; or, with `engine_error`, the execution handler
 * could not decide the amend at all (its input was dead-lettered). Nothing in the book changed.
 * Without it the trader's request had no outcome and the account kept the amend's extra reservation
 * until the order ended; the account answers it with a `ReservationReleased` of cause
 * `amend_rejected`.
 */
export const OrderAmendRejectedByEngine = event('OrderAmendRejectedByEngine', {
  orderId: Uuidish,
  userId: UserId,
  marketId: MarketId,
  requestId: Uuidish,
  /** The refused terms, as risk accepted them: with them the market stream alone re-runs the refusal on replay. */
  newPrice: PositiveDecimalString,
  newQuantity: PositiveDecimalString,
  reason: AmendRefusalReason,
  /** The order's terms as they stand, when it still rests (`order_not_open`: never; `engine_error`: when the book holds it). */
  price: PositiveDecimalString.optional(),
  quantity: PositiveDecimalString.optional(),
  remainingQuantity: PositiveDecimalString.optional(),
});

export const TradecoreEvent = z.discriminatedUnion('type', [
  UserRegistered,
  UserForgotten,
  MarketListed,
  MarketHalted,
  MarketResumed,
  KillSwitchEngaged,
  KillSwitchReleased,
  OrderPlaced,
  OrderAmendRequested,
  OrderCancelRequested,
  FundsDeposited,
  OrderAccepted,
  OrderRejected,
  OrderAmendAccepted,
  OrderAmendRejected,
  OrderCancelAccepted,
  OrderCancelRejected,
  FillSettled,
  ReservationReleased,
  OrderEntered,
  OrderRested,
  TradeExecuted,
  OrderCancelled,
  OrderExpired,
  OrderAmended,
  OrderRejectedByEngine,
  OrderAmendRejectedByEngine,
]);
export type TradecoreEvent = z.infer<typeof TradecoreEvent>;
export type TradecoreEventType = TradecoreEvent['type'];
export type EventOf<T extends TradecoreEventType> = Extract<TradecoreEvent, { type: T }>;
export type EventData<T extends TradecoreEventType> = EventOf<T>['data'];

export const EVENT_TYPES: readonly TradecoreEventType[] = TradecoreEvent.options.map(
  (o): TradecoreEventType => o.shape.type.value,
);

/**
 * Upcasters turn an older schemaVersion of an event's data into the current one. Keyed by
 * `${type}@${fromVersion}`; each returns data at fromVersion + 1. None exist yet: every event is at v1.
 */
export const upcasters: Partial<Record<string, (data: unknown) => unknown>> = {};

export class EventSchemaError extends Error {
  constructor(
    readonly eventType: string,
    readonly issues: string,
  ) {
    super(`event ${eventType} does not match its schema: ${issues}`);
    this.name = 'EventSchemaError';
  }
}

/**
 * The schema version a recorded event's data was written with: its metadata's `schemaVersion`, or
 * 1 when the metadata has no number there (events written before the field existed).
 */
export function recordedSchemaVersion(metadata: unknown): number {
  const v = (metadata as { schemaVersion?: unknown } | null | undefined)?.schemaVersion;
  return typeof v === 'number' ? v : 1;
}

/** Parse a recorded (type, schemaVersion, data) into a typed, current-version event. */
export function parseEvent(type: string, schemaVersion: number, data: unknown): TradecoreEvent {
  let version = schemaVersion;
  let current = data;
  while (version < 1 || upcasters[`${type}@${version}`]) {
    const up = upcasters[`${type}@${version}`];
    if (!up) break;
    current = up(current);
    version += 1;
  }
  const parsed = TradecoreEvent.safeParse({ type, schemaVersion: version, data: current });
  if (!parsed.success) throw new EventSchemaError(type, parsed.error.message);
  return parsed.data;
}

export function isTradecoreEventType(type: string): type is TradecoreEventType {
  return (EVENT_TYPES as readonly string[]).includes(type);
}

// ---- stream names ----
export const streams = {
  users: 'users',
  /** `UserForgotten`, one per forgotten user (not in `users`: there userId = revision + 1). */
  erasures: 'erasures',
  markets: 'markets',
  control: 'control',
  order: (orderId: string) => `order-${orderId}`,
  account: (userId: number) => `account-${userId}`,
  market: (marketId: number) => `market-${marketId}`,
} as const;
