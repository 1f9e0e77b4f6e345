/**
 * A small, deterministic exchange that turns trading actions into a consistent recorded history of
 * catalogue events (users, listings, deposits, orders through risk and matching, fills, cancels,
 * amends, expiries, halts, kill switches) — the input of the projection property tests, the
 * query-api tests and the read-side benchmark. It keeps its own account and book state, which the
 * tests use as an independent oracle for balances, order states and the L2 book.
 *
 * Semantics it follows (the projection's reading of the catalogue):
 * - a buy reserves, per lot, notional at its limit (market: protection) price + the larger fee;
 *   a sell reserves its base quantity; fees are charged in the quote asset;
 * - FillSettled.reservationReleased is the share of the order's reservation this fill frees (the
 *   last fill frees whatever is left), and ReservationReleased returns the rest of a reservation
 *   when an order ends without filling completely.
 */
import { feeUnits, formatAmount, lotsToQuantity, lotsToUnits, notionalUnits, prng, ticksToPrice, type RejectReason, type Side } from '@tradecore/core-domain';
import type { RecordedEvent } from '@tradecore/event-store';

export type SimAction =
  | { kind: 'register' }
  | { kind: 'list'; spec: number; refTicks: number; makerFeeBps: number; takerFeeBps: number }
  | { kind: 'deposit'; user: number; market: number; base: boolean; whole: number }
  | {
      kind: 'place';
      user: number;
      market: number;
      side: Side;
      type: 'limit' | 'market';
      tif: 'GTC' | 'IOC' | 'FOK';
      postOnly: boolean;
      offsetTicks: number;
      lots: number;
    }
  | { kind: 'cancel'; pick: number }
  | { kind: 'amend'; pick: number; offsetTicks: number; lots: number }
  | { kind: 'expire'; pick: number }
  | { kind: 'halt'; market: number; halted: boolean }
  | { kind: 'kill'; engaged: boolean }
  | { kind: 'advance'; ms: number }
  | { kind: 'poison'; variant: number };

const SPECS = [
  { tickSize: '0.01', lotSize: '0.001' },
  { tickSize: '0.5', lotSize: '0.1' },
  { tickSize: '1', lotSize: '1' },
] as const;

interface SimMarket {
  id: number;
  symbol: string;
  base: string;
  quote: string;
  tickSize: string;
  lotSize: string;
  makerFeeBps: number;
  takerFeeBps: number;
  refTicks: bigint;
  lastTicks: bigint | null;
  halted: boolean;
  bids: string[];
  asks: string[];
}

export interface SimOrder {
  id: string;
  user: number;
  market: number;
  side: Side;
  type: 'limit' | 'market';
  priceTicks: bigint | null;
  lots: bigint;
  filledLots: bigint;
  remainingLots: bigint;
  status: 'pending' | 'open' | 'partially_filled' | 'filled' | 'cancelled' | 'rejected' | 'expired';
  /** Reservation per lot (buy: at the limit/protection price incl. max fee; sell: base units per lot). */
  sharePerLot: bigint;
  reservedLeft: bigint;
  asset: string;
  resting: boolean;
}

interface Balance {
  available: bigint;
  reserved: bigint;
}

export interface SimulatorOptions {
  start?: Date;
  /** Positions advance by 1 plus this many extra per event, in a repeating pattern (gaps in the log). */
  gapEvery?: number;
}

export class ExchangeSimulator {
  readonly events: RecordedEvent[] = [];
  readonly users: number[] = [];
  readonly markets: SimMarket[] = [];
  readonly orders = new Map<string, SimOrder>();
  /** Orders in placement order, and the resting ones, for O(1) random picks. */
  private readonly orderList: SimOrder[] = [];
  private readonly resting = new Set<SimOrder>();
  readonly accounts = new Map<number, Map<string, Balance>>();
  private readonly revisions = new Map<string, bigint>();
  private position = 0n;
  private now: number;
  private seq = 0;
  private killed = false;
  private readonly gapEvery: number;

  constructor(options: SimulatorOptions = {}) {
    this.now = (options.start ?? new Date('2026-01-05T09:00:00.000Z')).getTime();
    this.gapEvery = options.gapEvery ?? 0;
  }

  /** UUID-shaped ids from one counter; the prefix picks the first group so ids read as what they are. */
  private id(prefix: 'evt' | 'ord' | 'trd' | 'dep' | 'req'): string {
    this.seq += 1;
    const kind = { evt: 'e0000000', ord: '0d000000', trd: '7d000000', dep: 'de000000', req: 'ae000000' }[prefix];
    return `${kind}-0000-4000-8000-${this.seq.toString(16).padStart(12, '0')}`;
  }

  private iso(): string {
    return new Date(this.now).toISOString();
  }

  emit(stream: string, type: string, data: unknown, userId: number | null = null): void {
    const rev = this.revisions.get(stream) ?? -1n;
    this.revisions.set(stream, rev + 1n);
    this.position += 1n;
    if (this.gapEvery > 0 && this.events.length % this.gapEvery === 0) this.position += 2n;
    this.events.push({
      eventId: this.id('evt'),
      stream,
      type,
      data,
      metadata: { correlationId: 'sim', causationId: null, userId, occurredAt: this.iso(), schemaVersion: 1 },
      streamRevision: rev + 1n,
      globalPosition: this.position,
      recordedAt: this.iso(),
    });
  }

  balance(user: number, asset: string): Balance {
    let acct = this.accounts.get(user);
    if (!acct) {
      acct = new Map();
      this.accounts.set(user, acct);
    }
    let b = acct.get(asset);
    if (!b) {
      b = { available: 0n, reserved: 0n };
      acct.set(asset, b);
    }
    return b;
  }

  private pick<T>(list: readonly T[], i: number): T | undefined {
    return list.length === 0 ? undefined : list[Math.abs(i) % list.length];
  }

  step(a: SimAction): void {
    switch (a.kind) {
      case 'register': {
        const userId = this.users.length + 1;
        this.users.push(userId);
        this.emit('users', 'UserRegistered', { userId, username: `user${userId}`, passwordHash: `$argon2id$v=19$secret-hash-${userId}`, roles: userId === 1 ? ['trader', 'admin'] : ['trader'] });
        return;
      }
      case 'list': {
        const spec = SPECS[Math.abs(a.spec) % SPECS.length] ?? SPECS[0];
        const id = this.markets.length + 1;
        const m: SimMarket = {
          id,
          symbol: `M${id}-USD`,
          base: `M${id}`,
          quote: 'USD',
          tickSize: spec.tickSize,
          lotSize: spec.lotSize,
          makerFeeBps: Math.min(a.makerFeeBps, a.takerFeeBps),
          takerFeeBps: Math.max(a.makerFeeBps, a.takerFeeBps),
          refTicks: BigInt(Math.max(50, a.refTicks)),
          lastTicks: null,
          halted: false,
          bids: [],
          asks: [],
        };
        this.markets.push(m);
        this.emit('markets', 'MarketListed', {
          marketId: id,
          symbol: m.symbol,
          baseAsset: m.base,
          quoteAsset: m.quote,
          tickSize: m.tickSize,
          lotSize: m.lotSize,
          referencePrice: ticksToPrice(m.refTicks, m.tickSize),
          makerFeeBps: m.makerFeeBps,
          takerFeeBps: m.takerFeeBps,
          maxOrderQuantity: '1000000',
          maxOrderNotional: '1000000000',
          priceBandBps: 5000,
          listedBy: 1,
        });
        return;
      }
      case 'deposit': {
        const user = this.pick(this.users, a.user);
        const m = this.pick(this.markets, a.market);
        if (user === undefined || !m) return;
        const asset = a.base ? m.base : m.quote;
        const amount = BigInt(Math.max(1, a.whole)) * 10n ** 12n;
        this.balance(user, asset).available += amount;
        this.emit(`account-${user}`, 'FundsDeposited', { depositId: this.id('dep'), userId: user, asset, amount: formatAmount(amount), depositedBy: 1 }, 1);
        return;
      }
      case 'place':
        return this.place(a);
      case 'cancel': {
        const o = this.pick(this.orderList, a.pick);
        if (!o) return;
        const m = this.markets[o.market - 1];
        if (!m) return;
        const requestId = this.id('req');
        this.emit(`order-${o.id}`, 'OrderCancelRequested', { orderId: o.id, userId: o.user, marketId: o.market, requestId, requestedAt: this.iso() }, o.user);
        if (!o.resting) {
          this.emit(`account-${o.user}`, 'OrderCancelRejected', { orderId: o.id, userId: o.user, marketId: o.market, requestId, reason: 'order_not_open' });
          return;
        }
        this.emit(`account-${o.user}`, 'OrderCancelAccepted', { orderId: o.id, userId: o.user, marketId: o.market, requestId });
        this.endResting(m, o, 'cancelled', 'user');
        return;
      }
      case 'expire': {
        const o = this.pickResting(a.pick);
        if (!o) return;
        const m = this.markets[o.market - 1];
        if (!m) return;
        this.endResting(m, o, 'expired', null);
        return;
      }
      case 'amend':
        return this.amend(a);
      case 'halt': {
        const m = this.pick(this.markets, a.market);
        if (!m || m.halted === a.halted) return;
        m.halted = a.halted;
        this.emit('markets', a.halted ? 'MarketHalted' : 'MarketResumed', { marketId: m.id, reason: 'sim', ...(a.halted ? { haltedBy: 1 } : { resumedBy: 1 }) }, 1);
        return;
      }
      case 'kill': {
        if (this.killed === a.engaged) return;
        this.killed = a.engaged;
        this.emit('control', a.engaged ? 'KillSwitchEngaged' : 'KillSwitchReleased', { scope: 'global', marketId: null, userId: null, reason: 'sim', changedBy: 1 }, 1);
        if (a.engaged) {
          for (const o of [...this.resting]) {
            const m = this.markets[o.market - 1];
            if (o.resting && m) this.endResting(m, o, 'cancelled', 'kill_switch');
          }
        }
        return;
      }
      case 'advance':
        this.now += Math.max(0, a.ms);
        return;
      case 'poison': {
        const user = this.users[0] ?? 1;
        const v = Math.abs(a.variant) % 3;
        if (v === 0) this.emit('control', 'MysteryHappened', { what: 'unknown event type' });
        else if (v === 1) this.emit(`account-${user}`, 'FundsDeposited', { depositId: this.id('dep'), userId: user, asset: 'USD', amount: '-5', depositedBy: 1 });
        else this.emit(`account-${user}`, 'FundsDeposited', { depositId: this.id('dep'), userId: user, asset: 'USD', amount: '1.0000000000001', depositedBy: 1 });
        return;
      }
    }
  }

  private price(m: SimMarket, ticks: bigint): string {
    return ticksToPrice(ticks, m.tickSize);
  }

  private qty(m: SimMarket, lots: bigint): string {
    return lotsToQuantity(lots, m.lotSize);
  }

  private buyShare(m: SimMarket, ticks: bigint): bigint {
    const perLot = notionalUnits(ticks, 1n, m.tickSize, m.lotSize);
    return perLot + feeUnits(perLot, Math.max(m.makerFeeBps, m.takerFeeBps));
  }

  private bookOf(m: SimMarket, side: Side): string[] {
    return side === 'buy' ? m.bids : m.asks;
  }

  /** Inserts into the book in price-time priority. */
  private insert(m: SimMarket, o: SimOrder): void {
    const book = this.bookOf(m, o.side);
    const p = o.priceTicks ?? 0n;
    let i = book.length;
    for (let k = 0; k < book.length; k += 1) {
      const other = this.orders.get(book[k] ?? '');
      const q = other?.priceTicks ?? 0n;
      if (o.side === 'buy' ? p > q : p < q) {
        i = k;
        break;
      }
    }
    book.splice(i, 0, o.id);
    o.resting = true;
    this.resting.add(o);
  }

  /** A resting order among the 64 longest-resting ones (a cheap pick). */
  private pickResting(i: number): SimOrder | undefined {
    if (this.resting.size === 0) return undefined;
    const n = Math.abs(i) % Math.min(this.resting.size, 64);
    let k = 0;
    let found: SimOrder | undefined;
    for (const o of this.resting) {
      found = o;
      if (k++ >= n) break;
    }
    return found;
  }

  private remove(m: SimMarket, o: SimOrder): void {
    const book = this.bookOf(m, o.side);
    const i = book.indexOf(o.id);
    if (i >= 0) book.splice(i, 1);
    o.resting = false;
    this.resting.delete(o);
  }

  private releaseRest(o: SimOrder, cause: 'cancelled' | 'expired' | 'rejected' | 'filled'): void {
    if (o.reservedLeft <= 0n) return;
    const amount = o.reservedLeft;
    const b = this.balance(o.user, o.asset);
    b.reserved -= amount;
    b.available += amount;
    o.reservedLeft = 0n;
    this.emit(`account-${o.user}`, 'ReservationReleased', { orderId: o.id, userId: o.user, marketId: o.market, asset: o.asset, amount: formatAmount(amount), cause });
  }

  private endResting(m: SimMarket, o: SimOrder, status: 'cancelled' | 'expired', reason: 'user' | 'kill_switch' | null): void {
    this.remove(m, o);
    const remaining = this.qty(m, o.remainingLots);
    o.status = status;
    if (status === 'cancelled') this.emit(`market-${m.id}`, 'OrderCancelled', { orderId: o.id, userId: o.user, marketId: m.id, reason: reason ?? 'user', cancelledQuantity: remaining });
    else this.emit(`market-${m.id}`, 'OrderExpired', { orderId: o.id, userId: o.user, marketId: m.id, expiredQuantity: remaining });
    this.releaseRest(o, status);
  }

  private place(a: Extract<SimAction, { kind: 'place' }>): void {
    const user = this.pick(this.users, a.user);
    const m = this.pick(this.markets, a.market);
    if (user === undefined || !m) return;
    const lots = BigInt(Math.max(1, a.lots));
    const ref = m.lastTicks ?? m.refTicks;
    const limitTicks = a.type === 'limit' ? BigInt(Math.max(1, Number(ref) + a.offsetTicks)) : null;
    const tif = a.type === 'market' ? 'IOC' : a.tif;
    const postOnly = a.type === 'limit' && a.postOnly;
    const id = this.id('ord');
    const o: SimOrder = {
      id,
      user,
      market: m.id,
      side: a.side,
      type: a.type,
      priceTicks: limitTicks,
      lots,
      filledLots: 0n,
      remainingLots: lots,
      status: 'pending',
      sharePerLot: 0n,
      reservedLeft: 0n,
      asset: a.side === 'buy' ? m.quote : m.base,
      resting: false,
    };
    this.orders.set(id, o);
    this.orderList.push(o);
    this.emit(`order-${id}`, 'OrderPlaced', {
      orderId: id,
      userId: user,
      marketId: m.id,
      side: a.side,
      type: a.type,
      timeInForce: tif,
      price: limitTicks === null ? null : this.price(m, limitTicks),
      quantity: this.qty(m, lots),
      postOnly,
      selfTradePrevention: 'cancel_newest',
      clientOrderId: this.seq % 3 === 0 ? `c-${this.seq}` : null,
      requestHash: `hash-${id}`,
      placedAt: this.iso(),
    }, user);

    const reject = (reason: RejectReason) => {
      o.status = 'rejected';
      this.emit(`account-${user}`, 'OrderRejected', { orderId: id, userId: user, marketId: m.id, reason, rule: reason, limit: null, observed: null });
    };
    if (this.killed) return reject('kill_switch');
    if (m.halted) return reject('market_halted');
    const protectionTicks = a.type === 'market' ? ref * 2n : null;
    o.sharePerLot = a.side === 'buy' ? this.buyShare(m, limitTicks ?? protectionTicks ?? ref) : lotsToUnits(1n, m.lotSize);
    const reserve = o.sharePerLot * lots;
    const bal = this.balance(user, o.asset);
    if (bal.available < reserve) return reject(a.side === 'buy' ? 'insufficient_funds' : 'insufficient_position');
    bal.available -= reserve;
    bal.reserved += reserve;
    o.reservedLeft = reserve;
    o.status = 'open';
    this.emit(`account-${user}`, 'OrderAccepted', {
      orderId: id,
      userId: user,
      marketId: m.id,
      side: a.side,
      type: a.type,
      timeInForce: tif,
      price: limitTicks === null ? null : this.price(m, limitTicks),
      protectionPrice: protectionTicks === null ? null : this.price(m, protectionTicks),
      quantity: this.qty(m, lots),
      postOnly,
      selfTradePrevention: 'cancel_newest',
      reservedAsset: o.asset,
      reservedAmount: formatAmount(reserve),
      checks: [],
    });
    this.emit(`market-${m.id}`, 'OrderEntered', {
      orderId: id,
      userId: user,
      marketId: m.id,
      side: a.side,
      type: a.type,
      timeInForce: tif,
      price: limitTicks === null ? null : this.price(m, limitTicks),
      protectionPrice: protectionTicks === null ? null : this.price(m, protectionTicks),
      quantity: this.qty(m, lots),
      postOnly,
      selfTradePrevention: 'cancel_newest',
    });
    this.match(m, o, limitTicks ?? protectionTicks ?? ref, tif, postOnly);
  }

  private crosses(side: Side, limit: bigint, makerTicks: bigint): boolean {
    return side === 'buy' ? makerTicks <= limit : makerTicks >= limit;
  }

  private match(m: SimMarket, o: SimOrder, limit: bigint, tif: 'GTC' | 'IOC' | 'FOK', postOnly: boolean): void {
    const opposite = this.bookOf(m, o.side === 'buy' ? 'sell' : 'buy');
    const best = this.orders.get(opposite[0] ?? '');
    const engineReject = (reason: RejectReason) => {
      o.status = 'rejected';
      this.emit(`market-${m.id}`, 'OrderRejectedByEngine', { orderId: o.id, userId: o.user, marketId: m.id, reason, rejectedQuantity: this.qty(m, o.remainingLots) });
      this.releaseRest(o, 'rejected');
    };
    if (postOnly && best && this.crosses(o.side, limit, best.priceTicks ?? 0n)) return engineReject('post_only_would_take');
    if (tif === 'FOK') {
      let available = 0n;
      for (const mid of opposite) {
        const mk = this.orders.get(mid);
        if (!mk || !this.crosses(o.side, limit, mk.priceTicks ?? 0n) || mk.user === o.user) break;
        available += mk.remainingLots;
      }
      if (available < o.remainingLots) return engineReject('fok_unfillable');
    }
    const fills: { maker: SimOrder; lots: bigint; ticks: bigint; tradeId: string; notional: bigint; takerFee: bigint; makerFee: bigint; takerShare: bigint; makerShare: bigint }[] = [];
    let selfTrade = false;
    while (o.remainingLots > 0n) {
      const maker = this.orders.get(opposite[0] ?? '');
      if (!maker || !this.crosses(o.side, limit, maker.priceTicks ?? 0n)) break;
      if (maker.user === o.user) {
        selfTrade = true;
        break;
      }
      const lots = o.remainingLots < maker.remainingLots ? o.remainingLots : maker.remainingLots;
      const ticks = maker.priceTicks ?? 0n;
      const notional = notionalUnits(ticks, lots, m.tickSize, m.lotSize);
      const takerFee = feeUnits(notional, m.takerFeeBps);
      const makerFee = feeUnits(notional, m.makerFeeBps);
      o.remainingLots -= lots;
      o.filledLots += lots;
      maker.remainingLots -= lots;
      maker.filledLots += lots;
      o.status = o.remainingLots === 0n ? 'filled' : 'partially_filled';
      maker.status = maker.remainingLots === 0n ? 'filled' : 'partially_filled';
      if (maker.remainingLots === 0n) this.remove(m, maker);
      m.lastTicks = ticks;
      const tradeId = this.id('trd');
      fills.push({ maker, lots, ticks, tradeId, notional, takerFee, makerFee, takerShare: this.share(o, lots), makerShare: this.share(maker, lots) });
      this.emit(`market-${m.id}`, 'TradeExecuted', {
        tradeId,
        marketId: m.id,
        price: this.price(m, ticks),
        quantity: this.qty(m, lots),
        takerSide: o.side,
        takerOrderId: o.id,
        takerUserId: o.user,
        makerOrderId: maker.id,
        makerUserId: maker.user,
        takerFee: formatAmount(takerFee),
        makerFee: formatAmount(makerFee),
        takerRemainingQuantity: this.qty(m, o.remainingLots),
        makerRemainingQuantity: this.qty(m, maker.remainingLots),
        executedAt: this.iso(),
      });
    }
    let cancelled: 'ioc_remainder' | 'market_remainder' | 'self_trade' | null = null;
    if (o.remainingLots > 0n) {
      if (selfTrade) cancelled = 'self_trade';
      else if (o.type === 'market') {
        if (o.filledLots === 0n) {
          engineReject('no_liquidity');
          return;
        }
        cancelled = 'market_remainder';
      } else if (tif === 'IOC') cancelled = 'ioc_remainder';
      else {
        this.insert(m, o);
        this.emit(`market-${m.id}`, 'OrderRested', { orderId: o.id, userId: o.user, marketId: m.id, side: o.side, price: this.price(m, o.priceTicks ?? 0n), remainingQuantity: this.qty(m, o.remainingLots) });
      }
      if (cancelled) {
        o.status = 'cancelled';
        this.emit(`market-${m.id}`, 'OrderCancelled', { orderId: o.id, userId: o.user, marketId: m.id, reason: cancelled, cancelledQuantity: this.qty(m, o.remainingLots) });
      }
    }
    // The risk handler settles each fill on both accounts, then returns what is left of finished orders.
    for (const f of fills) {
      this.settle(m, o, 'taker', f.tradeId, f.ticks, f.lots, f.notional, f.takerFee, f.takerShare);
      this.settle(m, f.maker, 'maker', f.tradeId, f.ticks, f.lots, f.notional, f.makerFee, f.makerShare);
    }
    if (cancelled) this.releaseRest(o, 'cancelled');
  }

  /** The reservation share a fill of `lots` frees: per-lot share, and everything left on the last fill. */
  private share(o: SimOrder, lots: bigint): bigint {
    const share = o.remainingLots === 0n ? o.reservedLeft : o.sharePerLot * lots < o.reservedLeft ? o.sharePerLot * lots : o.reservedLeft;
    o.reservedLeft -= share;
    return share;
  }

  private settle(m: SimMarket, o: SimOrder, liquidity: 'maker' | 'taker', tradeId: string, ticks: bigint, lots: bigint, notional: bigint, fee: bigint, share: bigint): void {
    const base = lotsToUnits(lots, m.lotSize);
    if (o.side === 'buy') {
      const q = this.balance(o.user, m.quote);
      q.reserved -= share;
      q.available += share - notional - fee;
      this.balance(o.user, m.base).available += base;
    } else {
      const b = this.balance(o.user, m.base);
      b.reserved -= share;
      b.available += share - base;
      this.balance(o.user, m.quote).available += notional - fee;
    }
    this.emit(`account-${o.user}`, 'FillSettled', {
      tradeId,
      orderId: o.id,
      userId: o.user,
      marketId: m.id,
      side: o.side,
      liquidity,
      price: this.price(m, ticks),
      quantity: this.qty(m, lots),
      baseAsset: m.base,
      quoteAsset: m.quote,
      notional: formatAmount(notional),
      fee: formatAmount(fee),
      feeAsset: m.quote,
      reservationReleased: formatAmount(share),
    });
  }

  private amend(a: Extract<SimAction, { kind: 'amend' }>): void {
    const o = this.pickResting(a.pick);
    if (!o) return;
    const m = this.markets[o.market - 1];
    if (!m || o.priceTicks === null) return;
    const requestId = this.id('req');
    const newTicks = BigInt(Math.max(1, Number(o.priceTicks) + a.offsetTicks));
    const newRemaining = BigInt(Math.max(1, a.lots));
    const newLots = o.filledLots + newRemaining;
    this.emit(`order-${o.id}`, 'OrderAmendRequested', { orderId: o.id, userId: o.user, marketId: m.id, requestId, newPrice: this.price(m, newTicks), newQuantity: this.qty(m, newLots), requestedAt: this.iso() }, o.user);
    const rejectAmend = (reason: RejectReason) =>
      this.emit(`account-${o.user}`, 'OrderAmendRejected', { orderId: o.id, userId: o.user, marketId: m.id, requestId, reason, rule: reason, limit: null, observed: null });
    const best = this.orders.get(this.bookOf(m, o.side === 'buy' ? 'sell' : 'buy')[0] ?? '');
    if (best && this.crosses(o.side, newTicks, best.priceTicks ?? 0n)) return rejectAmend('price_band');
    const share = o.side === 'buy' ? this.buyShare(m, newTicks) : o.sharePerLot;
    const needed = share * newRemaining;
    const delta = needed - o.reservedLeft;
    const bal = this.balance(o.user, o.asset);
    if (delta > bal.available) return rejectAmend(o.side === 'buy' ? 'insufficient_funds' : 'insufficient_position');
    bal.available -= delta;
    bal.reserved += delta;
    o.reservedLeft = needed;
    o.sharePerLot = share;
    this.emit(`account-${o.user}`, 'OrderAmendAccepted', {
      orderId: o.id,
      userId: o.user,
      marketId: m.id,
      requestId,
      newPrice: this.price(m, newTicks),
      newQuantity: this.qty(m, newLots),
      reservationDelta: formatAmount(delta),
      reservedAsset: o.asset,
    });
    const priorityLost = newTicks !== o.priceTicks || newRemaining > o.remainingLots;
    o.priceTicks = newTicks;
    o.lots = newLots;
    o.remainingLots = newRemaining;
    if (priorityLost) {
      this.remove(m, o);
      this.insert(m, o);
    }
    this.emit(`market-${m.id}`, 'OrderAmended', { orderId: o.id, userId: o.user, marketId: m.id, price: this.price(m, newTicks), quantity: this.qty(m, newLots), remainingQuantity: this.qty(m, newRemaining), priorityLost });
  }

  /** The simulator's own L2 book: market → side → price string → [quantity string, order count]. */
  levels(): Map<string, { quantity: string; orderCount: number }> {
    const out = new Map<string, { quantity: string; orderCount: number }>();
    for (const m of this.markets) {
      for (const side of ['buy', 'sell'] as const) {
        const acc = new Map<bigint, { lots: bigint; n: number }>();
        for (const id of this.bookOf(m, side)) {
          const o = this.orders.get(id);
          if (!o || o.priceTicks === null) continue;
          const l = acc.get(o.priceTicks) ?? { lots: 0n, n: 0 };
          l.lots += o.remainingLots;
          l.n += 1;
          acc.set(o.priceTicks, l);
        }
        for (const [ticks, l] of acc) out.set(`${m.id}|${side}|${this.price(m, ticks)}`, { quantity: this.qty(m, l.lots), orderCount: l.n });
      }
    }
    return out;
  }

  marketOf(id: number): SimMarket | undefined {
    return this.markets[id - 1];
  }
}

/** A random but realistic action: mostly orders around the price, some cancels/amends, time passing. */
export function randomAction(rand: () => number): SimAction {
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const r = rand();
  if (r < 0.5) {
    const market = rand() < 0.2;
    return {
      kind: 'place',
      user: int(0, 1_000_000),
      market: int(0, 1_000_000),
      side: rand() < 0.5 ? 'buy' : 'sell',
      type: market ? 'market' : 'limit',
      tif: rand() < 0.8 ? 'GTC' : rand() < 0.5 ? 'IOC' : 'FOK',
      postOnly: rand() < 0.05,
      offsetTicks: int(-12, 12),
      lots: int(1, 40),
    };
  }
  if (r < 0.62) return { kind: 'cancel', pick: int(0, 1_000_000) };
  if (r < 0.7) return { kind: 'amend', pick: int(0, 1_000_000), offsetTicks: int(-5, 5), lots: int(1, 40) };
  if (r < 0.72) return { kind: 'expire', pick: int(0, 1_000_000) };
  if (r < 0.9) return { kind: 'advance', ms: int(0, 120_000) };
  return { kind: 'deposit', user: int(0, 1_000_000), market: int(0, 1_000_000), base: rand() < 0.5, whole: int(100, 100_000) };
}

export interface GeneratedHistory {
  simulator: ExchangeSimulator;
  events: RecordedEvent[];
}

/**
 * A history of at least `events` events: `users` traders and `markets` markets with funded
 * accounts, then random trading. Deterministic for a seed.
 */
export function generateHistory(options: { events: number; seed?: number; users?: number; markets?: number }): GeneratedHistory {
  const sim = new ExchangeSimulator();
  const rand = prng(options.seed ?? 42);
  const users = options.users ?? 50;
  const markets = options.markets ?? 5;
  for (let i = 0; i < users; i += 1) sim.step({ kind: 'register' });
  for (let i = 0; i < markets; i += 1) sim.step({ kind: 'list', spec: i, refTicks: 1_000 + i * 250, makerFeeBps: 10, takerFeeBps: 25 });
  for (let u = 0; u < users; u += 1) {
    for (let m = 0; m < markets; m += 1) {
      sim.step({ kind: 'deposit', user: u, market: m, base: false, whole: 10_000_000 });
      sim.step({ kind: 'deposit', user: u, market: m, base: true, whole: 100_000 });
    }
  }
  while (sim.events.length < options.events) sim.step(randomAction(rand));
  return { simulator: sim, events: sim.events };
}
