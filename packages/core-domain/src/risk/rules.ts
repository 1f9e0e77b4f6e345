/**
 * Pure pre-trade risk rules. Every input is plain data (decimal strings, numbers) so a decision
 * can be recorded and re-run later (`recheck`); every check records its rule, limit and observed
 * value as strings, and every rejection names its own `RejectReason`.
 *
 * Reservations:
 * - a buy reserves quote: per lot, price × lot + the larger of the maker/taker fee on it, rounded
 *   up per lot. Per-lot rounding makes the reservation linear in lots, so every partial fill
 *   (whose fee is rounded up on its own) is covered by its share, and nothing is left over after
 *   the last one; the cost is at most one amount unit (10^-12) per lot. Market buys reserve at the
 *   protection price: the upper edge of the price band.
 * - a sell reserves the base it sells (no short selling).
 */
import type { EventData, RejectReason, Side } from '../events.ts';
import type { Block } from '../control/control.ts';
import type { MarketSpec } from '../market/spec.ts';
import {
  DecimalValidationError,
  compareDecimals,
  feeUnits,
  formatAmount,
  lotsToQuantity,
  lotsToUnits,
  notionalUnits,
  parseAmount,
  parseFixed,
  priceToTicks,
  quantityToLots,
  ticksToPrice,
} from '../numbers.ts';
import { maxFeeBps } from '../portfolio/fees.ts';

export interface RiskCheckRecord {
  rule: string;
  limit: string | null;
  observed: string | null;
}

export interface AccountLimits {
  /** Most orders a user may have open at once. */
  maxOpenOrders: number;
  /** Most orders a user may place within any rolling window of `windowMs` milliseconds. */
  orderRate: { maxOrders: number; windowMs: number };
}

export const DEFAULT_ACCOUNT_LIMITS: AccountLimits = Object.freeze({
  maxOpenOrders: 200,
  orderRate: Object.freeze({ maxOrders: 50, windowMs: 1_000 }),
});

type ReservationSpec = Pick<MarketSpec, 'baseAsset' | 'quoteAsset' | 'tickSize' | 'lotSize' | 'makerFeeBps' | 'takerFeeBps'>;

/** Units of the reserved asset one lot of an order at `priceTicks` holds. */
export function perLotReservation(spec: ReservationSpec, side: Side, priceTicks: bigint): bigint {
  if (side === 'sell') return lotsToUnits(1n, spec.lotSize);
  const n = notionalUnits(priceTicks, 1n, spec.tickSize, spec.lotSize);
  return n + feeUnits(n, maxFeeBps(spec));
}

export function reservedAssetOf(spec: Pick<MarketSpec, 'baseAsset' | 'quoteAsset'>, side: Side): string {
  return side === 'buy' ? spec.quoteAsset : spec.baseAsset;
}

// ---- price band ----

/** The price the band is centred on: the last trade price, else the listing's reference price. */
export function bandReference(spec: Pick<MarketSpec, 'referencePrice'>, lastPrice: string | null): string | null {
  return lastPrice ?? spec.referencePrice;
}

/**
 * Lowest and highest prices (in ticks) within `priceBandBps` of `reference`: the high edge is
 * rounded down to a tick, the low edge up (and at least one tick).
 */
export function bandTicks(spec: Pick<MarketSpec, 'tickSize' | 'priceBandBps'>, reference: string): { low: bigint; high: bigint } {
  const r = parseFixed(reference, 'referencePrice');
  const t = parseFixed(spec.tickSize, 'tickSize');
  // price/tick = r.units·10^ts / (t.units·10^rs); times (10000 ± bps)/10000
  const den = t.units * 10n ** BigInt(r.scale) * 10_000n;
  const base = r.units * 10n ** BigInt(t.scale);
  const bps = BigInt(spec.priceBandBps);
  const high = (base * (10_000n + bps)) / den;
  const lowNum = base * (bps >= 10_000n ? 0n : 10_000n - bps);
  let low = (lowNum + den - 1n) / den;
  if (low < 1n) low = 1n;
  return { low, high };
}

/** For a market order: the worst price the band allows (buy: the high edge; sell: the low edge). */
export function protectionPriceTicks(spec: Pick<MarketSpec, 'tickSize' | 'priceBandBps'>, side: Side, reference: string): bigint {
  const { low, high } = bandTicks(spec, reference);
  return side === 'buy' ? high : low;
}

// ---- the decision ----

export interface OrderRiskInputs {
  order: Pick<EventData<'OrderPlaced'>, 'orderId' | 'userId' | 'marketId' | 'side' | 'type' | 'price' | 'quantity'>;
  /** The market's spec, or null when it is not listed. */
  market: MarketSpec | null;
  /** From `isBlocked(control, userId, marketId)`. */
  block: Block | null;
  /** Last trade price of the market (decimal), if any. */
  lastPrice: string | null;
  /** Available (unreserved) balances of the user, as decimal amounts. */
  available: { base: string; quote: string };
  /** Orders the user has open now (this one not counted). */
  openOrders: number;
  /** Orders the user placed within the rate window before this one. */
  ordersInWindow: number;
  limits: AccountLimits;
}

export interface Rejection {
  outcome: 'rejected';
  reason: RejectReason;
  rule: string;
  limit: string | null;
  observed: string | null;
  /** Checks passed before the failing one. */
  checks: RiskCheckRecord[];
}

export interface OrderAcceptance {
  outcome: 'accepted';
  checks: RiskCheckRecord[];
  priceTicks: string;
  lots: string;
  /** For market orders: the protection price (decimal). */
  protectionPrice: string | null;
  reservedAsset: string;
  reservedAmount: string;
  /** Reserved units per lot (decimal amount), so fills release in proportion. */
  perLot: string;
}

export type OrderRiskDecision = OrderAcceptance | Rejection;

class Rejected extends Error {
  constructor(readonly rejection: Omit<Rejection, 'outcome' | 'checks'>) {
    super(rejection.reason);
  }
}

function reject(reason: RejectReason, rule: string, limit: string | null, observed: string | null): never {
  throw new Rejected({ reason, rule, limit, observed });
}

function steps(convert: () => bigint, reason: 'invalid_price' | 'invalid_quantity', rule: string, limit: string, observed: string): bigint {
  try {
    return convert();
  } catch (e) {
    if (e instanceof DecimalValidationError) reject(reason, rule, limit, observed);
    throw e;
  }
}

interface CommonChecks {
  market: MarketSpec;
  lots: bigint;
  priceTicks: bigint;
  protectionPrice: string | null;
  notional: bigint;
}

/** Checks shared by a new order and an amend: market, control, steps, size, band, notional. */
function commonChecks(
  checks: RiskCheckRecord[],
  input: { marketId: number; market: MarketSpec | null; block: Block | null; lastPrice: string | null; side: Side; type: 'limit' | 'market'; price: string | null; quantity: string },
): CommonChecks {
  const { market, block } = input;
  if (!market) reject('unknown_market', 'market.listed', null, String(input.marketId));
  checks.push({ rule: 'market.listed', limit: null, observed: String(market.marketId) });
  if (block) reject(block.reason, block.rule, null, block.detail);
  checks.push({ rule: 'control', limit: null, observed: null });

  const lots = steps(() => quantityToLots(input.quantity, market.lotSize), 'invalid_quantity', 'quantity.lot_size', market.lotSize, input.quantity);
  checks.push({ rule: 'quantity.lot_size', limit: market.lotSize, observed: input.quantity });
  if (compareDecimals(input.quantity, market.maxOrderQuantity) > 0) reject('max_order_quantity', 'max_order_quantity', market.maxOrderQuantity, input.quantity);
  checks.push({ rule: 'max_order_quantity', limit: market.maxOrderQuantity, observed: input.quantity });

  const reference = bandReference(market, input.lastPrice);
  let priceTicks: bigint;
  let protectionPrice: string | null = null;
  if (input.type === 'limit') {
    const price = input.price;
    if (price === null) reject('invalid_price', 'price.required', null, null);
    priceTicks = steps(() => priceToTicks(price, market.tickSize), 'invalid_price', 'price.tick_size', market.tickSize, price);
    checks.push({ rule: 'price.tick_size', limit: market.tickSize, observed: price });
    if (reference === null) {
      checks.push({ rule: 'price_band', limit: null, observed: price });
    } else {
      const { low, high } = bandTicks(market, reference);
      const lowPrice = ticksToPrice(low, market.tickSize);
      const highPrice = ticksToPrice(high, market.tickSize);
      if (priceTicks > high) reject('price_band', 'price_band.high', highPrice, price);
      if (priceTicks < low) reject('price_band', 'price_band.low', lowPrice, price);
      checks.push({ rule: 'price_band.high', limit: highPrice, observed: price });
      checks.push({ rule: 'price_band.low', limit: lowPrice, observed: price });
    }
  } else {
    if (reference === null) reject('price_band', 'price_band.reference', null, null);
    priceTicks = protectionPriceTicks(market, input.side, reference);
    protectionPrice = ticksToPrice(priceTicks, market.tickSize);
    checks.push({ rule: 'price_band.protection', limit: protectionPrice, observed: reference });
  }

  const notional = notionalUnits(priceTicks, lots, market.tickSize, market.lotSize);
  const notionalStr = formatAmount(notional);
  if (compareDecimals(notionalStr, market.maxOrderNotional) > 0) reject('max_order_notional', 'max_order_notional', market.maxOrderNotional, notionalStr);
  checks.push({ rule: 'max_order_notional', limit: market.maxOrderNotional, observed: notionalStr });
  return { market, lots, priceTicks, protectionPrice, notional };
}

function fundsCheck(checks: RiskCheckRecord[], side: Side, asset: string, required: bigint, available: string): void {
  const rule = `available.${asset}`;
  const requiredStr = formatAmount(required);
  if (required > parseAmount(available)) reject(side === 'buy' ? 'insufficient_funds' : 'insufficient_position', rule, available, requiredStr);
  checks.push({ rule, limit: available, observed: requiredStr });
}

function run<T>(checks: RiskCheckRecord[], body: () => T): T | Rejection {
  try {
    return body();
  } catch (e) {
    if (e instanceof Rejected) return { outcome: 'rejected', ...e.rejection, checks };
    throw e;
  }
}

/** Decide whether a new order may go to the market, and what it reserves. */
export function evaluateOrder(inputs: OrderRiskInputs): OrderRiskDecision {
  const checks: RiskCheckRecord[] = [];
  return run(checks, (): OrderAcceptance => {
    const { order, limits } = inputs;
    const c = commonChecks(checks, { ...order, market: inputs.market, block: inputs.block, lastPrice: inputs.lastPrice });

    const open = inputs.openOrders + 1;
    if (open > limits.maxOpenOrders) reject('max_open_orders', 'max_open_orders', String(limits.maxOpenOrders), String(open));
    checks.push({ rule: 'max_open_orders', limit: String(limits.maxOpenOrders), observed: String(open) });
    const rate = inputs.ordersInWindow + 1;
    const rateRule = `order_rate.${limits.orderRate.windowMs}ms`;
    if (rate > limits.orderRate.maxOrders) reject('order_rate', rateRule, String(limits.orderRate.maxOrders), String(rate));
    checks.push({ rule: rateRule, limit: String(limits.orderRate.maxOrders), observed: String(rate) });

    const perLot = perLotReservation(c.market, order.side, c.priceTicks);
    const amount = perLot * c.lots;
    const asset = reservedAssetOf(c.market, order.side);
    fundsCheck(checks, order.side, asset, amount, order.side === 'buy' ? inputs.available.quote : inputs.available.base);
    return {
      outcome: 'accepted',
      checks,
      priceTicks: c.priceTicks.toString(),
      lots: c.lots.toString(),
      protectionPrice: c.protectionPrice,
      reservedAsset: asset,
      reservedAmount: formatAmount(amount),
      perLot: formatAmount(perLot),
    };
  });
}

// ---- amends ----

export interface AmendRiskInputs {
  order: {
    orderId: string;
    userId: number;
    marketId: number;
    side: Side;
    type: 'limit' | 'market';
    /** Current terms (the latest the account knows the market applied). */
    price: string | null;
    quantity: string;
    filled: string;
    /** Largest quantity the order might still fill, over its current and pending terms. */
    coverQuantity: string;
    /** Units it holds reserved now (decimal amount). */
    reserved: string;
  };
  amend: { newPrice: string | null; newQuantity: string | null };
  market: MarketSpec | null;
  block: Block | null;
  lastPrice: string | null;
  available: { base: string; quote: string };
}

export interface AmendAcceptance {
  outcome: 'accepted';
  checks: RiskCheckRecord[];
  newPrice: string;
  newQuantity: string;
  reservedAsset: string;
  /** Amount moved from available to reserved now (never negative: excess is released when the market applies the amend). */
  reservationDelta: string;
  /** The order's cover quantity once this amend is pending. */
  coverQuantity: string;
}

export type AmendRiskDecision = AmendAcceptance | Rejection;

/**
 * Decide an amend. Until the market applies it, the order may still fill on its old terms or
 * already on its new ones, so the reservation must cover both: the cover quantity becomes
 * max(old cover, new quantity − filled) and the per-lot amount max(old, new). The increase is
 * reserved now; any excess is released when the market confirms (`OrderAmended`).
 */
export function evaluateAmend(inputs: AmendRiskInputs): AmendRiskDecision {
  const checks: RiskCheckRecord[] = [];
  return run(checks, (): AmendAcceptance => {
    const { order, amend } = inputs;
    if (order.type !== 'limit') reject('order_not_open', 'amend.limit_only', null, order.type);
    const newPrice = amend.newPrice ?? order.price;
    const newQuantity = amend.newQuantity ?? order.quantity;
    const c = commonChecks(checks, {
      marketId: order.marketId,
      market: inputs.market,
      block: inputs.block,
      lastPrice: inputs.lastPrice,
      side: order.side,
      type: 'limit',
      price: newPrice,
      quantity: newQuantity,
    });
    const lotSize = c.market.lotSize;
    const coverLots = quantityToLots(order.coverQuantity, lotSize);
    const filledLots = order.filled === '0' ? 0n : quantityToLots(order.filled, lotSize);
    const reserved = parseAmount(order.reserved);
    const currentPerLot = coverLots === 0n ? 0n : reserved / coverLots;
    const newPerLot = perLotReservation(c.market, order.side, c.priceTicks);
    const perLot = newPerLot > currentPerLot ? newPerLot : currentPerLot;
    const newOpen = c.lots - filledLots;
    const cover = newOpen > coverLots ? newOpen : coverLots;
    const target = cover * perLot;
    const delta = target > reserved ? target - reserved : 0n;
    const asset = reservedAssetOf(c.market, order.side);
    fundsCheck(checks, order.side, asset, delta, order.side === 'buy' ? inputs.available.quote : inputs.available.base);
    return {
      outcome: 'accepted',
      checks,
      newPrice: ticksToPrice(c.priceTicks, c.market.tickSize),
      newQuantity,
      reservedAsset: asset,
      reservationDelta: formatAmount(delta),
      coverQuantity: lotsToQuantity(cover, lotSize),
    };
  });
}

// ---- re-running recorded decisions ----

export type RecordedOrderOutcome =
  | { type: 'OrderAccepted'; data: Pick<EventData<'OrderAccepted'>, 'reservedAsset' | 'reservedAmount' | 'protectionPrice' | 'checks'> }
  | { type: 'OrderRejected'; data: Pick<EventData<'OrderRejected'>, 'reason' | 'rule' | 'limit' | 'observed'> };

export interface RecheckResult {
  decision: OrderRiskDecision;
  /** True when the re-run decision is the recorded one (outcome, reason, rule, limit, observed, reservation). */
  matches: boolean;
  differences: string[];
}

/** Re-run a recorded risk decision from its recorded inputs and compare it with what was recorded. */
export function recheck(inputs: OrderRiskInputs, recorded?: RecordedOrderOutcome): RecheckResult {
  const decision = evaluateOrder(inputs);
  const differences: string[] = [];
  if (recorded) {
    if (recorded.type === 'OrderAccepted') {
      if (decision.outcome !== 'accepted') differences.push(`outcome: recorded accepted, now rejected (${decision.reason} by ${decision.rule})`);
      else {
        if (decision.reservedAsset !== recorded.data.reservedAsset) differences.push(`reservedAsset: ${recorded.data.reservedAsset} → ${decision.reservedAsset}`);
        if (compareDecimals(decision.reservedAmount, recorded.data.reservedAmount) !== 0)
          differences.push(`reservedAmount: ${recorded.data.reservedAmount} → ${decision.reservedAmount}`);
        if (decision.protectionPrice !== recorded.data.protectionPrice)
          differences.push(`protectionPrice: ${recorded.data.protectionPrice} → ${decision.protectionPrice}`);
        if (JSON.stringify(decision.checks) !== JSON.stringify(recorded.data.checks)) differences.push('checks differ');
      }
    } else if (decision.outcome !== 'rejected') differences.push(`outcome: recorded rejected (${recorded.data.reason}), now accepted`);
    else
      for (const k of ['reason', 'rule', 'limit', 'observed'] as const)
        if (decision[k] !== recorded.data[k]) differences.push(`${k}: ${recorded.data[k]} → ${decision[k]}`);
  }
  return { decision, matches: differences.length === 0, differences };
}
