/**
 * THE MARKET DECIDER: used by the execution handler, the single writer of `market-{marketId}`.
 *
 * State: the market's spec (from `MarketListed`), its `OrderBook` (built by an injected
 * `createBook`), the last trade price and `lastInputPosition`.
 *
 * decide(command, state) turns decimal strings into ticks and lots, runs the book, and turns the
 * book's events into catalogue events: an order decision starts with `OrderEntered` (the exact
 * book command), then `TradeExecuted` (fees from portfolio, ids from the command's `ids(n)`,
 * time from its `now`), `OrderRested`, `OrderCancelled`, `OrderAmended`, `OrderRejectedByEngine`;
 * only a kill switch that did not reach the book puts its `OrderCancelled` events before an
 * order's `OrderEntered` or an amend's answer (`sweepKillSwitched`).
 * An amend risk accepted always gets an answer: applied (`OrderAmended`, or `OrderCancelled` when
 * the new total is already filled) or refused (`OrderAmendRejectedByEngine`), since the account
 * holds the amend's extra reservation until the market says which.
 *
 * When `decide` throws on an input every time (a defect, not a business outcome), the execution
 * handler dead-letters the input and, for the two inputs that hold money, appends
 * `engineErrorAnswer` instead of a decision: `OrderRejectedByEngine` / `OrderAmendRejectedByEngine`
 * with reason `engine_error`, the book untouched. Without it the account would hold the order's (or
 * the amend's) reservation forever and the trader would never hear back.
 *
 * Rebuild: the market stream is a log of book commands and their consequences. `evolve` replays
 * the commands (`OrderEntered` → place; `OrderCancelled` / `OrderExpired` → cancel;
 * `OrderAmended` → amend) into the book, and checks that the recorded consequences that follow
 * are exactly what the book produces again; a mismatch throws `MarketReplayError`. A recorded
 * `OrderAmendRejectedByEngine` is re-decided on the book (which a refusal leaves unchanged) and must
 * come out the same; so is an `engine_error` answer (an order that never reached the book, with no
 * `OrderEntered` before it; an amend with the order's terms as the book holds them). So the
 * execution handler rebuilds its state from the market stream alone (plus `MarketListed`).
 *
 * The book is mutable. `decide` applies its decision to the book at once and remembers what it
 * decided; `evolve` of those same events then only updates the rest of the state. Use a state
 * linearly: after `decide`, either evolve every returned event (once appended) or throw the state
 * away and rebuild it (for example after an expected-revision conflict). `decide` refuses to run
 * while a previous decision has not been evolved.
 */
import type { AmendRefusalReason, CancelReason, EventData, TradecoreEvent } from '../events.ts';
import type { BookCommand, BookEvent, BookRejectReason, BookSnapshot, OrderBook, RestingOrderView } from '../book/types.ts';
import { isBlocked, killSwitchCovering, killSwitchCovers, type ControlState } from '../control/control.ts';
import { DecimalValidationError, formatAmount, lotsToQuantity, priceToTicks, quantityToLots, ticksToPrice } from '../numbers.ts';
import { catalogueEvent, positionOf, type CatalogueEvent, type DecisionMeta, type DecisionMetaOut } from '../order/decider.ts';
import { tradeAmounts } from '../portfolio/fees.ts';
import { marketSpecOf, type MarketSpec } from './spec.ts';

export interface MarketState {
  spec: MarketSpec | null;
  book: OrderBook;
  lastTradePrice: string | null;
  /** Highest input position applied; -1 before any. */
  lastInputPosition: bigint;
  /**
   * Events decided (and applied to the book) but not evolved yet, in order: the decided event
   * objects themselves, or the signatures (eventSignature) of a replayed command's consequences.
   * Mutable.
   */
  pending: (TradecoreEvent | string)[];
  /**
   * The kill-switch list (`ControlState.killSwitches`, by identity) this book was last swept for:
   * no resting order it covers is left (see `sweepKillSwitched`). Not part of the fold: a rebuilt
   * state sweeps again, and finds nothing.
   */
  sweptFor?: ControlState['killSwitches'];
}

interface MarketInput {
  /** Global position of the routed input event. */
  inputPosition: bigint;
  /** Time for `executedAt` (ISO 8601): derive it from the input event so a re-decision is identical. */
  now: string;
  /** `n` fresh ids for trades; called at most once per decision. Derive them from the input event id. */
  ids: (n: number) => string[];
}

export type MarketCommand =
  | (MarketInput & { kind: 'AcceptedOrder'; order: EventData<'OrderAccepted'>; control?: ControlState })
  | (MarketInput & { kind: 'CancelRequest'; request: EventData<'OrderCancelAccepted'> })
  | (MarketInput & { kind: 'AmendAccepted'; amend: EventData<'OrderAmendAccepted'>; control?: ControlState })
  | (MarketInput & { kind: 'KillSwitch'; engaged: EventData<'KillSwitchEngaged'> })
  | (MarketInput & { kind: 'Halt'; halted: EventData<'MarketHalted'> })
  | (MarketInput & { kind: 'ExpireOrder'; orderId: string });

export type MarketEvent = CatalogueEvent<
  'OrderEntered' | 'OrderRested' | 'TradeExecuted' | 'OrderCancelled' | 'OrderExpired' | 'OrderAmended' | 'OrderRejectedByEngine' | 'OrderAmendRejectedByEngine'
>;

export class MarketReplayError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MarketReplayError';
  }
}

export interface MarketDeciderOptions {
  /** An empty book, e.g. `() => createOrderBook('fast')`. */
  createBook: () => OrderBook;
}

export function marketDecisionMeta(command: MarketCommand): DecisionMetaOut {
  return { inputPosition: command.inputPosition.toString(), inputAt: command.now };
}

// ---- translation: book events → catalogue events ----

interface TranslateContext {
  spec: MarketSpec;
  /** Reason recorded for a `cancelled` event of reason `user` (a cancel command's own reason). */
  cancelReason: CancelReason;
  tradeIds: readonly string[];
  now: string;
  /** Whether `rejected` events are an order's rejection (place) or a refused command (cancel/amend). */
  rejectionsAreOrders: boolean;
}

/** The event types of a `market-{marketId}` stream; `evolve` ignores any other. */
export const MARKET_STREAM_TYPES: ReadonlySet<string> = new Set([
  'OrderEntered',
  'OrderRested',
  'TradeExecuted',
  'OrderCancelled',
  'OrderExpired',
  'OrderAmended',
  'OrderRejectedByEngine',
  'OrderAmendRejectedByEngine',
]);

const ENGINE_REJECTIONS = new Set(['post_only_would_take', 'fok_unfillable', 'no_liquidity']);

function translate(events: readonly BookEvent[], ctx: TranslateContext): MarketEvent[] {
  const { spec } = ctx;
  const price = (t: bigint) => ticksToPrice(t, spec.tickSize);
  const qty = (l: bigint) => lotsToQuantity(l, spec.lotSize);
  const out: MarketEvent[] = [];
  let trade = 0;
  for (const e of events) {
    switch (e.kind) {
      case 'rested':
        out.push(catalogueEvent('OrderRested', { orderId: e.orderId, userId: e.userId, marketId: spec.marketId, side: e.side, price: price(e.priceTicks), remainingQuantity: qty(e.remainingLots) }));
        break;
      case 'trade': {
        const amounts = tradeAmounts(spec, e.priceTicks, e.lots);
        out.push(
          catalogueEvent('TradeExecuted', {
            tradeId: ctx.tradeIds[trade++] ?? '',
            marketId: spec.marketId,
            price: price(e.priceTicks),
            quantity: qty(e.lots),
            takerSide: e.takerSide,
            takerOrderId: e.takerOrderId,
            takerUserId: e.takerUserId,
            makerOrderId: e.makerOrderId,
            makerUserId: e.makerUserId,
            takerFee: formatAmount(amounts.takerFee),
            makerFee: formatAmount(amounts.makerFee),
            takerRemainingQuantity: e.takerRemainingLots === 0n ? '0' : qty(e.takerRemainingLots),
            makerRemainingQuantity: e.makerRemainingLots === 0n ? '0' : qty(e.makerRemainingLots),
            executedAt: ctx.now,
          }),
        );
        break;
      }
      case 'cancelled':
        out.push(
          catalogueEvent('OrderCancelled', {
            orderId: e.orderId,
            userId: e.userId,
            marketId: spec.marketId,
            reason: e.reason === 'user' ? ctx.cancelReason : e.reason,
            cancelledQuantity: e.cancelledLots === 0n ? '0' : qty(e.cancelledLots),
          }),
        );
        break;
      case 'rejected':
        // A refused cancel (unknown order) changes nothing and is not an order rejection; a refused
        // amend never gets here (amendOrRefuse answers it); a place can only be refused for the
        // engine reasons.
        if (ctx.rejectionsAreOrders && ENGINE_REJECTIONS.has(e.reason))
          out.push(
            catalogueEvent('OrderRejectedByEngine', {
              orderId: e.orderId,
              userId: e.userId,
              marketId: spec.marketId,
              reason: e.reason as 'post_only_would_take' | 'fok_unfillable' | 'no_liquidity',
              rejectedQuantity: e.rejectedLots === 0n ? '0' : qty(e.rejectedLots),
            }),
          );
        break;
      case 'amended':
        out.push(
          catalogueEvent('OrderAmended', {
            orderId: e.orderId,
            userId: e.userId,
            marketId: spec.marketId,
            price: price(e.priceTicks),
            quantity: qty(e.lots),
            remainingQuantity: qty(e.remainingLots),
            priorityLost: e.priorityLost,
          }),
        );
        break;
    }
  }
  return out;
}

function tradeCount(events: readonly BookEvent[]): number {
  return events.reduce((n, e) => (e.kind === 'trade' ? n + 1 : n), 0);
}

/** A canonical signature of a decided event, ignoring the injected trade id and time. */
export function eventSignature(event: TradecoreEvent): string {
  const data = event.data as Record<string, unknown>;
  const keys = Object.keys(data)
    .filter((k) => !(event.type === 'TradeExecuted' && (k === 'tradeId' || k === 'executedAt')))
    .sort();
  return `${event.type}:${JSON.stringify(keys.map((k) => [k, data[k]]))}`;
}

// ---- the book command of an order ----

function placeCommand(spec: MarketSpec, o: Pick<EventData<'OrderEntered'>, 'orderId' | 'userId' | 'side' | 'type' | 'timeInForce' | 'price' | 'protectionPrice' | 'quantity' | 'postOnly' | 'selfTradePrevention'>): BookCommand {
  const price = o.type === 'limit' ? o.price : o.protectionPrice;
  if (price === null) throw new DecimalValidationError(o.type === 'limit' ? 'price' : 'protectionPrice', 'format', 'is required');
  return {
    kind: 'place',
    orderId: o.orderId,
    userId: o.userId,
    side: o.side,
    type: o.type,
    timeInForce: o.timeInForce,
    priceTicks: priceToTicks(price, spec.tickSize, o.type === 'limit' ? 'price' : 'protectionPrice'),
    lots: quantityToLots(o.quantity, spec.lotSize),
    postOnly: o.postOnly,
    selfTradePrevention: o.selfTradePrevention,
  };
}

// ---- amends ----

type AmendRequest = Pick<EventData<'OrderAmendAccepted'>, 'orderId' | 'userId' | 'requestId' | 'newPrice' | 'newQuantity'>;

/** The book's refusal of an amend, as a catalogue reason. */
function amendRefusalOf(reason: BookRejectReason): AmendRefusalReason {
  switch (reason) {
    case 'post_only_would_take':
      return 'post_only_would_take';
    case 'unknown_order':
    case 'order_not_open':
      return 'order_not_open';
    case 'fok_unfillable':
    case 'no_liquidity':
    case 'duplicate_order':
      // Reasons of a place only: a book that gives them for an amend breaks its contract.
      throw new Error(`the book refused an amend with ${reason}, a reason it gives only for a place`);
  }
}

/** The market's refusal of an accepted amend, with the order's terms when it rests (`terms`). */
function amendRefusal(spec: MarketSpec, a: AmendRequest, reason: AmendRefusalReason, terms?: RestingOrderView): MarketEvent {
  return catalogueEvent('OrderAmendRejectedByEngine', {
    orderId: a.orderId,
    userId: a.userId,
    marketId: spec.marketId,
    requestId: a.requestId,
    newPrice: a.newPrice,
    newQuantity: a.newQuantity,
    reason,
    // Absent rather than undefined: the replay compares signatures of stored (JSON) events.
    ...(terms
      ? { price: ticksToPrice(terms.priceTicks, spec.tickSize), quantity: lotsToQuantity(terms.lots, spec.lotSize), remainingQuantity: lotsToQuantity(terms.remainingLots, spec.lotSize) }
      : {}),
  });
}

/**
 * Applies an accepted amend to the book, or refuses it with one `OrderAmendRejectedByEngine`
 * (leaving the book as it was). Both decide and replay run it, so a recorded refusal is checked by
 * the same rules that made it. `ctx` gives the translation context of the applied amend's book
 * events (its trade ids).
 */
function amendOrRefuse(spec: MarketSpec, book: OrderBook, a: AmendRequest, ctx: (bookEvents: BookEvent[]) => TranslateContext): MarketEvent[] {
  const refuse = (reason: AmendRefusalReason, terms?: RestingOrderView): MarketEvent[] => [amendRefusal(spec, a, reason, terms)];
  const resting = book.restingOrder(a.orderId);
  // Filled, cancelled or expired since risk accepted the amend. (Another user's order under this id
  // is not the trader's order either: refused the same way, its terms not disclosed.)
  if (!resting || resting.userId !== a.userId) return refuse('order_not_open');
  let amend: BookCommand;
  try {
    amend = { kind: 'amend', orderId: a.orderId, priceTicks: priceToTicks(a.newPrice, spec.tickSize), lots: quantityToLots(a.newQuantity, spec.lotSize) };
  } catch (e) {
    if (e instanceof DecimalValidationError) return refuse(e.field === 'quantity' ? 'invalid_quantity' : 'invalid_price', resting);
    throw e;
  }
  const bookEvents = book.execute(amend);
  const rejected = bookEvents.find((e) => e.kind === 'rejected');
  // A refused amend is the book's only event, and the order rests as it did (`resting` is its view from before).
  if (rejected) return refuse(amendRefusalOf(rejected.reason), resting);
  return translate(bookEvents, ctx(bookEvents));
}

// ---- inputs the decider could not decide (engine_error) ----

/**
 * The answer to an accepted order the decider failed on: rejected in full, the book untouched.
 * None when the book already holds an order of that id: it did reach the book, and its reservation
 * is still needed for what it may fill (replay refuses such a rejection the same way).
 */
function engineErrorOrder(spec: MarketSpec, book: OrderBook, o: Pick<EventData<'OrderAccepted'>, 'orderId' | 'userId' | 'quantity'>): MarketEvent[] {
  if (book.restingOrder(o.orderId)) return [];
  return [catalogueEvent('OrderRejectedByEngine', { orderId: o.orderId, userId: o.userId, marketId: spec.marketId, reason: 'engine_error', rejectedQuantity: o.quantity })];
}

/**
 * The answer to an accepted amend the decider failed on: refused, the order on the terms the book
 * holds (shown when it rests there and is the trader's, as for any other refusal).
 */
function engineErrorAmend(spec: MarketSpec, book: OrderBook, a: AmendRequest): MarketEvent {
  const resting = book.restingOrder(a.orderId);
  return amendRefusal(spec, a, 'engine_error', resting && resting.userId === a.userId ? resting : undefined);
}

// ---- the decider ----

export function createMarketDecider(options: MarketDeciderOptions) {
  function initialState(spec: MarketSpec | null = null): MarketState {
    return { spec, book: options.createBook(), lastTradePrice: null, lastInputPosition: -1n, pending: [] };
  }

  function requireSpec(state: MarketState): MarketSpec {
    if (!state.spec) throw new Error('market state has no spec: evolve MarketListed first or pass it to initialState');
    return state.spec;
  }

  function cancelAll(state: MarketState, spec: MarketSpec, covers: (userId: number) => boolean, reason: CancelReason, now: string): MarketEvent[] {
    const out: MarketEvent[] = [];
    for (const o of state.book.restingOrders()) {
      if (!covers(o.userId)) continue;
      out.push(...translate(state.book.execute({ kind: 'cancel', orderId: o.orderId }), { spec, cancelReason: reason, tradeIds: [], now, rejectionsAreOrders: false }));
    }
    return out;
  }

  /**
   * A kill switch whose own input did not reach this book (the execution handler dead-lettered it)
   * must not leave the blocked account's resting orders to trade: before an order or an amend can
   * match, every resting order its control view blocks is cancelled (`kill_switch`). Once per kill-switch
   * list: after a sweep none is left, and the blocked accounts' new orders are refused, so the next
   * sweep would find nothing until the list changes. In the normal course the kill switch's input
   * cancelled them already and the sweep appends nothing.
   */
  function sweepKillSwitched(state: MarketState, spec: MarketSpec, control: ControlState, now: string): MarketEvent[] {
    const switches = control.killSwitches;
    if (switches.length === 0 || state.sweptFor === switches) return [];
    const swept = cancelAll(state, spec, (userId) => killSwitchCovering(control, userId, spec.marketId) !== null, 'kill_switch', now);
    state.sweptFor = switches;
    return swept;
  }

  function decideInner(command: MarketCommand, state: MarketState): MarketEvent[] {
    const spec = requireSpec(state);
    const ctx = (bookEvents: BookEvent[], cancelReason: CancelReason, rejectionsAreOrders: boolean): TranslateContext => {
      const n = tradeCount(bookEvents);
      const tradeIds = n > 0 ? command.ids(n) : [];
      if (tradeIds.length < n) throw new Error(`ids(${n}) returned ${tradeIds.length} ids`);
      return { spec, cancelReason, tradeIds, now: command.now, rejectionsAreOrders };
    };
    switch (command.kind) {
      case 'AcceptedOrder': {
        const o = command.order;
        if (o.marketId !== spec.marketId) return [];
        const block = command.control ? isBlocked(command.control, o.userId, o.marketId) : null;
        const reject = (reason: 'kill_switch' | 'market_halted' | 'invalid_price' | 'invalid_quantity') => [
          catalogueEvent('OrderRejectedByEngine', { orderId: o.orderId, userId: o.userId, marketId: o.marketId, reason, rejectedQuantity: o.quantity }),
        ];
        if (block) return reject(block.reason);
        let place: BookCommand;
        try {
          place = placeCommand(spec, o);
        } catch (e) {
          if (e instanceof DecimalValidationError) return reject(e.field === 'quantity' ? 'invalid_quantity' : 'invalid_price');
          throw e;
        }
        const entered = catalogueEvent('OrderEntered', {
          orderId: o.orderId,
          userId: o.userId,
          marketId: o.marketId,
          side: o.side,
          type: o.type,
          timeInForce: o.timeInForce,
          price: o.type === 'limit' ? o.price : null,
          protectionPrice: o.type === 'market' ? o.protectionPrice : null,
          quantity: o.quantity,
          postOnly: o.postOnly,
          selfTradePrevention: o.selfTradePrevention,
        });
        const swept = command.control ? sweepKillSwitched(state, spec, command.control, command.now) : [];
        const bookEvents = state.book.execute(place);
        return [...swept, entered, ...translate(bookEvents, ctx(bookEvents, 'user', true))];
      }
      case 'CancelRequest': {
        const r = command.request;
        const resting = state.book.restingOrder(r.orderId);
        if (!resting || resting.userId !== r.userId) return [];
        const bookEvents = state.book.execute({ kind: 'cancel', orderId: r.orderId });
        return translate(bookEvents, ctx(bookEvents, 'user', false));
      }
      case 'AmendAccepted': {
        const a = command.amend;
        // Another market's amend is not this market's to answer (as for an accepted order).
        if (a.marketId !== spec.marketId) return [];
        // An amend to a crossing price trades as a taker: the same sweep as before an order.
        const swept = command.control ? sweepKillSwitched(state, spec, command.control, command.now) : [];
        return [...swept, ...amendOrRefuse(spec, state.book, a, (bookEvents) => ctx(bookEvents, 'user', false))];
      }
      case 'ExpireOrder': {
        const resting = state.book.restingOrder(command.orderId);
        if (!resting) return [];
        const bookEvents = state.book.execute({ kind: 'cancel', orderId: command.orderId });
        return bookEvents.flatMap((e): MarketEvent[] =>
          e.kind === 'cancelled'
            ? [catalogueEvent('OrderExpired', { orderId: e.orderId, userId: e.userId, marketId: spec.marketId, expiredQuantity: lotsToQuantity(e.cancelledLots, spec.lotSize) })]
            : [],
        );
      }
      case 'KillSwitch': {
        const ks = command.engaged;
        return cancelAll(state, spec, (userId) => killSwitchCovers(ks, userId, spec.marketId), 'kill_switch', command.now);
      }
      case 'Halt':
        if (command.halted.marketId !== spec.marketId) return [];
        return cancelAll(state, spec, () => true, 'market_halted', command.now);
    }
  }

  /** Decide, and apply the decision to the book (see the module comment). */
  function decide(command: MarketCommand, state: MarketState): MarketEvent[] {
    if (state.pending.length > 0) throw new Error('a previous decision was not evolved: evolve its events or rebuild the state');
    if (command.inputPosition <= state.lastInputPosition) return [];
    const events = decideInner(command, state);
    // The objects themselves: evolving the very events decided needs no signature (identity).
    state.pending.push(...events);
    return events;
  }

  /**
   * The answer to an input `decide` threw on every attempt (the execution handler dead-letters the
   * input and appends this instead of its decision), decided on a state rebuilt without that failed
   * attempt (a throwing `decide` may have half-changed the book). Evolve it like a decision. It
   * leaves the book as it is: the market could not process the input, so nothing reached the book.
   */
  function engineErrorAnswer(command: MarketCommand, state: MarketState): MarketEvent[] {
    if (state.pending.length > 0) throw new Error('a previous decision was not evolved: evolve its events or rebuild the state');
    const spec = state.spec;
    // No spec: a market not listed, whose stream the decider cannot keep (evolve ignores it, so the
    // answer would not even mark the input as applied). The relay never publishes such an input.
    if (!spec || command.inputPosition <= state.lastInputPosition) return [];
    switch (command.kind) {
      case 'AcceptedOrder':
        // Another market's order is not this market's to answer (as in decide).
        return command.order.marketId === spec.marketId ? engineErrorOrder(spec, state.book, command.order) : [];
      case 'AmendAccepted':
        return command.amend.marketId === spec.marketId ? [engineErrorAmend(spec, state.book, command.amend)] : [];
      case 'CancelRequest':
      case 'KillSwitch':
      case 'Halt':
      case 'ExpireOrder':
        // These hold no money of their own: an order they did not reach stays open in the book and
        // in the account alike, still covered by its reservation (the trader can cancel again; an
        // operator acts on the dead letter). Dead letter only. A kill switch's orders do not trade
        // meanwhile: the next order sweeps them first (sweepKillSwitched).
        return [];
    }
  }

  /** Re-execute a recorded book command; its consequences become pending and must follow. */
  function replay(state: MarketState, spec: MarketSpec, event: TradecoreEvent): void {
    let command: BookCommand | null = null;
    let cancelReason: CancelReason = 'user';
    let self = true; // the recorded event is itself the first consequence
    switch (event.type) {
      case 'OrderEntered':
        command = placeCommand(spec, event.data);
        self = false;
        break;
      case 'OrderCancelled':
        command = { kind: 'cancel', orderId: event.data.orderId };
        cancelReason = event.data.reason;
        break;
      case 'OrderExpired':
        command = { kind: 'cancel', orderId: event.data.orderId };
        break;
      case 'OrderAmended':
        command = { kind: 'amend', orderId: event.data.orderId, priceTicks: priceToTicks(event.data.price, spec.tickSize), lots: quantityToLots(event.data.quantity, spec.lotSize) };
        break;
      case 'OrderRejectedByEngine':
        // An order refused before it reached the book (kill switch, halt, bad steps, engine_error):
        // the book does not change. An engine_error answer is answered again on the book as it is
        // now and must come out the same (none for an order the book holds: not the handler's).
        if (event.data.reason === 'engine_error') {
          const again = engineErrorOrder(spec, state.book, { ...event.data, quantity: event.data.rejectedQuantity });
          const signature = eventSignature(event);
          if (again.length !== 1 || again[0] === undefined || eventSignature(again[0]) !== signature)
            throw new MarketReplayError(`replaying ${signature} gave ${again.map(eventSignature).join(', ') || 'nothing'}`);
        }
        return;
      case 'OrderAmendRejectedByEngine': {
        // The refusal is its own decision: decide it again on the book as it is now, and it must be
        // the same refusal (a refusal leaves the book unchanged, so the rebuild goes on as live).
        // engine_error was not the book's decision (the decider failed): it is answered again from
        // the book's terms, as engineErrorAnswer did.
        const again =
          event.data.reason === 'engine_error'
            ? [engineErrorAmend(spec, state.book, event.data)]
            : amendOrRefuse(spec, state.book, event.data, () => ({ spec, cancelReason: 'user', tradeIds: [], now: '', rejectionsAreOrders: false }));
        const signature = eventSignature(event);
        if (again.length !== 1 || again[0] === undefined || eventSignature(again[0]) !== signature)
          throw new MarketReplayError(`replaying ${signature} gave ${again.map(eventSignature).join(', ') || 'nothing'}`);
        return;
      }
      case 'OrderRested':
      case 'TradeExecuted':
        throw new MarketReplayError(`${event.type} without the command that caused it`);
      default:
        return;
    }
    const bookEvents = state.book.execute(command);
    let produced = translate(bookEvents, { spec, cancelReason, tradeIds: [], now: '', rejectionsAreOrders: event.type === 'OrderEntered' });
    if (event.type === 'OrderExpired')
      produced = produced.map((e) =>
        e.type === 'OrderCancelled' ? catalogueEvent('OrderExpired', { orderId: e.data.orderId, userId: e.data.userId, marketId: e.data.marketId, expiredQuantity: e.data.cancelledQuantity }) : e,
      );
    const signatures = produced.map(eventSignature);
    if (self) {
      const first = signatures.shift();
      if (first !== eventSignature(event)) throw new MarketReplayError(`replaying ${event.type} of ${orderIdOf(event)} gave ${first ?? 'nothing'}`);
    }
    state.pending.push(...signatures);
  }

  function evolve(state: MarketState, event: TradecoreEvent, meta?: DecisionMeta): MarketState {
    if (event.type === 'MarketListed') {
      if (state.spec && state.spec.marketId !== event.data.marketId) return state;
      return { ...state, spec: marketSpecOf(event.data) };
    }
    const spec = state.spec;
    if (!spec || !MARKET_STREAM_TYPES.has(event.type) || !('marketId' in event.data) || event.data.marketId !== spec.marketId) return state;
    if (state.pending.length > 0) {
      const pending = state.pending[0]!;
      if (pending !== event) {
        // Not the decided object (a copy, a recorded event, a replay's consequence): compare signatures.
        const expected = typeof pending === 'string' ? pending : eventSignature(pending);
        const actual = eventSignature(event);
        if (actual !== expected) throw new MarketReplayError(`expected ${expected}, got ${actual}`);
      }
      state.pending.shift();
    } else {
      replay(state, spec, event);
    }
    const pos = positionOf(meta);
    return {
      ...state,
      lastTradePrice: event.type === 'TradeExecuted' ? event.data.price : state.lastTradePrice,
      lastInputPosition: pos !== null && pos > state.lastInputPosition ? pos : state.lastInputPosition,
    };
  }

  return { initialState, decide, evolve, engineErrorAnswer };
}

function orderIdOf(event: TradecoreEvent): string {
  return 'orderId' in event.data ? event.data.orderId : '?';
}

export type MarketDecider = ReturnType<typeof createMarketDecider>;

// ---- snapshots (optional: speed up a rebuild) ----

export interface MarketSnapshot {
  spec: MarketSpec;
  book: BookSnapshot;
  lastTradePrice: string | null;
  lastInputPosition: bigint;
}

export function marketSnapshot(state: MarketState): MarketSnapshot {
  if (!state.spec) throw new Error('no spec');
  if (state.pending.length > 0) throw new Error('a decision is not evolved yet');
  return { spec: state.spec, book: state.book.snapshot(), lastTradePrice: state.lastTradePrice, lastInputPosition: state.lastInputPosition };
}

/** A state from a snapshot; continue with `evolve` on the market stream's events after it. */
export function restoreMarketState(snapshot: MarketSnapshot, restoreBook: (s: BookSnapshot) => OrderBook): MarketState {
  return { spec: snapshot.spec, book: restoreBook(snapshot.book), lastTradePrice: snapshot.lastTradePrice, lastInputPosition: snapshot.lastInputPosition, pending: [] };
}

// ---- routing: market-inbox events to commands ----

export interface MarketRoutedInput {
  event: TradecoreEvent;
  globalPosition: bigint;
  /** Input event time (ISO 8601), used as `now`. */
  recordedAt: string;
  ids: (n: number) => string[];
}

export function toMarketCommand(input: MarketRoutedInput, control?: ControlState): MarketCommand | null {
  const base = { inputPosition: input.globalPosition, now: input.recordedAt, ids: input.ids };
  const e = input.event;
  switch (e.type) {
    case 'OrderAccepted':
      return control ? { ...base, kind: 'AcceptedOrder', order: e.data, control } : { ...base, kind: 'AcceptedOrder', order: e.data };
    // Never the request itself: it may be recorded before the order's acceptance (see OrderCancelAccepted).
    case 'OrderCancelAccepted':
      return { ...base, kind: 'CancelRequest', request: e.data };
    case 'OrderAmendAccepted':
      return control ? { ...base, kind: 'AmendAccepted', amend: e.data, control } : { ...base, kind: 'AmendAccepted', amend: e.data };
    case 'KillSwitchEngaged':
      return { ...base, kind: 'KillSwitch', engaged: e.data };
    case 'MarketHalted':
      return { ...base, kind: 'Halt', halted: e.data };
    default:
      return null;
  }
}
