/**
 * A cheaper check than zod for recorded events: `fastParseEvent(type, schemaVersion, data)`.
 *
 * It answers only when it is sure: every check here is the same as, or narrower than, the event's
 * zod schema in events.ts (strict objects, the same regular expressions, safe integers, the same
 * enum values; ISO times only in the form every month accepts). When it accepts, zod would accept
 * the same data and return an equal copy of it, so the event is built around the data as given
 * (not a copy: callers must treat it as read-only, like every catalogue event). Anything else —
 * another schema version, an unknown key, a value outside the narrow forms, a type without a
 * checker here (every catalogue type has one, so only an unknown type) — returns undefined, and the
 * caller goes through `parseEvent` (zod), whose verdict and error message stand. Nothing is accepted that zod would reject; the property test in
 * fast-parse.test.ts holds it to that.
 *
 * Used by the engine's handlers for their inputs and stream loads (with `parseEvent` behind it)
 * and by the projections' replay path.
 */
import { AmendRefusalReason, CancelReason, KillSwitchScope, Liquidity, OrderType, RejectReason, ReservationReleased, Role, SelfTradePrevention, Side, TimeInForce, type TradecoreEvent } from './events.ts';

type Check = (value: unknown) => boolean;

// The regular expressions of core-domain's DecimalString, PositiveDecimalString and reservationDelta.
const DECIMAL = /^(0|[1-9]\d{0,29})(\.\d{1,18})?$/;
const NONZERO_DIGIT = /[1-9]/;
const SIGNED_DECIMAL = /^-?(0|[1-9]\d*)(\.\d+)?$/;
// zod's `datetime({ offset: false })` accepts a calendar-checked date, HH:MM:SS, any fraction, `Z`;
// days 01–28 exist in every month, so this narrower form never accepts what zod refuses.
const ISO_NARROW = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?Z$/;

const str: Check = (v) => typeof v === 'string';
const decimal: Check = (v) => typeof v === 'string' && DECIMAL.test(v);
const positive: Check = (v) => typeof v === 'string' && DECIMAL.test(v) && NONZERO_DIGIT.test(v);
const signedDecimal: Check = (v) => typeof v === 'string' && SIGNED_DECIMAL.test(v);
const iso: Check = (v) => typeof v === 'string' && ISO_NARROW.test(v);
const uuidish: Check = (v) => typeof v === 'string' && v.length >= 1 && v.length <= 64;
const id: Check = (v) => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
const bool: Check = (v) => typeof v === 'boolean';
const bps: Check = (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= 1000;
const nullable =
  (c: Check): Check =>
  (v) =>
    v === null || c(v);
const oneOf = (values: readonly string[]): Check => {
  const set = new Set(values);
  return (v) => typeof v === 'string' && set.has(v);
};

interface Shape {
  fields: ReadonlyMap<string, Check>;
  /** The keys that must be present (all but the optional ones). */
  required: readonly string[];
}

/** `optional` keys may be missing; a present key must pass its check (an undefined value is left to zod). */
function shape(fields: Record<string, Check>, optional: readonly string[] = []): Shape {
  return { fields: new Map(Object.entries(fields)), required: Object.keys(fields).filter((k) => !optional.includes(k)) };
}

function plainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function matches(value: unknown, s: Shape): boolean {
  if (!plainObject(value)) return false;
  let present = 0;
  // for-in over a plain object (checked above: no inherited enumerable keys) allocates no key array.
  for (const key in value) {
    const check = s.fields.get(key);
    const v = value[key];
    if (!check || v === undefined || !check(v)) return false;
    present += 1;
  }
  if (present === s.fields.size) return true;
  // Every enumerable own key was checked above; a required key must be one of them. (An own key
  // that for-in skips — non-enumerable — is still read by zod, so it is not taken as checked.)
  for (const key of s.required) if (!Object.prototype.propertyIsEnumerable.call(value, key)) return false;
  return true;
}

const side = oneOf(Side.options);
const orderType = oneOf(OrderType.options);
const timeInForce = oneOf(TimeInForce.options);
const selfTrade = oneOf(SelfTradePrevention.options);
const rejectReason = oneOf(RejectReason.options);
const cancelReason = oneOf(CancelReason.options);
const role = oneOf(Role.options);
const riskCheck = shape({ rule: str, limit: nullable(str), observed: nullable(str) });
const releaseCause = oneOf(ReservationReleased.shape.data.shape.cause.options);

const request = { orderId: uuidish, userId: id, marketId: id, requestId: uuidish };
/** An order's terms as OrderEntered records them; OrderAccepted adds its reservation and checks. */
const orderTerms = {
  orderId: uuidish,
  userId: id,
  marketId: id,
  side,
  type: orderType,
  timeInForce,
  price: nullable(positive),
  protectionPrice: nullable(positive),
  quantity: positive,
  postOnly: bool,
  selfTradePrevention: selfTrade,
};

const killSwitch = shape({ scope: oneOf(KillSwitchScope.options), marketId: nullable(id), userId: nullable(id), reason: str, changedBy: id });

const SHAPES: ReadonlyMap<string, Shape> = new Map<string, Shape>([
  [
    'UserRegistered',
    shape({
      userId: id,
      username: str,
      passwordHash: str,
      roles: (v) => Array.isArray(v) && v.length >= 1 && v.every(role),
    }),
  ],
  [
    'MarketListed',
    shape({
      marketId: id,
      symbol: str,
      baseAsset: str,
      quoteAsset: str,
      tickSize: positive,
      lotSize: positive,
      referencePrice: nullable(positive),
      makerFeeBps: bps,
      takerFeeBps: bps,
      maxOrderQuantity: positive,
      maxOrderNotional: positive,
      priceBandBps: id,
      listedBy: id,
    }),
  ],
  ['UserForgotten', shape({ userId: id, reason: str, forgottenBy: id })],
  ['MarketHalted', shape({ marketId: id, reason: str, haltedBy: id })],
  ['MarketResumed', shape({ marketId: id, reason: str, resumedBy: id })],
  ['KillSwitchEngaged', killSwitch],
  ['KillSwitchReleased', killSwitch],
  [
    'OrderPlaced',
    shape({
      orderId: uuidish,
      userId: id,
      marketId: id,
      side,
      type: orderType,
      timeInForce,
      price: nullable(positive),
      quantity: positive,
      postOnly: bool,
      selfTradePrevention: selfTrade,
      clientOrderId: nullable(str),
      requestHash: str,
      placedAt: iso,
    }),
  ],
  ['OrderAmendRequested', shape({ ...request, newPrice: nullable(positive), newQuantity: nullable(positive), requestedAt: iso })],
  ['OrderCancelRequested', shape({ ...request, requestedAt: iso })],
  ['FundsDeposited', shape({ depositId: uuidish, userId: id, asset: str, amount: positive, depositedBy: id })],
  [
    'OrderAccepted',
    shape({
      ...orderTerms,
      reservedAsset: str,
      reservedAmount: decimal,
      checks: (v) => Array.isArray(v) && v.every((c) => matches(c, riskCheck)),
    }),
  ],
  ['OrderRejected', shape({ orderId: uuidish, userId: id, marketId: id, reason: rejectReason, rule: str, limit: nullable(str), observed: nullable(str) })],
  [
    'OrderAmendAccepted',
    shape({ orderId: uuidish, userId: id, marketId: id, requestId: uuidish, newPrice: positive, newQuantity: positive, reservationDelta: signedDecimal, reservedAsset: str }),
  ],
  ['OrderAmendRejected', shape({ ...request, reason: rejectReason, rule: str, limit: nullable(str), observed: nullable(str) })],
  ['OrderCancelAccepted', shape(request)],
  ['OrderCancelRejected', shape({ ...request, reason: rejectReason })],
  [
    'FillSettled',
    shape(
      {
        tradeId: uuidish,
        orderId: uuidish,
        userId: id,
        marketId: id,
        side,
        liquidity: oneOf(Liquidity.options),
        price: positive,
        quantity: positive,
        baseAsset: str,
        quoteAsset: str,
        notional: decimal,
        fee: decimal,
        feeAsset: str,
        reservationReleased: decimal,
        remainingQuantity: decimal,
        late: bool,
      },
      ['remainingQuantity', 'late'],
    ),
  ],
  [
    'ReservationReleased',
    shape(
      { orderId: uuidish, userId: id, marketId: id, asset: str, amount: decimal, cause: releaseCause, price: positive, quantity: positive, remainingQuantity: decimal, requestId: uuidish },
      ['price', 'quantity', 'remainingQuantity', 'requestId'],
    ),
  ],
  [
    'OrderEntered',
    shape(orderTerms),
  ],
  ['OrderRested', shape({ orderId: uuidish, userId: id, marketId: id, side, price: positive, remainingQuantity: positive })],
  [
    'TradeExecuted',
    shape({
      tradeId: uuidish,
      marketId: id,
      price: positive,
      quantity: positive,
      takerSide: side,
      takerOrderId: uuidish,
      takerUserId: id,
      makerOrderId: uuidish,
      makerUserId: id,
      takerFee: decimal,
      makerFee: decimal,
      takerRemainingQuantity: decimal,
      makerRemainingQuantity: decimal,
      executedAt: iso,
    }),
  ],
  ['OrderCancelled', shape({ orderId: uuidish, userId: id, marketId: id, reason: cancelReason, cancelledQuantity: decimal })],
  ['OrderExpired', shape({ orderId: uuidish, userId: id, marketId: id, expiredQuantity: decimal })],
  ['OrderAmended', shape({ orderId: uuidish, userId: id, marketId: id, price: positive, quantity: positive, remainingQuantity: positive, priorityLost: bool })],
  ['OrderRejectedByEngine', shape({ orderId: uuidish, userId: id, marketId: id, reason: rejectReason, rejectedQuantity: decimal })],
  [
    'OrderAmendRejectedByEngine',
    shape(
      { ...request, newPrice: positive, newQuantity: positive, reason: oneOf(AmendRefusalReason.options), price: positive, quantity: positive, remainingQuantity: positive },
      ['price', 'quantity', 'remainingQuantity'],
    ),
  ],
]);

/**
 * The event as `parseEvent(type, schemaVersion, data)` would return it, when it certainly passes
 * its zod schema; undefined when unsure. `schemaVersion` as parseEvent takes it (a recorded event
 * without one is version 1). The returned event's `data` is `data` itself, not a copy.
 */
export function fastParseEvent(type: string, schemaVersion: number, data: unknown): TradecoreEvent | undefined {
  // Every schema in the catalogue is at version 1 (no upcasters); any other version is zod's business.
  if (schemaVersion !== 1) return undefined;
  const s = SHAPES.get(type);
  if (!s || !matches(data, s)) return undefined;
  // The checks above are those of the event's schema (or narrower), so this is what zod returns.
  return { type, schemaVersion: 1, data } as TradecoreEvent;
}
