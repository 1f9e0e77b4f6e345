/**
 * A small, deterministic trading venue for tests and the benchmark: it writes realistic catalogue
 * events (users, markets, deposits, orders, risk accepts and rejects, matching, trades, fills,
 * cancels, kill switches) to a sink, taking every risk decision with core-domain's account decider
 * exactly as the risk handler does (inputAt = the input's metadata.occurredAt, control and last
 * price as of just before the input; so `tradectl recheck` must agree with it), and matching orders
 * with a simple price-time book.
 *
 * Sinks: `storeSink` appends through the EventStore port (positions and times come from the
 * store); `BulkSink` (bench) writes rows straight into the PostgreSQL event tables with hash chains
 * computed here, for millions of events in seconds.
 */
import { createHash } from 'node:crypto';
import {
  DEFAULT_ACCOUNT_LIMITS,
  accountDecider,
  decideAccount,
  evolveAccount,
  evolveControl,
  formatAmount,
  initialAccountState,
  initialControlState,
  lotsToQuantity,
  priceToTicks,
  quantityToLots,
  ticksToPrice,
  tradeAmounts,
  type AccountCommand,
  type AccountLimits,
  type AccountState,
  type ControlState,
  type EventData,
  type MarketSpec,
  type Side,
  type TimeInForce,
  type TradecoreEvent,
} from '@tradecore/core-domain';
import type { EventMetadata, EventStore, NewEvent } from '@tradecore/event-store';

export interface SinkResult {
  positions: bigint[];
  recordedAt: string;
}

export interface Sink {
  append(stream: string, events: NewEvent[]): Promise<SinkResult>;
}

/** Appends through the port; reads the appended events back for their positions and time. */
export function storeSink(store: EventStore): Sink {
  return {
    async append(stream, events) {
      const r = await store.appendToStream(stream, events);
      const first = r.nextExpectedRevision - BigInt(events.length) + 1n;
      const back = await store.readStream(stream, { fromRevision: first, maxCount: events.length });
      return { positions: back.map((e) => e.globalPosition), recordedAt: back[0]?.recordedAt ?? new Date().toISOString() };
    },
  };
}

/** Seeded PRNG (xorshift128+): same seed, same ids and choices. */
export class Rng {
  private s0: bigint;
  private s1: bigint;
  constructor(seed: number) {
    this.s0 = BigInt(seed) * 0x9e3779b97f4a7c15n + 0x1234567n;
    this.s1 = (BigInt(seed) ^ 0xdeadbeefn) * 0xbf58476d1ce4e5b9n + 0x7654321n;
    this.s0 &= 0xffffffffffffffffn;
    this.s1 &= 0xffffffffffffffffn;
    for (let i = 0; i < 8; i++) this.next64();
  }
  next64(): bigint {
    let x = this.s0;
    const y = this.s1;
    this.s0 = y;
    x ^= (x << 23n) & 0xffffffffffffffffn;
    this.s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return (this.s1 + y) & 0xffffffffffffffffn;
  }
  /** Uniform in [0, 1). */
  next(): number {
    return Number(this.next64() >> 11n) / 2 ** 53;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  uuid(): string {
    const h = (this.next64().toString(16).padStart(16, '0') + this.next64().toString(16).padStart(16, '0')).split('');
    h[12] = '4';
    h[16] = ((parseInt(h[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
    const s = h.join('');
    return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
  }
}

interface Resting {
  orderId: string;
  userId: number;
  side: Side;
  priceTicks: bigint;
  remainingLots: bigint;
}

interface Book {
  bids: Resting[];
  asks: Resting[];
}

export interface PlaceRequest {
  userId: number;
  marketId: number;
  side: Side;
  type?: 'limit' | 'market';
  price?: string | null;
  quantity: string;
  timeInForce?: TimeInForce;
  /**
   * The execution handler could not decide the accepted order (its market decider threw; the input
   * was dead-lettered): the market answers OrderRejectedByEngine engine_error, never reaching the
   * book, and risk releases the reservation.
   */
  engineError?: boolean;
  /**
   * The risk handler could not decide the order (its account decider threw; the input was
   * dead-lettered): the account refuses it, OrderRejected engine_error, reserving nothing.
   */
  riskEngineError?: boolean;
}

export interface PlaceResult {
  orderId: string;
  outcome: 'accepted' | 'rejected';
  reason?: string;
  placedPosition: bigint;
  decisionPosition: bigint;
  trades: number;
}

export interface SimulatorOptions {
  /** ISO start of the simulated clock (metadata.occurredAt). */
  start?: string;
  /** Clock step per action, ms. */
  stepMs?: number;
  seed?: number;
  limits?: AccountLimits;
}

export class Simulator {
  readonly rng: Rng;
  clockMs: number;
  private readonly stepMs: number;
  private readonly limits: AccountLimits;
  private userCount = 0;
  private marketCount = 0;
  control: ControlState = initialControlState();
  readonly accounts = new Map<number, AccountState>();
  readonly books = new Map<number, Book>();
  readonly lastPrice = new Map<number, string>();
  readonly orders = new Map<string, { userId: number; marketId: number; side: Side }>();
  /** Events written, by type. */
  readonly counts = new Map<string, number>();
  events = 0;

  constructor(
    private readonly sink: Sink,
    options: SimulatorOptions = {},
  ) {
    this.rng = new Rng(options.seed ?? 42);
    this.clockMs = Date.parse(options.start ?? '2025-03-14T14:00:00.000Z');
    this.stepMs = options.stepMs ?? 1000;
    this.limits = options.limits ?? DEFAULT_ACCOUNT_LIMITS;
  }

  now(): string {
    return new Date(this.clockMs).toISOString();
  }

  tick(ms = this.stepMs): void {
    this.clockMs += ms;
  }

  private meta(userId: number | null, correlationId: string, causationId: string | null, extra: Partial<EventMetadata> = {}): EventMetadata {
    return { correlationId, causationId, userId, occurredAt: this.now(), schemaVersion: 1, ...extra };
  }

  private event(e: TradecoreEvent, metadata: EventMetadata): NewEvent {
    return { eventId: this.rng.uuid(), type: e.type, data: e.data, metadata };
  }

  private async write(stream: string, events: NewEvent[]): Promise<SinkResult> {
    const r = await this.sink.append(stream, events);
    this.events += events.length;
    for (const e of events) this.counts.set(e.type, (this.counts.get(e.type) ?? 0) + 1);
    return r;
  }

  private account(userId: number): AccountState {
    return this.accounts.get(userId) ?? initialAccountState();
  }

  private spec(marketId: number): MarketSpec {
    const s = this.control.markets.get(marketId);
    if (!s) throw new Error(`simulator: market ${marketId} is not listed`);
    return s;
  }

  async registerUser(username: string, roles: ('trader' | 'admin')[] = ['trader']): Promise<number> {
    this.tick();
    const userId = ++this.userCount;
    const corr = this.rng.uuid();
    const e: TradecoreEvent = { type: 'UserRegistered', schemaVersion: 1, data: { userId, username, passwordHash: `argon2id$sim$${username}`, roles } };
    await this.write('users', [this.event(e, this.meta(userId, corr, null))]);
    return userId;
  }

  async listMarket(spec: Omit<EventData<'MarketListed'>, 'marketId' | 'listedBy'>, listedBy: number): Promise<number> {
    this.tick();
    const marketId = ++this.marketCount;
    const e: TradecoreEvent = { type: 'MarketListed', schemaVersion: 1, data: { ...spec, marketId, listedBy } };
    await this.write('markets', [this.event(e, this.meta(listedBy, this.rng.uuid(), null))]);
    this.control = evolveControl(this.control, e);
    this.books.set(marketId, { bids: [], asks: [] });
    return marketId;
  }

  async deposit(userId: number, asset: string, amount: string, by = userId): Promise<bigint> {
    this.tick();
    const e: TradecoreEvent = { type: 'FundsDeposited', schemaVersion: 1, data: { depositId: this.rng.uuid(), userId, asset, amount, depositedBy: by } };
    const r = await this.write(`account-${userId}`, [this.event(e, this.meta(by, this.rng.uuid(), null))]);
    this.accounts.set(userId, evolveAccount(this.account(userId), e));
    return r.positions[0] ?? 0n;
  }

  async control_(type: 'KillSwitchEngaged' | 'KillSwitchReleased', data: EventData<'KillSwitchEngaged'>): Promise<void> {
    this.tick();
    const e = { type, schemaVersion: 1, data } as TradecoreEvent;
    await this.write('control', [this.event(e, this.meta(data.changedBy, this.rng.uuid(), null))]);
    this.control = evolveControl(this.control, e);
  }

  async haltMarket(marketId: number, reason: string, by: number): Promise<void> {
    this.tick();
    const e: TradecoreEvent = { type: 'MarketHalted', schemaVersion: 1, data: { marketId, reason, haltedBy: by } };
    await this.write('markets', [this.event(e, this.meta(by, this.rng.uuid(), null))]);
    this.control = evolveControl(this.control, e);
  }

  async resumeMarket(marketId: number, reason: string, by: number): Promise<void> {
    this.tick();
    const e: TradecoreEvent = { type: 'MarketResumed', schemaVersion: 1, data: { marketId, reason, resumedBy: by } };
    await this.write('markets', [this.event(e, this.meta(by, this.rng.uuid(), null))]);
    this.control = evolveControl(this.control, e);
  }

  /**
   * Runs an account command, appends its events to account-{userId}, folds them in. `engineError`:
   * the risk handler's answer to the command its decider threw on, in place of the decision.
   */
  private async decide(
    userId: number,
    command: AccountCommand,
    correlationId: string,
    causationId: string,
    actor: number | null,
    engineError = false,
  ): Promise<{ events: TradecoreEvent[]; positions: bigint[]; ids: string[] }> {
    const state = this.account(userId);
    const decided = engineError ? accountDecider.engineErrorAnswer(command, state) : decideAccount(command, state);
    if (decided.length === 0) return { events: [], positions: [], ids: [] };
    const extra = { inputPosition: command.inputPosition.toString(), inputAt: command.inputAt };
    const news = decided.map((e) => this.event(e, this.meta(actor, correlationId, causationId, extra)));
    const r = await this.write(`account-${userId}`, news);
    let s = state;
    for (const e of decided) s = evolveAccount(s, e, { inputPosition: command.inputPosition, inputAt: command.inputAt });
    this.accounts.set(userId, s);
    return { events: decided, positions: r.positions, ids: news.map((e) => e.eventId) };
  }

  async placeOrder(req: PlaceRequest): Promise<PlaceResult> {
    this.tick();
    const spec = this.spec(req.marketId);
    const orderId = this.rng.uuid();
    const corr = this.rng.uuid();
    const type = req.type ?? 'limit';
    const data: EventData<'OrderPlaced'> = {
      orderId,
      userId: req.userId,
      marketId: req.marketId,
      side: req.side,
      type,
      timeInForce: req.timeInForce ?? (type === 'market' ? 'IOC' : 'GTC'),
      price: type === 'market' ? null : (req.price ?? null),
      quantity: req.quantity,
      postOnly: false,
      selfTradePrevention: 'cancel_newest',
      clientOrderId: null,
      requestHash: createHash('sha256').update(`${orderId}|${req.side}|${req.price ?? ''}|${req.quantity}`).digest('hex'),
      placedAt: this.now(),
    };
    this.orders.set(orderId, { userId: req.userId, marketId: req.marketId, side: req.side });
    const placed = this.event({ type: 'OrderPlaced', schemaVersion: 1, data }, this.meta(req.userId, corr, null));
    const pr = await this.write(`order-${orderId}`, [placed]);
    const placedPosition = pr.positions[0] ?? 0n;
    this.tick(5);
    const decision = await this.decide(
      req.userId,
      { kind: 'PlaceOrder', inputPosition: placedPosition, inputAt: placed.metadata.occurredAt, order: data, control: this.control, lastPrice: this.lastPrice.get(req.marketId) ?? null, limits: this.limits },
      corr,
      placed.eventId,
      req.userId,
      req.riskEngineError,
    );
    const d = decision.events[0];
    const decisionPosition = decision.positions[0] ?? 0n;
    if (!d || d.type !== 'OrderAccepted') {
      return { orderId, outcome: 'rejected', reason: d?.type === 'OrderRejected' ? d.data.reason : 'none', placedPosition, decisionPosition, trades: 0 };
    }
    if (req.engineError) {
      await this.answerEngineError(d.data, corr, decisionPosition, decision.ids[0] ?? null);
      return { orderId, outcome: 'accepted', placedPosition, decisionPosition, trades: 0 };
    }
    const trades = await this.execute(d.data, spec, corr, decisionPosition, decision.ids[0] ?? null);
    return { orderId, outcome: 'accepted', placedPosition, decisionPosition, trades };
  }

  /** The execution handler's answer to an accepted order it could not decide, and risk's release. */
  private async answerEngineError(acc: EventData<'OrderAccepted'>, corr: string, inputPosition: bigint, acceptedId: string | null): Promise<void> {
    this.tick(5);
    const rejected: TradecoreEvent = {
      type: 'OrderRejectedByEngine',
      schemaVersion: 1,
      data: { orderId: acc.orderId, userId: acc.userId, marketId: acc.marketId, reason: 'engine_error', rejectedQuantity: acc.quantity },
    };
    const re = this.event(rejected, this.meta(acc.userId, corr, acceptedId, { inputPosition: inputPosition.toString() }));
    const rr = await this.write(`market-${acc.marketId}`, [re]);
    if (rejected.type === 'OrderRejectedByEngine')
      await this.decide(acc.userId, { kind: 'ReleaseOrder', inputPosition: rr.positions[0] ?? 0n, inputAt: re.metadata.occurredAt, event: rejected }, corr, re.eventId, null);
  }

  /** The execution handler for an accepted order: enter, match, rest or cancel; then settle. */
  private async execute(acc: EventData<'OrderAccepted'>, spec: MarketSpec, corr: string, inputPosition: bigint, acceptedId: string | null): Promise<number> {
    this.tick(5);
    const book = this.books.get(acc.marketId) ?? { bids: [], asks: [] };
    this.books.set(acc.marketId, book);
    const market: TradecoreEvent[] = [];
    market.push({
      type: 'OrderEntered',
      schemaVersion: 1,
      data: {
        orderId: acc.orderId,
        userId: acc.userId,
        marketId: acc.marketId,
        side: acc.side,
        type: acc.type,
        timeInForce: acc.timeInForce,
        price: acc.price,
        protectionPrice: acc.protectionPrice,
        quantity: acc.quantity,
        postOnly: acc.postOnly,
        selfTradePrevention: acc.selfTradePrevention,
      },
    });
    const limitPrice = acc.price ?? acc.protectionPrice;
    const limitTicks = limitPrice ? priceToTicks(limitPrice, spec.tickSize) : null;
    let remaining = quantityToLots(acc.quantity, spec.lotSize);
    const opposite = acc.side === 'buy' ? book.asks : book.bids;
    const crosses = (m: Resting): boolean => limitTicks === null || (acc.side === 'buy' ? m.priceTicks <= limitTicks : m.priceTicks >= limitTicks);
    const trades: EventData<'TradeExecuted'>[] = [];
    while (remaining > 0n && opposite.length > 0) {
      const maker = opposite[0];
      if (!maker || !crosses(maker)) break;
      if (maker.userId === acc.userId) break; // self-trade prevention (cancel_newest): stop matching
      const lots = remaining < maker.remainingLots ? remaining : maker.remainingLots;
      remaining -= lots;
      maker.remainingLots -= lots;
      if (maker.remainingLots === 0n) opposite.shift();
      const amounts = tradeAmounts(spec, maker.priceTicks, lots);
      const t: EventData<'TradeExecuted'> = {
        tradeId: this.rng.uuid(),
        marketId: acc.marketId,
        price: ticksToPrice(maker.priceTicks, spec.tickSize),
        quantity: lotsToQuantity(lots, spec.lotSize),
        takerSide: acc.side,
        takerOrderId: acc.orderId,
        takerUserId: acc.userId,
        makerOrderId: maker.orderId,
        makerUserId: maker.userId,
        takerFee: formatAmount(amounts.takerFee),
        makerFee: formatAmount(amounts.makerFee),
        takerRemainingQuantity: remaining === 0n ? '0' : lotsToQuantity(remaining, spec.lotSize),
        makerRemainingQuantity: maker.remainingLots === 0n ? '0' : lotsToQuantity(maker.remainingLots, spec.lotSize),
        executedAt: this.now(),
      };
      trades.push(t);
      market.push({ type: 'TradeExecuted', schemaVersion: 1, data: t });
      this.lastPrice.set(acc.marketId, t.price);
    }
    let cancelled: EventData<'OrderCancelled'> | undefined;
    if (remaining > 0n) {
      if (acc.type === 'limit' && acc.timeInForce === 'GTC' && limitTicks !== null) {
        const r: Resting = { orderId: acc.orderId, userId: acc.userId, side: acc.side, priceTicks: limitTicks, remainingLots: remaining };
        const side = acc.side === 'buy' ? book.bids : book.asks;
        // price-time priority: bids descending, asks ascending, FIFO within a price
        let i = side.length;
        while (i > 0) {
          const prev = side[i - 1];
          if (!prev) break;
          if (acc.side === 'buy' ? prev.priceTicks >= limitTicks : prev.priceTicks <= limitTicks) break;
          i--;
        }
        side.splice(i, 0, r);
        market.push({
          type: 'OrderRested',
          schemaVersion: 1,
          data: { orderId: acc.orderId, userId: acc.userId, marketId: acc.marketId, side: acc.side, price: ticksToPrice(limitTicks, spec.tickSize), remainingQuantity: lotsToQuantity(remaining, spec.lotSize) },
        });
      } else {
        cancelled = {
          orderId: acc.orderId,
          userId: acc.userId,
          marketId: acc.marketId,
          reason: acc.type === 'market' ? 'market_remainder' : 'ioc_remainder',
          cancelledQuantity: lotsToQuantity(remaining, spec.lotSize),
        };
        market.push({ type: 'OrderCancelled', schemaVersion: 1, data: cancelled });
      }
    }
    const newEvents = market.map((e) => this.event(e, this.meta(acc.userId, corr, acceptedId, { inputPosition: inputPosition.toString() })));
    const mr = await this.write(`market-${acc.marketId}`, newEvents);
    // settlement: the risk handler takes each TradeExecuted (and the remainder cancel) as an input
    let k = 0;
    for (let i = 0; i < market.length; i++) {
      const e = market[i];
      const pos = mr.positions[i] ?? 0n;
      const cause = newEvents[i]?.eventId ?? null;
      if (!e || !cause) continue;
      if (e.type === 'TradeExecuted') {
        k++;
        this.tick(1);
        const parties = e.data.takerUserId === e.data.makerUserId ? [e.data.takerUserId] : [e.data.takerUserId, e.data.makerUserId];
        for (const u of parties) {
          await this.decide(u, { kind: 'SettleTrade', inputPosition: pos, inputAt: newEvents[i]?.metadata.occurredAt ?? mr.recordedAt, userId: u, trade: e.data, control: this.control }, corr, cause, null);
        }
      } else if (e.type === 'OrderCancelled') {
        await this.decide(e.data.userId, { kind: 'ReleaseOrder', inputPosition: pos, inputAt: newEvents[i]?.metadata.occurredAt ?? mr.recordedAt, event: e }, corr, cause, null);
      }
    }
    return k;
  }

  /**
   * A trader's cancel: request, risk's acceptance (or rejection), the market's cancel, the reservation's release.
   * `riskDeadLetters`: the risk handler could not decide the market's OrderCancelled (its account
   * decider threw; the input was dead-lettered): no release is appended, the account still holds the
   * order's reservation (what `tradectl redrive` repairs).
   */
  async cancelOrder(orderId: string, options: { riskDeadLetters?: boolean } = {}): Promise<boolean> {
    this.tick();
    const o = this.orders.get(orderId);
    if (!o) throw new Error(`simulator: unknown order ${orderId}`);
    const corr = this.rng.uuid();
    const req = this.event(
      { type: 'OrderCancelRequested', schemaVersion: 1, data: { orderId, userId: o.userId, marketId: o.marketId, requestId: this.rng.uuid(), requestedAt: this.now() } },
      this.meta(o.userId, corr, null),
    );
    const rr = await this.write(`order-${orderId}`, [req]);
    const decision = await this.decide(
      o.userId,
      { kind: 'CancelOrder', inputPosition: rr.positions[0] ?? 0n, inputAt: req.metadata.occurredAt, request: req.data as EventData<'OrderCancelRequested'> },
      corr,
      req.eventId,
      o.userId,
    );
    const accepted = decision.events[0]?.type === 'OrderCancelAccepted' ? { position: decision.positions[0] ?? 0n, eventId: decision.ids[0] ?? req.eventId } : null;
    const book = this.books.get(o.marketId);
    const side = book ? (o.side === 'buy' ? book.bids : book.asks) : [];
    const idx = side.findIndex((r) => r.orderId === orderId);
    const resting = side[idx];
    if (!accepted || idx < 0 || !resting) return false;
    side.splice(idx, 1);
    this.tick(5);
    const spec = this.spec(o.marketId);
    const cancelled: TradecoreEvent = {
      type: 'OrderCancelled',
      schemaVersion: 1,
      data: { orderId, userId: o.userId, marketId: o.marketId, reason: 'user', cancelledQuantity: lotsToQuantity(resting.remainingLots, spec.lotSize) },
    };
    const ce = this.event(cancelled, this.meta(o.userId, corr, accepted.eventId, { inputPosition: accepted.position.toString() }));
    const cr = await this.write(`market-${o.marketId}`, [ce]);
    if (cancelled.type === 'OrderCancelled' && !options.riskDeadLetters) {
      await this.decide(o.userId, { kind: 'ReleaseOrder', inputPosition: cr.positions[0] ?? 0n, inputAt: ce.metadata.occurredAt, event: cancelled }, corr, ce.eventId, null);
    }
    return true;
  }

  /**
   * A trader's amend of a resting limit order: the request, the risk decision (core-domain's
   * AmendOrder), and when accepted the market's OrderAmended (new terms; priority lost when the
   * price changes or the quantity grows) and the account's release of any excess reservation.
   * Prices that would cross the book are not supported here.
   */
  /** `riskEngineError`: the risk handler could not decide the amend, and refuses it (engine_error). */
  async amendOrder(orderId: string, change: { newPrice?: string; newQuantity?: string; riskEngineError?: boolean }): Promise<{ outcome: 'accepted' | 'rejected'; reason?: string }> {
    this.tick();
    const o = this.orders.get(orderId);
    if (!o) throw new Error(`simulator: unknown order ${orderId}`);
    const corr = this.rng.uuid();
    const request: EventData<'OrderAmendRequested'> = {
      orderId,
      userId: o.userId,
      marketId: o.marketId,
      requestId: this.rng.uuid(),
      newPrice: change.newPrice ?? null,
      newQuantity: change.newQuantity ?? null,
      requestedAt: this.now(),
    };
    const req = this.event({ type: 'OrderAmendRequested', schemaVersion: 1, data: request }, this.meta(o.userId, corr, null));
    const rr = await this.write(`order-${orderId}`, [req]);
    this.tick(5);
    const decision = await this.decide(
      o.userId,
      { kind: 'AmendOrder', inputPosition: rr.positions[0] ?? 0n, inputAt: req.metadata.occurredAt, request, control: this.control, lastPrice: this.lastPrice.get(o.marketId) ?? null },
      corr,
      req.eventId,
      o.userId,
      change.riskEngineError,
    );
    const d = decision.events[0];
    if (!d || d.type !== 'OrderAmendAccepted') return { outcome: 'rejected', reason: d?.type === 'OrderAmendRejected' ? d.data.reason : 'none' };
    const spec = this.spec(o.marketId);
    const book = this.books.get(o.marketId);
    const side = book ? (o.side === 'buy' ? book.bids : book.asks) : [];
    const idx = side.findIndex((r) => r.orderId === orderId);
    const resting = side[idx];
    if (!resting) return { outcome: 'accepted' };
    const account = this.account(o.userId).openOrders.get(orderId);
    const filledLots = account ? quantityToLots(account.quantity, spec.lotSize) - resting.remainingLots : 0n;
    const newLots = quantityToLots(d.data.newQuantity, spec.lotSize);
    const newTicks = priceToTicks(d.data.newPrice, spec.tickSize);
    const remaining = newLots - filledLots;
    const priorityLost = newTicks !== resting.priceTicks || remaining > resting.remainingLots;
    side.splice(idx, 1);
    this.tick(5);
    const amended: TradecoreEvent = {
      type: 'OrderAmended',
      schemaVersion: 1,
      data: {
        orderId,
        userId: o.userId,
        marketId: o.marketId,
        price: ticksToPrice(newTicks, spec.tickSize),
        quantity: d.data.newQuantity,
        remainingQuantity: lotsToQuantity(remaining, spec.lotSize),
        priorityLost,
      },
    };
    if (remaining > 0n) {
      const r: Resting = { ...resting, priceTicks: newTicks, remainingLots: remaining };
      let i = priorityLost ? side.length : idx;
      if (priorityLost) {
        while (i > 0) {
          const prev = side[i - 1];
          if (!prev) break;
          if (o.side === 'buy' ? prev.priceTicks >= newTicks : prev.priceTicks <= newTicks) break;
          i--;
        }
      }
      side.splice(i, 0, r);
    }
    const ae = this.event(amended, this.meta(o.userId, corr, decision.ids[0] ?? null, { inputPosition: (decision.positions[0] ?? 0n).toString() }));
    const ar = await this.write(`market-${o.marketId}`, [ae]);
    if (amended.type === 'OrderAmended') {
      await this.decide(o.userId, { kind: 'ApplyAmend', inputPosition: ar.positions[0] ?? 0n, inputAt: ae.metadata.occurredAt, amended: amended.data, control: this.control }, corr, ae.eventId, null);
    }
    return { outcome: 'accepted' };
  }

  /** Resting orders of a market side, best first. */
  resting(marketId: number, side: Side): readonly Resting[] {
    const b = this.books.get(marketId);
    return b ? (side === 'buy' ? b.bids : b.asks) : [];
  }
}

export const BTC_USD: Omit<EventData<'MarketListed'>, 'marketId' | 'listedBy'> = {
  symbol: 'BTC-USD',
  baseAsset: 'BTC',
  quoteAsset: 'USD',
  tickSize: '0.01',
  lotSize: '0.001',
  referencePrice: '100.00',
  makerFeeBps: 10,
  takerFeeBps: 20,
  maxOrderQuantity: '1000',
  maxOrderNotional: '1000000',
  priceBandBps: 1000,
};

export const ETH_USD: Omit<EventData<'MarketListed'>, 'marketId' | 'listedBy'> = {
  symbol: 'ETH-USD',
  baseAsset: 'ETH',
  quoteAsset: 'USD',
  tickSize: '0.01',
  lotSize: '0.01',
  referencePrice: '50.00',
  makerFeeBps: 5,
  takerFeeBps: 15,
  maxOrderQuantity: '10000',
  maxOrderNotional: '500000',
  priceBandBps: 1500,
};
