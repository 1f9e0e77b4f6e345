/**
 * THE ACCOUNT DECIDER: used by the risk handler, the single writer of decisions on `account-{userId}`.
 *
 * State: balances (available, reserved per asset), open orders with their reservations, the
 * order-rate window and `lastInputPosition`. Inputs are commands built from routed events
 * (architecture.md, account inbox); an input at or below `lastInputPosition` was already applied
 * and decides nothing. Every event it decides must be appended with metadata
 * `accountDecisionMeta(command)` (`inputPosition`, `inputAt`), and `evolve` must be given that metadata
 * back on replay (it restores `lastInputPosition` and the order-rate window).
 *
 * Reservation model (see risk/rules.ts): an open order holds `reserved` units of its reserved
 * asset for its `coverQuantity`, the most it might still fill over its current terms and any
 * amends the market has not applied yet; reserved / coverQuantity is a whole number of units per
 * lot. A fill of q frees reserved·q/cover (all of it on the last fill); what the fill did not pay
 * (price improvement, fee headroom) goes back to available in the same `FillSettled`. Every pending
 * amend ends with the market's answer: applied (`OrderAmended` → `ApplyAmend`) or refused
 * (`OrderAmendRejectedByEngine` → `DropAmend`); either way the reservation shrinks back to what the
 * order's terms and its remaining pending amends need.
 *
 * When `decide` throws on a trader's request every time (a defect, not a business outcome), the risk
 * handler dead-letters the input and appends `accountEngineErrorAnswer` in its place: the ordinary
 * refusal (`OrderRejected` / `OrderAmendRejected` / `OrderCancelRejected`) with reason
 * `engine_error`. It reserves nothing and moves no money; without it the order stayed pending and
 * the request had no outcome, forever. The market's facts (trades, releases, amends applied or
 * refused) get no answer.
 */
import type { EventData, OrderType, Side, TimeInForce, TradecoreEvent } from '../events.ts';
import { isBlocked, marketSpec, type ControlState } from '../control/control.ts';
import type { MarketSpec } from '../market/spec.ts';
import {
  compareDecimals,
  formatAmount,
  lotsToUnits,
  notionalUnits,
  parseAmount,
  parseFixed,
  parseSignedAmount,
  priceToTicks,
  quantityToLots,
  subDecimals,
  addDecimals,
} from '../numbers.ts';
import { catalogueEvent, positionOf, type CatalogueEvent, type DecisionMeta, type DecisionMetaOut } from '../order/decider.ts';
import { adjust, balanceOf, settleLeg, type Balance, type Balances, type FillLeg } from '../portfolio/settlement.ts';
import { evaluateAmend, evaluateOrder, perLotReservation, type AccountLimits, type AmendRiskInputs, type OrderRiskInputs } from '../risk/rules.ts';
import { countOrdersInWindow, NO_ORDER_TIMES, recordOrderTime, type OrderTimes } from './order-times.ts';

export { MAX_ORDER_TIMES, MAX_RATE_WINDOW_MS, type OrderTimes } from './order-times.ts';

export interface PendingAmend {
  requestId: string;
  newPrice: string;
  newQuantity: string;
}

export interface OpenOrder {
  orderId: string;
  marketId: number;
  side: Side;
  type: OrderType;
  timeInForce: TimeInForce;
  /** Current limit price (null for market orders). */
  price: string | null;
  protectionPrice: string | null;
  /** Current total quantity, filled so far and still open, as the market last said. */
  quantity: string;
  filled: string;
  remaining: string;
  reservedAsset: string;
  /** Units of `reservedAsset` held for this order. */
  reserved: bigint;
  /** Most quantity the order might still fill over current and pending terms. */
  coverQuantity: string;
  /** Amends accepted here and not yet applied by the market, oldest first. */
  pendingAmends: readonly PendingAmend[];
}

export interface AccountState {
  userId: number | null;
  balances: Balances;
  openOrders: ReadonlyMap<string, OpenOrder>;
  /** Times (ms since epoch) of accepted orders, for the order-rate window. */
  orderTimes: OrderTimes;
  /** Highest input position applied; -1 before any. */
  lastInputPosition: bigint;
}

export function initialAccountState(): AccountState {
  return { userId: null, balances: new Map(), openOrders: new Map(), orderTimes: NO_ORDER_TIMES, lastInputPosition: -1n };
}

// ---- commands ----

interface Input {
  /** Global position of the routed input event. */
  inputPosition: bigint;
  /** Time of the input event (ISO 8601, from its metadata). */
  inputAt: string;
}

export type AccountCommand =
  | (Input & { kind: 'PlaceOrder'; order: EventData<'OrderPlaced'>; control: ControlState; lastPrice: string | null; limits: AccountLimits })
  | (Input & { kind: 'AmendOrder'; request: EventData<'OrderAmendRequested'>; control: ControlState; lastPrice: string | null })
  | (Input & { kind: 'CancelOrder'; request: EventData<'OrderCancelRequested'> })
  | (Input & {
      kind: 'SettleTrade';
      userId: number;
      trade: EventData<'TradeExecuted'>;
      control: ControlState;
      /**
       * Orders of this account on which a later market fact (a fill, an applied amend) was already
       * applied: this trade is settled late (`tradectl redrive`, never the live handler). Their
       * remaining quantity already counts this fill, their reservation does not.
       */
      lateOrders?: readonly string[];
    })
  | (Input & { kind: 'ReleaseOrder'; event: CatalogueEvent<'OrderCancelled' | 'OrderExpired' | 'OrderRejectedByEngine'> })
  | (Input & {
      kind: 'ApplyAmend';
      amended: EventData<'OrderAmended'>;
      control: ControlState;
      /**
       * A later fill of the order was already applied (`tradectl redrive`, never the live handler):
       * the amend's terms apply, the remaining quantity stays the one that fill set.
       */
      late?: boolean;
    })
  | (Input & { kind: 'DropAmend'; refused: EventData<'OrderAmendRejectedByEngine'>; control: ControlState });

export type AccountEvent = CatalogueEvent<
  | 'FundsDeposited'
  | 'OrderAccepted'
  | 'OrderRejected'
  | 'OrderAmendAccepted'
  | 'OrderAmendRejected'
  | 'OrderCancelAccepted'
  | 'OrderCancelRejected'
  | 'FillSettled'
  | 'ReservationReleased'
>;

/** Metadata to append with the events decided for `command`. */
export function accountDecisionMeta(command: AccountCommand): DecisionMetaOut {
  return { inputPosition: command.inputPosition.toString(), inputAt: command.inputAt };
}

// ---- helpers ----

function maxDecimal(a: string, b: string): string {
  return compareDecimals(a, b) >= 0 ? a : b;
}

/** Cover quantity: max(remaining, newQuantity − filled of each pending amend), never negative. */
function coverOf(remaining: string, filled: string, pending: readonly PendingAmend[]): string {
  let cover = remaining;
  for (const p of pending) {
    const open = subDecimals(p.newQuantity, filled);
    if (compareDecimals(open, '0') > 0) cover = maxDecimal(cover, open);
  }
  return cover;
}

/** reserved · q / cover, exact by construction (reserved is a whole number of units per lot). */
function shareOf(reserved: bigint, quantity: string, cover: string): bigint {
  const q = parseFixed(quantity, 'quantity');
  const c = parseFixed(cover, 'coverQuantity');
  const scale = Math.max(q.scale, c.scale);
  const qa = q.units * 10n ** BigInt(scale - q.scale);
  const ca = c.units * 10n ** BigInt(scale - c.scale);
  if (ca === 0n) return reserved;
  const share = (reserved * qa) / ca;
  return share > reserved ? reserved : share;
}

function available(state: AccountState, asset: string): string {
  return formatAmount(balanceOf(state.balances, asset).available);
}

function timeOf(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new RangeError(`not an ISO time: ${iso}`);
  return ms;
}

function requireMarket(control: ControlState, marketId: number): MarketSpec {
  const spec = marketSpec(control, marketId);
  if (!spec) throw new Error(`market ${marketId} is not in the control view`);
  return spec;
}

/** The recorded inputs of a place decision (plain data: store them to `recheck` the decision later). */
export function placeRiskInputs(command: Extract<AccountCommand, { kind: 'PlaceOrder' }>, state: AccountState): OrderRiskInputs {
  const { order, control } = command;
  const market = marketSpec(control, order.marketId);
  return {
    order: { orderId: order.orderId, userId: order.userId, marketId: order.marketId, side: order.side, type: order.type, price: order.price, quantity: order.quantity },
    market,
    block: isBlocked(control, order.userId, order.marketId),
    lastPrice: command.lastPrice,
    available: { base: market ? available(state, market.baseAsset) : '0', quote: market ? available(state, market.quoteAsset) : '0' },
    openOrders: state.openOrders.size,
    ordersInWindow: countOrdersInWindow(state.orderTimes, timeOf(command.inputAt), command.limits.orderRate.windowMs),
    limits: command.limits,
  };
}

/** The recorded inputs of an amend decision, or null when the order is not open. */
export function amendRiskInputs(command: Extract<AccountCommand, { kind: 'AmendOrder' }>, state: AccountState): AmendRiskInputs | null {
  const { request, control } = command;
  const order = state.openOrders.get(request.orderId);
  if (!order || order.marketId !== request.marketId) return null;
  const market = marketSpec(control, request.marketId);
  return {
    order: {
      orderId: order.orderId,
      userId: request.userId,
      marketId: order.marketId,
      side: order.side,
      type: order.type,
      price: order.price,
      quantity: order.quantity,
      filled: order.filled,
      coverQuantity: order.coverQuantity,
      reserved: formatAmount(order.reserved),
    },
    amend: { newPrice: request.newPrice, newQuantity: request.newQuantity },
    market,
    block: isBlocked(control, request.userId, request.marketId),
    lastPrice: command.lastPrice,
    available: { base: market ? available(state, market.baseAsset) : '0', quote: market ? available(state, market.quoteAsset) : '0' },
  };
}

interface LegPlan {
  leg: FillLeg;
  order: OpenOrder | undefined;
  orderId: string;
  liquidity: 'maker' | 'taker';
  /** Settled after a later market fact about its (still open) order: see `lateFilled`. */
  late: boolean;
  remainingAfter: string;
}

function planLegs(state: AccountState, userId: number, trade: EventData<'TradeExecuted'>, spec: MarketSpec, lateOrders: readonly string[]): LegPlan[] {
  const lots = quantityToLots(trade.quantity, spec.lotSize);
  const notional = notionalUnits(priceToTicks(trade.price, spec.tickSize), lots, spec.tickSize, spec.lotSize);
  const baseUnits = lotsToUnits(lots, spec.lotSize);
  const plans: LegPlan[] = [];
  const parties = [
    { party: 'taker' as const, user: trade.takerUserId, orderId: trade.takerOrderId, side: trade.takerSide, fee: trade.takerFee, remaining: trade.takerRemainingQuantity },
    {
      party: 'maker' as const,
      user: trade.makerUserId,
      orderId: trade.makerOrderId,
      side: trade.takerSide === 'buy' ? ('sell' as const) : ('buy' as const),
      fee: trade.makerFee,
      remaining: trade.makerRemainingQuantity,
    },
  ];
  for (const p of parties) {
    if (p.user !== userId) continue;
    const order = state.openOrders.get(p.orderId);
    const late = order !== undefined && lateOrders.includes(p.orderId);
    plans.push({
      orderId: p.orderId,
      order,
      liquidity: p.party,
      late,
      // A late fill leaves the remaining quantity as the later fact set it (it already counts this fill).
      remainingAfter: late ? order.remaining : p.remaining,
      leg: {
        side: p.side,
        baseAsset: spec.baseAsset,
        quoteAsset: spec.quoteAsset,
        baseUnits,
        notional,
        fee: parseAmount(p.fee),
        reservedShare: late ? excessReservation(order.reserved, lateFilled(order), spec) : fillShare(order, trade.quantity, p.remaining),
      },
    });
  }
  return plans;
}

/**
 * An open order as it stands once a fill that a later market fact overtook is counted. The later
 * fact (a fill or an applied amend) carried the market's remaining quantity, which already counts
 * the overtaken fill, so the remaining stays; filled is the order's quantity less its remaining
 * (an applied amend already set it so, a later fill only added its own quantity). The reservation
 * is still the one the order held before the overtaken fill's share was freed: what the order now
 * holds beyond what these terms need (`excessReservation`) is that share, nothing when an applied
 * amend already trimmed it, and the fill is paid from it and from available for the rest.
 */
function lateFilled(order: OpenOrder): OpenOrder {
  const filled = subDecimals(order.quantity, order.remaining);
  return { ...order, filled, coverQuantity: coverOf(order.remaining, filled, order.pendingAmends) };
}

/** The part of an order's reservation a fill of `quantity` frees (all of it when nothing remains open). */
function fillShare(order: OpenOrder | undefined, quantity: string, remainingAfter: string): bigint {
  if (!order) return 0n;
  if (compareDecimals(remainingAfter, '0') === 0) return order.reserved;
  return shareOf(order.reserved, quantity, order.coverQuantity);
}

// ---- decide ----

export function decideAccount(command: AccountCommand, state: AccountState): AccountEvent[] {
  if (command.inputPosition <= state.lastInputPosition) return [];
  switch (command.kind) {
    case 'PlaceOrder': {
      const { order } = command;
      if (state.openOrders.has(order.orderId)) return [];
      const decision = evaluateOrder(placeRiskInputs(command, state));
      if (decision.outcome === 'rejected')
        return [
          catalogueEvent('OrderRejected', {
            orderId: order.orderId,
            userId: order.userId,
            marketId: order.marketId,
            reason: decision.reason,
            rule: decision.rule,
            limit: decision.limit,
            observed: decision.observed,
          }),
        ];
      return [
        catalogueEvent('OrderAccepted', {
          orderId: order.orderId,
          userId: order.userId,
          marketId: order.marketId,
          side: order.side,
          type: order.type,
          timeInForce: order.timeInForce,
          price: order.type === 'limit' ? order.price : null,
          protectionPrice: decision.protectionPrice,
          quantity: order.quantity,
          postOnly: order.postOnly,
          selfTradePrevention: order.selfTradePrevention,
          reservedAsset: decision.reservedAsset,
          reservedAmount: decision.reservedAmount,
          checks: decision.checks,
        }),
      ];
    }
    case 'AmendOrder': {
      const { request } = command;
      const inputs = amendRiskInputs(command, state);
      const base = { orderId: request.orderId, userId: request.userId, marketId: request.marketId, requestId: request.requestId };
      if (!inputs) return [catalogueEvent('OrderAmendRejected', { ...base, reason: 'order_not_open', rule: 'order.open', limit: null, observed: null })];
      const decision = evaluateAmend(inputs);
      if (decision.outcome === 'rejected')
        return [catalogueEvent('OrderAmendRejected', { ...base, reason: decision.reason, rule: decision.rule, limit: decision.limit, observed: decision.observed })];
      return [
        catalogueEvent('OrderAmendAccepted', {
          ...base,
          newPrice: decision.newPrice,
          newQuantity: decision.newQuantity,
          reservationDelta: decision.reservationDelta,
          reservedAsset: decision.reservedAsset,
        }),
      ];
    }
    case 'CancelOrder': {
      const { request } = command;
      const order = state.openOrders.get(request.orderId);
      if (order && order.marketId === request.marketId)
        return [catalogueEvent('OrderCancelAccepted', { orderId: request.orderId, userId: request.userId, marketId: request.marketId, requestId: request.requestId })];
      return [
        catalogueEvent('OrderCancelRejected', {
          orderId: request.orderId,
          userId: request.userId,
          marketId: request.marketId,
          requestId: request.requestId,
          reason: 'order_not_open',
        }),
      ];
    }
    case 'SettleTrade': {
      const { trade, userId } = command;
      const spec = requireMarket(command.control, trade.marketId);
      return planLegs(state, userId, trade, spec, command.lateOrders ?? []).map((p) =>
        catalogueEvent('FillSettled', {
          tradeId: trade.tradeId,
          orderId: p.orderId,
          userId,
          marketId: trade.marketId,
          side: p.leg.side,
          liquidity: p.liquidity,
          price: trade.price,
          quantity: trade.quantity,
          baseAsset: spec.baseAsset,
          quoteAsset: spec.quoteAsset,
          notional: formatAmount(p.leg.notional),
          fee: formatAmount(p.leg.fee),
          feeAsset: spec.quoteAsset,
          // The whole share of the order's reservation this fill frees: what it paid plus what goes back
          // to available. Readers move exactly this much out of reserved (see docs/events.md).
          reservationReleased: formatAmount(p.leg.reservedShare),
          remainingQuantity: p.remainingAfter,
          ...(p.late ? { late: true } : {}),
        }),
      );
    }
    case 'ReleaseOrder': {
      const { event } = command;
      const order = state.openOrders.get(event.data.orderId);
      if (!order) return [];
      const cause = event.type === 'OrderCancelled' ? 'cancelled' : event.type === 'OrderExpired' ? 'expired' : 'rejected';
      return [
        catalogueEvent('ReservationReleased', {
          orderId: order.orderId,
          userId: event.data.userId,
          marketId: order.marketId,
          asset: order.reservedAsset,
          amount: formatAmount(order.reserved),
          cause,
        }),
      ];
    }
    case 'ApplyAmend': {
      const { amended } = command;
      const order = state.openOrders.get(amended.orderId);
      if (!order) return [];
      const spec = requireMarket(command.control, order.marketId);
      // Late: the later fill carried the remaining under these terms, which already counts it.
      const remaining = command.late === true ? order.remaining : amended.remainingQuantity;
      const next = applyTerms(order, amended.price, amended.quantity, remaining);
      const release = excessReservation(order.reserved, next, spec);
      return [
        catalogueEvent('ReservationReleased', {
          orderId: order.orderId,
          userId: amended.userId,
          marketId: order.marketId,
          asset: order.reservedAsset,
          amount: formatAmount(release),
          cause: 'amended',
          price: amended.price,
          quantity: amended.quantity,
          remainingQuantity: remaining,
        }),
      ];
    }
    case 'DropAmend': {
      const { refused } = command;
      const order = state.openOrders.get(refused.orderId);
      // Closed meanwhile (the usual order_not_open case): its close released everything it held.
      if (!order) return [];
      const spec = requireMarket(command.control, order.marketId);
      // The order keeps its terms as the account knows them (every earlier market event about it
      // was applied before this one); only the refused amend stops counting.
      const release = excessReservation(order.reserved, dropAmend(order, refused.requestId), spec);
      // Emitted even when nothing is released, like ApplyAmend: the event is what drops the pending
      // amend when the account stream is replayed.
      return [
        catalogueEvent('ReservationReleased', {
          orderId: order.orderId,
          userId: refused.userId,
          marketId: order.marketId,
          asset: order.reservedAsset,
          amount: formatAmount(release),
          cause: 'amend_rejected',
          requestId: refused.requestId,
        }),
      ];
    }
  }
}

// ---- inputs the decider could not decide (engine_error) ----

/** The rule an `engine_error` refusal names: no risk rule failed, the risk handler did. */
export const ENGINE_ERROR_RULE = 'engine.error';

/**
 * The answer to an input `decideAccount` threw on every attempt (the risk handler dead-letters the
 * input and appends this instead of its decision), on the state without that attempt. A trader's
 * request is refused with reason `engine_error`: nothing is reserved, so no money moves, and the
 * trader learns the request's fate (the order would otherwise stay pending forever). Nothing when
 * the account already decided the input: at or below `lastInputPosition`, an order already open
 * here, an amend already pending on its order.
 *
 * The market's facts (a trade to settle, an order's close, an amend applied or refused) are not
 * answered: they already happened on the book, a refusal of them means nothing, and what they would
 * have moved stays as it was. They stay dead-lettered for operators (docs/operations.md).
 */
export function accountEngineErrorAnswer(command: AccountCommand, state: AccountState): AccountEvent[] {
  if (command.inputPosition <= state.lastInputPosition) return [];
  const refusal = { reason: 'engine_error' as const, rule: ENGINE_ERROR_RULE, limit: null, observed: null };
  switch (command.kind) {
    case 'PlaceOrder': {
      const { order } = command;
      if (state.openOrders.has(order.orderId)) return [];
      return [catalogueEvent('OrderRejected', { orderId: order.orderId, userId: order.userId, marketId: order.marketId, ...refusal })];
    }
    case 'AmendOrder': {
      const { request } = command;
      if (state.openOrders.get(request.orderId)?.pendingAmends.some((p) => p.requestId === request.requestId)) return [];
      return [catalogueEvent('OrderAmendRejected', { orderId: request.orderId, userId: request.userId, marketId: request.marketId, requestId: request.requestId, ...refusal })];
    }
    case 'CancelOrder': {
      // The order stays as it is (open or not): the trader can ask again.
      const { request } = command;
      return [catalogueEvent('OrderCancelRejected', { orderId: request.orderId, userId: request.userId, marketId: request.marketId, requestId: request.requestId, reason: 'engine_error' })];
    }
    case 'SettleTrade':
    case 'ReleaseOrder':
    case 'ApplyAmend':
    case 'DropAmend':
      return [];
  }
}

/**
 * What `reserved` holds beyond what `next` needs: its cover lots × the largest per-lot amount over
 * its current and pending terms (0 when it holds no more). Never more than `reserved`.
 */
function excessReservation(reserved: bigint, next: OpenOrder, spec: MarketSpec): bigint {
  const current = next.price ?? next.protectionPrice;
  const prices = [...(current === null ? [] : [current]), ...next.pendingAmends.map((p) => p.newPrice)];
  let perLot = 0n;
  for (const price of prices) {
    const pl = perLotReservation(spec, next.side, priceToTicks(price, spec.tickSize));
    if (pl > perLot) perLot = pl;
  }
  const coverLots = compareDecimals(next.coverQuantity, '0') === 0 ? 0n : quantityToLots(next.coverQuantity, spec.lotSize);
  const target = coverLots * perLot;
  return reserved > target ? reserved - target : 0n;
}

/** The order without the pending amend of `requestId` (the market refused it), its cover recomputed. */
function dropAmend(order: OpenOrder, requestId: string | undefined): OpenOrder {
  const pendingAmends = order.pendingAmends.filter((p) => p.requestId !== requestId);
  return { ...order, pendingAmends, coverQuantity: coverOf(order.remaining, order.filled, pendingAmends) };
}

/** The order with the market's new terms; the applied pending amend (and any older one) dropped. */
function applyTerms(order: OpenOrder, price: string, quantity: string, remaining: string): OpenOrder {
  const idx = order.pendingAmends.findIndex((p) => compareDecimals(p.newPrice, price) === 0 && compareDecimals(p.newQuantity, quantity) === 0);
  const pendingAmends = idx >= 0 ? order.pendingAmends.slice(idx + 1) : order.pendingAmends;
  const filled = subDecimals(quantity, remaining);
  return { ...order, price, quantity, remaining, filled, pendingAmends, coverQuantity: coverOf(remaining, filled, pendingAmends) };
}

// ---- evolve ----

function withOrder(state: AccountState, order: OpenOrder | null, orderId: string): ReadonlyMap<string, OpenOrder> {
  const next = new Map(state.openOrders);
  if (order) next.set(orderId, order);
  else next.delete(orderId);
  return next;
}

export function evolveAccount(state: AccountState, event: AccountEvent | TradecoreEvent, meta?: DecisionMeta): AccountState {
  const pos = positionOf(meta);
  const s: AccountState = pos !== null && pos > state.lastInputPosition ? { ...state, lastInputPosition: pos } : state;
  switch (event.type) {
    case 'FundsDeposited': {
      const d = event.data;
      return { ...s, userId: d.userId, balances: adjust(s.balances, d.asset, parseAmount(d.amount), 0n) };
    }
    case 'OrderAccepted': {
      const d = event.data;
      const reserved = parseAmount(d.reservedAmount);
      const order: OpenOrder = {
        orderId: d.orderId,
        marketId: d.marketId,
        side: d.side,
        type: d.type,
        timeInForce: d.timeInForce,
        price: d.price,
        protectionPrice: d.protectionPrice,
        quantity: d.quantity,
        filled: '0',
        remaining: d.quantity,
        reservedAsset: d.reservedAsset,
        reserved,
        coverQuantity: d.quantity,
        pendingAmends: [],
      };
      const at = meta?.inputAt ? Date.parse(meta.inputAt) : Number.NaN;
      return {
        ...s,
        userId: d.userId,
        balances: adjust(s.balances, d.reservedAsset, -reserved, reserved),
        openOrders: withOrder(s, order, d.orderId),
        orderTimes: Number.isNaN(at) ? s.orderTimes : recordOrderTime(s.orderTimes, at),
      };
    }
    case 'OrderAmendAccepted': {
      const d = event.data;
      const order = s.openOrders.get(d.orderId);
      const delta = parseSignedAmount(d.reservationDelta, 'reservationDelta');
      const balances = adjust(s.balances, d.reservedAsset, -delta, delta);
      if (!order) return { ...s, balances };
      const pendingAmends = [...order.pendingAmends, { requestId: d.requestId, newPrice: d.newPrice, newQuantity: d.newQuantity }];
      const next: OpenOrder = { ...order, reserved: order.reserved + delta, pendingAmends, coverQuantity: coverOf(order.remaining, order.filled, pendingAmends) };
      return { ...s, balances, openOrders: withOrder(s, next, d.orderId) };
    }
    case 'FillSettled': {
      const d = event.data;
      const order = s.openOrders.get(d.orderId);
      const remainingAfter = d.remainingQuantity ?? (order ? subDecimals(order.remaining, d.quantity) : '0');
      const leg: FillLeg = {
        side: d.side,
        baseAsset: d.baseAsset,
        quoteAsset: d.quoteAsset,
        baseUnits: parseAmount(d.quantity),
        notional: parseAmount(d.notional),
        fee: parseAmount(d.fee),
        // The share the decision recorded (what every reader moves out of reserved), not recomputed:
        // a late fill's share is not the proportional one.
        reservedShare: parseAmount(d.reservationReleased),
      };
      const balances = settleLeg(s.balances, leg);
      if (!order) return { ...s, userId: d.userId, balances };
      if (compareDecimals(remainingAfter, '0') <= 0) return { ...s, userId: d.userId, balances, openOrders: withOrder(s, null, d.orderId) };
      const filled = d.late === true ? lateFilled(order).filled : addDecimals(order.filled, d.quantity);
      const next: OpenOrder = {
        ...order,
        reserved: order.reserved - leg.reservedShare,
        filled,
        remaining: remainingAfter,
        coverQuantity: coverOf(remainingAfter, filled, order.pendingAmends),
      };
      return { ...s, userId: d.userId, balances, openOrders: withOrder(s, next, d.orderId) };
    }
    case 'ReservationReleased': {
      const d = event.data;
      const amount = parseAmount(d.amount);
      const balances = adjust(s.balances, d.asset, amount, -amount);
      const order = s.openOrders.get(d.orderId);
      if (!order) return { ...s, balances };
      if (d.cause === 'amended' && d.price !== undefined && d.quantity !== undefined && d.remainingQuantity !== undefined) {
        const next = { ...applyTerms(order, d.price, d.quantity, d.remainingQuantity), reserved: order.reserved - amount };
        const open = compareDecimals(next.remaining, '0') > 0;
        return { ...s, balances, openOrders: withOrder(s, open ? next : null, d.orderId) };
      }
      // A refused amend leaves the order open on its terms, whatever else it carries.
      if (d.cause === 'amend_rejected') return { ...s, balances, openOrders: withOrder(s, { ...dropAmend(order, d.requestId), reserved: order.reserved - amount }, d.orderId) };
      return { ...s, balances, openOrders: withOrder(s, null, d.orderId) };
    }
    default:
      return s;
  }
}

export const accountDecider = {
  decide: decideAccount,
  evolve: evolveAccount,
  initialState: initialAccountState,
  engineErrorAnswer: accountEngineErrorAnswer,
};
export type AccountDecider = typeof accountDecider;

// ---- read helpers ----

export interface BalanceView {
  asset: string;
  available: string;
  reserved: string;
  total: string;
}

export function balancesView(state: AccountState): BalanceView[] {
  return [...state.balances.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([asset, b]: [string, Balance]) => ({
      asset,
      available: formatAmount(b.available),
      reserved: formatAmount(b.reserved),
      total: formatAmount(b.available + b.reserved),
    }));
}

/** Sum of reservations held by open orders per asset (equals each balance's `reserved`). */
export function reservedByOrders(state: AccountState): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const o of state.openOrders.values()) out.set(o.reservedAsset, (out.get(o.reservedAsset) ?? 0n) + o.reserved);
  return out;
}

// ---- routing: account-inbox events to commands ----

export interface RoutedInput {
  event: TradecoreEvent;
  /** The input event's global position. */
  globalPosition: bigint;
  /**
   * When the input happened (ISO 8601): its `metadata.occurredAt` (the writer's injected clock),
   * else its recorded time (engine `inputOf`). It dates the account's decisions (the order-rate window).
   */
  inputAt: string;
}

export interface AccountContext {
  /** The account (partition key) this input was routed to. */
  userId: number;
  control: ControlState;
  lastPrice: (marketId: number) => string | null;
  limits: AccountLimits;
}

/**
 * The command an account-inbox event becomes for account `ctx.userId`, or null when it decides
 * nothing here (`FundsDeposited` is already in the account stream; other types are not routed; an
 * event of another user, or a trade this user is no party to). The one routing table of the
 * account inbox: the risk handler, `tradectl redrive` and the write-side simulators build their
 * commands here.
 */
export function toAccountCommand(input: RoutedInput, ctx: AccountContext): AccountCommand | null {
  const base = { inputPosition: input.globalPosition, inputAt: input.inputAt };
  const e = input.event;
  switch (e.type) {
    case 'OrderPlaced':
      return e.data.userId === ctx.userId ? { ...base, kind: 'PlaceOrder', order: e.data, control: ctx.control, lastPrice: ctx.lastPrice(e.data.marketId), limits: ctx.limits } : null;
    case 'OrderAmendRequested':
      return e.data.userId === ctx.userId ? { ...base, kind: 'AmendOrder', request: e.data, control: ctx.control, lastPrice: ctx.lastPrice(e.data.marketId) } : null;
    case 'OrderCancelRequested':
      return e.data.userId === ctx.userId ? { ...base, kind: 'CancelOrder', request: e.data } : null;
    case 'TradeExecuted':
      return e.data.takerUserId === ctx.userId || e.data.makerUserId === ctx.userId
        ? { ...base, kind: 'SettleTrade', userId: ctx.userId, trade: e.data, control: ctx.control }
        : null;
    case 'OrderCancelled':
    case 'OrderExpired':
    case 'OrderRejectedByEngine':
      return e.data.userId === ctx.userId ? { ...base, kind: 'ReleaseOrder', event: e } : null;
    case 'OrderAmended':
      return e.data.userId === ctx.userId ? { ...base, kind: 'ApplyAmend', amended: e.data, control: ctx.control } : null;
    case 'OrderAmendRejectedByEngine':
      return e.data.userId === ctx.userId ? { ...base, kind: 'DropAmend', refused: e.data, control: ctx.control } : null;
    default:
      return null;
  }
}
