/**
 * The batch fold: turns a batch of recorded events into read-model changes.
 *
 * Rows whose next state depends on their previous one in a non-additive way (markets, orders,
 * positions) are loaded before the fold and written back whole. Additive models (balances, L2
 * levels, candles) are folded into deltas here and merged by the upsert itself, so the projector
 * never has to read them. The fold is pure: no I/O, no clock.
 */
import { DecimalValidationError, fastParseEvent, parseEvent, recordedSchemaVersion, shownWithoutVault, type TradecoreEvent, type Side } from '@tradecore/core-domain';
import type { RecordedEvent } from '@tradecore/event-store';
import { abs, averagePrice, notional, signedUnits, units } from './money.ts';

export type ErrorKind = 'schema' | 'value' | 'reference';
export type OrderStatus = 'pending' | 'open' | 'partially_filled' | 'filled' | 'cancelled' | 'rejected' | 'expired';
export const FINAL_STATUSES: ReadonlySet<OrderStatus> = new Set(['filled', 'cancelled', 'rejected', 'expired']);

export interface ProjectionErrorRow {
  position: bigint;
  eventId: string;
  stream: string;
  eventType: string;
  schemaVersion: number | null;
  kind: ErrorKind;
  error: string;
}

export interface UserRow {
  userId: number;
  username: string;
  roles: string[];
  registeredAt: string;
  lastPosition: bigint;
}

export interface MarketRow {
  marketId: number;
  marketName: string;
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  tickSize: string;
  lotSize: string;
  referencePrice: bigint | null;
  makerFeeBps: number;
  takerFeeBps: number;
  status: 'open' | 'halted';
  currentPrice: bigint | null;
  lastTradeTime: string | null;
  listedAt: string;
  updatedAt: string;
  lastPosition: bigint;
}

export type AmendStatus = 'pending' | 'applied' | 'rejected';

export interface OrderRow {
  orderId: string;
  userId: number;
  marketId: number;
  clientOrderId: string | null;
  side: Side;
  type: 'limit' | 'market';
  timeInForce: string;
  postOnly: boolean;
  price: bigint | null;
  quantity: bigint;
  filledQuantity: bigint;
  filledNotional: bigint;
  status: OrderStatus;
  rejectReason: string | null;
  cancelReason: string | null;
  reservedAsset: string | null;
  bookPrice: bigint | null;
  bookQuantity: bigint;
  /**
   * The order's latest amend request and its outcome, so a trader learns that an amend answered 202
   * was refused later (by risk or by the book) and why. Only the latest request counts: an answer to
   * an older one leaves these alone. `amendPrice`/`amendQuantity` are the terms it asked for (the
   * order's terms where the request left one unchanged, then risk's resolved terms), which is how an
   * `OrderAmended` — it names no request — is known to have applied it.
   */
  amendRequestId: string | null;
  amendStatus: AmendStatus | null;
  amendRejectReason: string | null;
  amendPrice: bigint | null;
  amendQuantity: bigint | null;
  createdAt: string;
  updatedAt: string;
  createdPosition: bigint;
  lastPosition: bigint;
}

export interface PositionRow {
  userId: number;
  marketId: number;
  /** Signed: long > 0, short < 0. */
  quantity: bigint;
  /** Signed cost of the open quantity (same sign as quantity). */
  costBasis: bigint;
  realizedPnl: bigint;
  updatedAt: string;
  lastPosition: bigint;
}

export interface TradeRow {
  tradeId: string;
  liquidity: 'maker' | 'taker';
  userId: number;
  orderId: string;
  marketId: number;
  side: Side;
  price: bigint;
  quantity: bigint;
  notional: bigint;
  fee: bigint;
  feeAsset: string | null;
  executed: boolean;
  settled: boolean;
  tradeTime: string;
  position: bigint;
}

export interface TapeRow {
  tradeId: string;
  marketId: number;
  price: bigint;
  quantity: bigint;
  takerSide: Side;
  tradeTime: string;
  position: bigint;
}

export interface CandleAgg {
  marketId: number;
  interval: CandleInterval;
  bucketStart: number;
  open: bigint;
  high: bigint;
  low: bigint;
  close: bigint;
  volume: bigint;
  quoteVolume: bigint;
  tradeCount: number;
}

export interface LevelDelta {
  marketId: number;
  side: Side;
  price: bigint;
  quantity: bigint;
  orderCount: number;
}

export interface BalanceDelta {
  userId: number;
  asset: string;
  available: bigint;
  reserved: bigint;
  updatedAt: string;
  lastPosition: bigint;
}

export interface KillSwitchRow {
  key: string;
  scope: 'global' | 'market' | 'user';
  marketId: number | null;
  userId: number | null;
  engaged: boolean;
  reason: string;
  changedBy: number;
  changedAt: string;
  lastPosition: bigint;
}

export const CANDLE_INTERVALS = ['1m', '5m', '1h', '1d'] as const;
export type CandleInterval = (typeof CANDLE_INTERVALS)[number];
export const INTERVAL_MS: Record<CandleInterval, number> = { '1m': 60_000, '5m': 300_000, '1h': 3_600_000, '1d': 86_400_000 };

export function bucketStart(timeMs: number, interval: CandleInterval): number {
  const size = INTERVAL_MS[interval];
  return Math.floor(timeMs / size) * size;
}

export function positionId(userId: number, marketId: number): string {
  return `${userId}:${marketId}`;
}

export function killSwitchKey(scope: 'global' | 'market' | 'user', marketId: number | null, userId: number | null): string {
  return scope === 'global' ? 'global' : scope === 'market' ? `market:${marketId ?? 0}` : `user:${userId ?? 0}`;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** When an event happened: its metadata.occurredAt (the injected clock), else when it was recorded. */
const CANONICAL_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The last canonical occurredAt seen: consecutive events mostly share it (one command's events). */
let lastCanonical: string | undefined;

export function eventTime(rec: RecordedEvent): string {
  const occurred = (rec.metadata as { occurredAt?: unknown } | undefined)?.occurredAt;
  if (lastCanonical !== undefined && occurred === lastCanonical) return lastCanonical;
  if (typeof occurred === 'string' && CANONICAL_ISO.test(occurred) && Number.isFinite(Date.parse(occurred))) {
    lastCanonical = occurred;
    return occurred;
  }
  if (typeof occurred === 'string' && ISO.test(occurred) && Number.isFinite(Date.parse(occurred))) return new Date(occurred).toISOString();
  const recorded = Date.parse(rec.recordedAt);
  return Number.isFinite(recorded) ? new Date(recorded).toISOString() : new Date(0).toISOString();
}

function isoOf(value: string): string {
  return CANONICAL_ISO.test(value) ? value : new Date(value).toISOString();
}

/**
 * Event types the read models do not read (cancel requests, whose outcome arrives as its own event,
 * the answers to them that change nothing, and the engine's intake record). They advance the
 * checkpoint without being parsed, so they never cost a schema check — nor, if malformed, a
 * projection_errors row. Amend requests and their refusals are read: the order shows the outcome of
 * its latest amend request.
 */
export const UNREAD_EVENT_TYPES: ReadonlySet<string> = new Set([
  'OrderEntered',
  'OrderCancelRequested',
  'OrderCancelAccepted',
  'OrderCancelRejected',
]);

export interface ParsedEvent {
  rec: RecordedEvent;
  event: TradecoreEvent;
}

export type ParseOutcome = { ok: true; parsed: ParsedEvent } | { ok: false; error: ProjectionErrorRow };

function errorRow(rec: RecordedEvent, kind: ErrorKind, error: string): ProjectionErrorRow {
  const schemaVersion = (rec.metadata as { schemaVersion?: unknown } | undefined)?.schemaVersion;
  return {
    position: rec.globalPosition,
    eventId: String(rec.eventId),
    stream: String(rec.stream),
    eventType: String(rec.type),
    schemaVersion: typeof schemaVersion === 'number' && Number.isInteger(schemaVersion) ? schemaVersion : null,
    kind,
    error: error.slice(0, 2000),
  };
}

/** parseEvent, never throwing: a recorded event that fails its schema becomes an error row. */
export function parseRecorded(rec: RecordedEvent): ParseOutcome {
  try {
    const event = parseEvent(rec.type, recordedSchemaVersion(rec.metadata), rec.data);
    return { ok: true, parsed: { rec, event } };
  } catch (err) {
    return { ok: false, error: errorRow(rec, 'schema', err instanceof Error ? err.message : String(err)) };
  }
}

/**
 * core-domain's fastParseEvent on a recorded event (replays and the live projection): the parsed
 * event when it certainly passes its schema, with the recorded data itself (the fold only reads
 * it); undefined when unsure, and the caller goes through parseRecorded (zod).
 */
export function fastParseRecorded(rec: RecordedEvent): ParsedEvent | undefined {
  const event = fastParseEvent(rec.type, recordedSchemaVersion(rec.metadata), rec.data);
  return event ? { rec, event } : undefined;
}

/** Keys the fold must load before it runs. */
export interface LoadKeys {
  marketIds: Set<number>;
  orderIds: Set<string>;
  positionKeys: Map<string, { userId: number; marketId: number }>;
}

export function loadKeys(events: readonly ParsedEvent[]): LoadKeys {
  const keys: LoadKeys = { marketIds: new Set(), orderIds: new Set(), positionKeys: new Map() };
  for (const { event: e } of events) {
    switch (e.type) {
      case 'MarketListed':
      case 'MarketHalted':
      case 'MarketResumed':
        keys.marketIds.add(e.data.marketId);
        break;
      case 'TradeExecuted':
        keys.marketIds.add(e.data.marketId);
        keys.orderIds.add(e.data.takerOrderId);
        keys.orderIds.add(e.data.makerOrderId);
        break;
      case 'OrderPlaced':
      case 'OrderAccepted':
      case 'OrderRejected':
      case 'OrderRested':
      case 'OrderCancelled':
      case 'OrderExpired':
      case 'OrderAmended':
      case 'OrderRejectedByEngine':
      case 'OrderAmendRequested':
      case 'OrderAmendAccepted':
      case 'OrderAmendRejected':
      case 'OrderAmendRejectedByEngine':
        keys.orderIds.add(e.data.orderId);
        break;
      case 'FillSettled':
        keys.positionKeys.set(positionId(e.data.userId, e.data.marketId), { userId: e.data.userId, marketId: e.data.marketId });
        break;
      case 'UserRegistered':
      case 'UserForgotten':
      case 'KillSwitchEngaged':
      case 'KillSwitchReleased':
      case 'OrderCancelRequested':
      case 'FundsDeposited':
      case 'OrderCancelAccepted':
      case 'OrderCancelRejected':
      case 'ReservationReleased':
      case 'OrderEntered':
        break;
    }
  }
  return keys;
}

/** One batch's worth of changes. Markets, orders and positions hold the loaded rows plus new ones. */
export class BatchFold {
  readonly users = new Map<number, UserRow>();
  readonly dirtyMarkets = new Set<number>();
  readonly dirtyOrders = new Set<string>();
  readonly dirtyPositions = new Set<string>();
  readonly balances = new Map<string, BalanceDelta>();
  readonly trades = new Map<string, TradeRow>();
  readonly tape: TapeRow[] = [];
  readonly candles = new Map<string, CandleAgg>();
  readonly levels = new Map<string, LevelDelta>();
  readonly killSwitches = new Map<string, KillSwitchRow>();
  readonly errors: ProjectionErrorRow[] = [];
  /** Markets whose public data changed (row, book, tape, candles): SSE `book`/`trade`, cache invalidation. */
  readonly touchedMarkets = new Set<number>();
  /** Users whose private data changed (orders, balances, positions, fills). */
  readonly touchedUsers = new Set<number>();
  /** Markets that traded in this batch: their 24 h statistics are recomputed after the candles merge. */
  readonly tradedMarkets = new Set<number>();

  constructor(
    readonly markets: Map<number, MarketRow>,
    readonly orders: Map<string, OrderRow>,
    readonly positions: Map<string, PositionRow>,
  ) {}

  /** Applies one parsed event. Never throws for a recorded event: value and reference problems become error rows. */
  apply(p: ParsedEvent): void {
    try {
      this.applyEvent(p.event, p.rec.globalPosition, eventTime(p.rec), p.rec);
    } catch (err) {
      if (err instanceof DecimalValidationError) {
        this.errors.push(errorRow(p.rec, 'value', err.message));
        return;
      }
      throw err;
    }
  }

  recordError(row: ProjectionErrorRow): void {
    this.errors.push(row);
  }

  private reference(rec: RecordedEvent, message: string): void {
    this.errors.push(errorRow(rec, 'reference', message));
  }

  private balance(userId: number, asset: string, dAvailable: bigint, dReserved: bigint, time: string, pos: bigint): void {
    const key = `${userId}|${asset}`;
    const b = this.balances.get(key);
    if (b) {
      b.available += dAvailable;
      b.reserved += dReserved;
      b.updatedAt = time;
      b.lastPosition = pos;
    } else {
      this.balances.set(key, { userId, asset, available: dAvailable, reserved: dReserved, updatedAt: time, lastPosition: pos });
    }
    this.touchedUsers.add(userId);
  }

  private level(marketId: number, side: Side, price: bigint, dQuantity: bigint, dCount: number): void {
    if (dQuantity === 0n && dCount === 0) return;
    const key = `${marketId}|${side}|${price}`;
    const l = this.levels.get(key);
    if (l) {
      l.quantity += dQuantity;
      l.orderCount += dCount;
    } else {
      this.levels.set(key, { marketId, side, price, quantity: dQuantity, orderCount: dCount });
    }
    this.touchedMarkets.add(marketId);
  }

  /** Sets an order's resting quantity (0 removes it from the book), keeping the L2 levels in step. */
  private rest(o: OrderRow, price: bigint | null, quantity: bigint): void {
    if (o.bookQuantity > 0n && o.bookPrice !== null) this.level(o.marketId, o.side, o.bookPrice, -o.bookQuantity, -1);
    if (quantity > 0n && price !== null) {
      this.level(o.marketId, o.side, price, quantity, 1);
      o.bookPrice = price;
      o.bookQuantity = quantity;
    } else {
      o.bookPrice = null;
      o.bookQuantity = 0n;
    }
  }

  private touchOrder(o: OrderRow, time: string, pos: bigint): void {
    o.updatedAt = time;
    o.lastPosition = pos;
    this.dirtyOrders.add(o.orderId);
    this.touchedUsers.add(o.userId);
  }

  private order(rec: RecordedEvent, orderId: string): OrderRow | undefined {
    const o = this.orders.get(orderId);
    if (!o) this.reference(rec, `order ${orderId} is unknown to the read model (no OrderPlaced before it)`);
    return o;
  }

  private finish(o: OrderRow, status: OrderStatus): void {
    if (!FINAL_STATUSES.has(o.status)) o.status = status;
  }

  private fill(o: OrderRow, price: bigint, quantity: bigint, remaining: bigint): void {
    o.filledQuantity += quantity;
    o.filledNotional += notional(price, quantity);
    if (!FINAL_STATUSES.has(o.status)) o.status = remaining === 0n ? 'filled' : 'partially_filled';
    if (o.bookQuantity > 0n) this.rest(o, o.bookPrice, FINAL_STATUSES.has(o.status) ? 0n : remaining);
  }

  private trade(row: TradeRow): void {
    const key = `${row.tradeId}|${row.liquidity}`;
    const prev = this.trades.get(key);
    this.trades.set(key, prev ? mergeTrade(prev, row) : row);
    this.touchedUsers.add(row.userId);
  }

  private candle(marketId: number, timeMs: number, price: bigint, quantity: bigint, quote: bigint): void {
    for (const interval of CANDLE_INTERVALS) {
      const start = bucketStart(timeMs, interval);
      const key = `${marketId}|${interval}|${start}`;
      const c = this.candles.get(key);
      if (c) {
        if (price > c.high) c.high = price;
        if (price < c.low) c.low = price;
        c.close = price;
        c.volume += quantity;
        c.quoteVolume += quote;
        c.tradeCount += 1;
      } else {
        this.candles.set(key, { marketId, interval, bucketStart: start, open: price, high: price, low: price, close: price, volume: quantity, quoteVolume: quote, tradeCount: 1 });
      }
    }
  }

  private applyEvent(e: TradecoreEvent, pos: bigint, time: string, rec: RecordedEvent): void {
    switch (e.type) {
      case 'UserRegistered': {
        const d = e.data;
        // A sealed username is personal data: the read model shows a placeholder, never the cipher text.
        this.users.set(d.userId, { userId: d.userId, username: shownWithoutVault(d.username), roles: [...d.roles], registeredAt: time, lastPosition: pos });
        return;
      }
      case 'MarketListed': {
        const d = e.data;
        const ref = d.referencePrice === null ? null : units(d.referencePrice, 'referencePrice');
        units(d.tickSize, 'tickSize');
        units(d.lotSize, 'lotSize');
        const prev = this.markets.get(d.marketId);
        this.markets.set(d.marketId, {
          marketId: d.marketId,
          marketName: d.symbol,
          symbol: d.symbol,
          baseAsset: d.baseAsset,
          quoteAsset: d.quoteAsset,
          tickSize: d.tickSize,
          lotSize: d.lotSize,
          referencePrice: ref,
          makerFeeBps: d.makerFeeBps,
          takerFeeBps: d.takerFeeBps,
          status: prev?.status ?? 'open',
          currentPrice: prev?.currentPrice ?? null,
          lastTradeTime: prev?.lastTradeTime ?? null,
          listedAt: time,
          updatedAt: time,
          lastPosition: pos,
        });
        this.dirtyMarkets.add(d.marketId);
        this.touchedMarkets.add(d.marketId);
        return;
      }
      case 'MarketHalted':
      case 'MarketResumed': {
        const m = this.markets.get(e.data.marketId);
        if (!m) return this.reference(rec, `market ${e.data.marketId} is not listed`);
        m.status = e.type === 'MarketHalted' ? 'halted' : 'open';
        m.updatedAt = time;
        m.lastPosition = pos;
        this.dirtyMarkets.add(m.marketId);
        this.touchedMarkets.add(m.marketId);
        return;
      }
      case 'KillSwitchEngaged':
      case 'KillSwitchReleased': {
        const d = e.data;
        const key = killSwitchKey(d.scope, d.marketId, d.userId);
        this.killSwitches.set(key, {
          key,
          scope: d.scope,
          marketId: d.marketId,
          userId: d.userId,
          engaged: e.type === 'KillSwitchEngaged',
          reason: d.reason,
          changedBy: d.changedBy,
          changedAt: time,
          lastPosition: pos,
        });
        return;
      }
      case 'OrderPlaced': {
        const d = e.data;
        const price = d.price === null ? null : units(d.price, 'price');
        const quantity = units(d.quantity, 'quantity');
        if (this.orders.has(d.orderId)) return this.reference(rec, `order ${d.orderId} was already placed`);
        const placedAt = isoOf(d.placedAt);
        this.orders.set(d.orderId, {
          orderId: d.orderId,
          userId: d.userId,
          marketId: d.marketId,
          clientOrderId: d.clientOrderId,
          side: d.side,
          type: d.type,
          timeInForce: d.timeInForce,
          postOnly: d.postOnly,
          price,
          quantity,
          filledQuantity: 0n,
          filledNotional: 0n,
          status: 'pending',
          rejectReason: null,
          cancelReason: null,
          reservedAsset: null,
          bookPrice: null,
          bookQuantity: 0n,
          amendRequestId: null,
          amendStatus: null,
          amendRejectReason: null,
          amendPrice: null,
          amendQuantity: null,
          createdAt: placedAt,
          updatedAt: placedAt,
          createdPosition: pos,
          lastPosition: pos,
        });
        this.dirtyOrders.add(d.orderId);
        this.touchedUsers.add(d.userId);
        return;
      }
      case 'OrderAmendRequested': {
        const d = e.data;
        // Parsed before the row changes, so a value error leaves it as it was.
        const newPrice = d.newPrice === null ? null : units(d.newPrice, 'newPrice');
        const newQuantity = d.newQuantity === null ? null : units(d.newQuantity, 'newQuantity');
        const o = this.order(rec, d.orderId);
        if (!o) return;
        // The newest request replaces whatever the previous one came to.
        o.amendRequestId = d.requestId;
        o.amendStatus = 'pending';
        o.amendRejectReason = null;
        o.amendPrice = newPrice ?? o.price;
        o.amendQuantity = newQuantity ?? o.quantity;
        this.touchOrder(o, time, pos);
        return;
      }
      case 'OrderAmendRejected':
      case 'OrderAmendRejectedByEngine': {
        const o = this.order(rec, e.data.orderId);
        // An answer to an older request is not the outcome of the latest one. (The refused amend's
        // reservation comes back through its ReservationReleased; the order keeps its terms.)
        if (!o || o.amendRequestId !== e.data.requestId) return;
        o.amendStatus = 'rejected';
        o.amendRejectReason = e.data.reason;
        this.touchOrder(o, time, pos);
        return;
      }
      case 'OrderCancelRequested':
      case 'OrderCancelAccepted':
      case 'OrderCancelRejected':
      case 'OrderEntered':
        // Cancel requests and their answers, and the engine's intake, leave the order as it is;
        // decisions move it.
        return;
      case 'UserForgotten':
        // The users row never held the personal data in clear (see UserRegistered): nothing changes.
        return;
      case 'FundsDeposited': {
        const amount = units(e.data.amount, 'amount');
        this.balance(e.data.userId, e.data.asset, amount, 0n, time, pos);
        return;
      }
      case 'OrderAccepted': {
        const d = e.data;
        const reserved = units(d.reservedAmount, 'reservedAmount');
        this.balance(d.userId, d.reservedAsset, -reserved, reserved, time, pos);
        const o = this.order(rec, d.orderId);
        if (!o) return;
        if (o.status === 'pending') o.status = 'open';
        o.reservedAsset = d.reservedAsset;
        this.touchOrder(o, time, pos);
        return;
      }
      case 'OrderRejected':
      case 'OrderRejectedByEngine': {
        const o = this.order(rec, e.data.orderId);
        if (!o) return;
        if (!FINAL_STATUSES.has(o.status)) {
          o.status = 'rejected';
          o.rejectReason = e.data.reason;
        }
        this.rest(o, null, 0n);
        this.touchOrder(o, time, pos);
        return;
      }
      case 'OrderAmendAccepted': {
        const d = e.data;
        const delta = signedUnits(d.reservationDelta, 'reservationDelta');
        // Risk's resolved terms are what the book applies (the request may have left one unchanged
        // while an older amend changed it). Parsed before anything moves, so a value error leaves
        // balance and order alike. No reference error for an order the read model lacks: the
        // balance moves regardless, as it always did.
        const o = this.orders.get(d.orderId);
        // The latest request, whatever it came to meanwhile: a trader's cancel can end the order
        // (taken for this amend's outcome if it asked for no more than was filled) before risk's
        // acceptance is folded; its terms are still risk's, and the refusal that follows stands.
        const latest = o !== undefined && o.amendRequestId === d.requestId;
        const terms = latest ? { price: units(d.newPrice, 'newPrice'), quantity: units(d.newQuantity, 'newQuantity') } : null;
        this.balance(d.userId, d.reservedAsset, -delta, delta, time, pos);
        if (!o || !terms) return;
        o.amendPrice = terms.price;
        o.amendQuantity = terms.quantity;
        this.touchOrder(o, time, pos);
        return;
      }
      case 'FillSettled': {
        const d = e.data;
        const price = units(d.price, 'price');
        const quantity = units(d.quantity, 'quantity');
        const paid = units(d.notional, 'notional');
        const fee = units(d.fee, 'fee');
        const released = units(d.reservationReleased, 'reservationReleased');
        if (d.side === 'buy') {
          this.balance(d.userId, d.quoteAsset, released - paid, -released, time, pos);
          this.balance(d.userId, d.baseAsset, quantity, 0n, time, pos);
        } else {
          this.balance(d.userId, d.baseAsset, released - quantity, -released, time, pos);
          this.balance(d.userId, d.quoteAsset, paid, 0n, time, pos);
        }
        if (fee > 0n) this.balance(d.userId, d.feeAsset, -fee, 0n, time, pos);
        this.trade({
          tradeId: d.tradeId,
          liquidity: d.liquidity,
          userId: d.userId,
          orderId: d.orderId,
          marketId: d.marketId,
          side: d.side,
          price,
          quantity,
          notional: paid,
          fee,
          feeAsset: d.feeAsset,
          executed: false,
          settled: true,
          tradeTime: time,
          position: pos,
        });
        this.position(d.userId, d.marketId, d.side, quantity, paid, time, pos);
        return;
      }
      case 'ReservationReleased': {
        const amount = units(e.data.amount, 'amount');
        this.balance(e.data.userId, e.data.asset, amount, -amount, time, pos);
        return;
      }
      case 'OrderRested': {
        const d = e.data;
        const price = units(d.price, 'price');
        const remaining = units(d.remainingQuantity, 'remainingQuantity');
        const o = this.order(rec, d.orderId);
        if (!o) return;
        if (FINAL_STATUSES.has(o.status)) return this.reference(rec, `order ${d.orderId} is ${o.status} and cannot rest`);
        o.status = o.filledQuantity > 0n ? 'partially_filled' : 'open';
        this.rest(o, price, remaining);
        this.touchOrder(o, time, pos);
        return;
      }
      case 'TradeExecuted': {
        const d = e.data;
        const price = units(d.price, 'price');
        const quantity = units(d.quantity, 'quantity');
        const takerFee = units(d.takerFee, 'takerFee');
        const makerFee = units(d.makerFee, 'makerFee');
        const takerRemaining = units(d.takerRemainingQuantity, 'takerRemainingQuantity');
        const makerRemaining = units(d.makerRemainingQuantity, 'makerRemainingQuantity');
        const executedAt = isoOf(d.executedAt);
        const quote = notional(price, quantity);
        this.tape.push({ tradeId: d.tradeId, marketId: d.marketId, price, quantity, takerSide: d.takerSide, tradeTime: executedAt, position: pos });
        this.candle(d.marketId, Date.parse(executedAt), price, quantity, quote);
        this.touchedMarkets.add(d.marketId);
        this.tradedMarkets.add(d.marketId);
        const m = this.markets.get(d.marketId);
        if (m) {
          m.currentPrice = price;
          m.lastTradeTime = executedAt;
          m.updatedAt = time;
          m.lastPosition = pos;
          this.dirtyMarkets.add(m.marketId);
        } else {
          this.reference(rec, `market ${d.marketId} is not listed`);
        }
        const makerSide: Side = d.takerSide === 'buy' ? 'sell' : 'buy';
        const parties = [
          { liquidity: 'taker' as const, orderId: d.takerOrderId, userId: d.takerUserId, side: d.takerSide, fee: takerFee, remaining: takerRemaining },
          { liquidity: 'maker' as const, orderId: d.makerOrderId, userId: d.makerUserId, side: makerSide, fee: makerFee, remaining: makerRemaining },
        ];
        for (const party of parties) {
          this.trade({
            tradeId: d.tradeId,
            liquidity: party.liquidity,
            userId: party.userId,
            orderId: party.orderId,
            marketId: d.marketId,
            side: party.side,
            price,
            quantity,
            notional: quote,
            fee: party.fee,
            feeAsset: null,
            executed: true,
            settled: false,
            tradeTime: executedAt,
            position: pos,
          });
          const o = this.order(rec, party.orderId);
          if (!o) continue;
          this.fill(o, price, quantity, party.remaining);
          this.touchOrder(o, executedAt, pos);
        }
        return;
      }
      case 'OrderCancelled':
      case 'OrderExpired': {
        const o = this.order(rec, e.data.orderId);
        if (!o) return;
        if (e.type === 'OrderCancelled') {
          if (!FINAL_STATUSES.has(o.status)) {
            o.cancelReason = e.data.reason;
            // An amend to no more than was filled ends the order: the book's whole answer to it is
            // this cancel, reason user (no OrderAmended, no refusal follows), so the pending amend
            // asking for such a total is applied. Were the cancel the trader's instead, the book (or
            // risk) still refuses that amend, order_not_open, and the refusal comes later and stands.
            if (e.data.reason === 'user' && o.amendStatus === 'pending' && o.amendQuantity !== null && o.amendQuantity <= o.filledQuantity) o.amendStatus = 'applied';
          }
          this.finish(o, 'cancelled');
        } else {
          this.finish(o, 'expired');
        }
        this.rest(o, null, 0n);
        this.touchOrder(o, time, pos);
        return;
      }
      case 'OrderAmended': {
        const d = e.data;
        const price = units(d.price, 'price');
        const quantity = units(d.quantity, 'quantity');
        const remaining = units(d.remainingQuantity, 'remainingQuantity');
        const o = this.order(rec, d.orderId);
        if (!o) return;
        if (FINAL_STATUSES.has(o.status)) return this.reference(rec, `order ${d.orderId} is ${o.status} and cannot be amended`);
        o.price = price;
        o.quantity = quantity;
        // OrderAmended names no request: it applied the latest one when it has that request's terms
        // (the account decider matches its pending amends the same way). A self-trade decrement or
        // an older request's terms leave a pending request pending.
        if (o.amendStatus === 'pending' && o.amendPrice === price && o.amendQuantity === quantity) o.amendStatus = 'applied';
        this.rest(o, price, remaining);
        this.touchOrder(o, time, pos);
        return;
      }
    }
  }

  /** Average-cost position keeping; see money.ts for the rounding rule. */
  private position(userId: number, marketId: number, side: Side, quantity: bigint, fillNotional: bigint, time: string, pos: bigint): void {
    const key = positionId(userId, marketId);
    let p = this.positions.get(key);
    if (!p) {
      p = { userId, marketId, quantity: 0n, costBasis: 0n, realizedPnl: 0n, updatedAt: time, lastPosition: pos };
      this.positions.set(key, p);
    }
    applyFillToPosition(p, side, quantity, fillNotional);
    p.updatedAt = time;
    p.lastPosition = pos;
    this.dirtyPositions.add(key);
    this.touchedUsers.add(userId);
  }
}

/**
 * Average-cost method, the same rules as core-domain's portfolio math: a fill in the direction of
 * the position (or from flat) adds its notional to the cost; a fill against it closes
 * min(held, filled), releasing cost × closed / held (rounded toward zero, so once flat the realized
 * PnL is exactly proceeds − cost) and realizing the closing share of the fill's notional minus that
 * cost; any remainder opens a position the other way at the fill's notional. Fees are not part of
 * cost or realized PnL (they are on each fill).
 */
export function applyFillToPosition(p: { quantity: bigint; costBasis: bigint; realizedPnl: bigint }, side: Side, quantity: bigint, fillNotional: bigint): void {
  if (quantity <= 0n) return;
  const dir = side === 'buy' ? 1n : -1n;
  let closeQ = 0n;
  let closeNotional = 0n;
  if (p.quantity !== 0n && p.quantity > 0n !== dir > 0n) {
    const open = abs(p.quantity);
    closeQ = quantity < open ? quantity : open;
    closeNotional = closeQ === quantity ? fillNotional : (fillNotional * closeQ) / quantity;
    const share = closeQ === open ? p.costBasis : (p.costBasis * closeQ) / open;
    p.realizedPnl += dir === -1n ? closeNotional - share : -share - closeNotional;
    p.costBasis -= share;
    p.quantity += dir * closeQ;
  }
  const openQ = quantity - closeQ;
  if (openQ > 0n) {
    p.quantity += dir * openQ;
    p.costBasis += dir * (fillNotional - closeNotional);
  }
}

export function positionAveragePrice(p: { quantity: bigint; costBasis: bigint }): bigint {
  return p.quantity === 0n ? 0n : averagePrice(abs(p.costBasis), abs(p.quantity));
}

export function orderAverageFillPrice(o: { filledQuantity: bigint; filledNotional: bigint }): bigint | null {
  return o.filledQuantity === 0n ? null : averagePrice(o.filledNotional, o.filledQuantity);
}

/** Merges the two halves of a party's fill: TradeExecuted (time, order) and FillSettled (fee asset, settled notional). */
export function mergeTrade(a: TradeRow, b: TradeRow): TradeRow {
  // The same rules as the trades upsert in projector.ts (a = the row already there, b = the new half).
  const executed = b.executed ? b : a;
  const settled = b.settled ? b : a;
  return {
    ...executed,
    notional: settled.notional,
    fee: settled.fee,
    feeAsset: settled.feeAsset,
    executed: a.executed || b.executed,
    settled: a.settled || b.settled,
    tradeTime: executed.tradeTime,
    position: executed.executed ? executed.position : a.position < b.position ? a.position : b.position,
  };
}
