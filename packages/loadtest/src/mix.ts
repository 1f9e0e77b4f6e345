/**
 * What the simulated traders do, as pure functions of a seeded PRNG and the trader's own state:
 *
 * - each market has a mid price doing a bounded random walk in integer ticks (one step per action
 *   on that market, so the walk depends on the seed and the action count, not on timing);
 * - makers quote GTC limit orders a few half-spreads either side of the mid, amend some (new price
 *   near the mid, or a new quantity) and cancel some; a maker that holds `maxOpenPerTrader` orders
 *   cancels its oldest before quoting again, so open orders stay bounded;
 * - takers cross the mid with IOC limit orders and market orders (some FOK), and now and then
 *   leave a GTC order resting, which they later cancel.
 *
 * Prices and quantities are integer ticks and lots; the request bodies carry decimal strings made
 * with core-domain's exact formatting (no floating point touches a price or an amount).
 */
import { lotsToQuantity, ticksToPrice } from '@tradecore/core-domain';
import type { Rng } from './prng.ts';

export interface MarketPlan {
  marketId: number;
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  tickSize: string;
  lotSize: string;
  /** Reference price in ticks: the walk starts here and stays within maxDeviationBps of it. */
  referenceTicks: number;
}

export interface MixConfig {
  /** Fraction of traders that are makers (the rest are takers). */
  makerShare: number;
  maker: { quote: number; amend: number; cancel: number };
  taker: { ioc: number; market: number; fok: number; rest: number; cancel: number };
  /** A trader holding this many (possibly already filled) orders cancels its oldest first. */
  maxOpenPerTrader: number;
  /** Order size: uniform in [1, maxLots] lots. */
  maxLots: number;
  /** Makers quote at mid ∓ k half-spreads, k uniform in [1, quoteLevels]. */
  quoteLevels: number;
  /** Takers' IOC / FOK limit: mid ± k half-spreads, k uniform in [1, crossLevels]. */
  crossLevels: number;
  halfSpreadBps: number;
  walk: { stepBps: number; maxDeviationBps: number };
}

export const DEFAULT_MIX: MixConfig = {
  makerShare: 0.6,
  maker: { quote: 70, amend: 12, cancel: 18 },
  taker: { ioc: 55, market: 25, fok: 5, rest: 10, cancel: 5 },
  maxOpenPerTrader: 30,
  maxLots: 50,
  quoteLevels: 12,
  crossLevels: 3,
  halfSpreadBps: 2,
  walk: { stepBps: 0.1, maxDeviationBps: 500 },
};

export type Side = 'buy' | 'sell';

/** One of the trader's own orders, as far as the trader knows (it does not track fills). */
export interface KnownOrder {
  orderId: string;
  marketId: number;
  side: Side;
  priceTicks: number;
  lots: number;
}

export interface TraderState {
  index: number;
  role: 'maker' | 'taker';
  /** Oldest first. */
  orders: KnownOrder[];
}

export interface PlaceBody {
  marketId: number;
  side: Side;
  type: 'limit' | 'market';
  quantity: string;
  price?: string;
  timeInForce: 'GTC' | 'IOC' | 'FOK';
}

export type Decision =
  | { kind: 'place'; tag: 'quote' | 'ioc' | 'market' | 'fok' | 'rest'; body: PlaceBody; known: Omit<KnownOrder, 'orderId'> | null }
  | { kind: 'amend'; orderId: string; body: { price?: string; quantity?: string }; after: KnownOrder }
  | { kind: 'cancel'; orderId: string; reason: 'user' | 'oldest' };

export type DecisionKind = Decision['kind'];

export class PriceWalk {
  readonly mid: number[];
  private readonly lo: number[];
  private readonly hi: number[];
  private readonly step: number[];
  readonly halfSpread: number[];

  constructor(
    readonly markets: readonly MarketPlan[],
    cfg: Pick<MixConfig, 'walk' | 'halfSpreadBps'>,
  ) {
    this.mid = markets.map((m) => m.referenceTicks);
    this.lo = markets.map((m) => Math.ceil((m.referenceTicks * (10_000 - cfg.walk.maxDeviationBps)) / 10_000));
    this.hi = markets.map((m) => Math.floor((m.referenceTicks * (10_000 + cfg.walk.maxDeviationBps)) / 10_000));
    this.step = markets.map((m) => (m.referenceTicks * cfg.walk.stepBps) / 10_000);
    this.halfSpread = markets.map((m) => Math.max(1, Math.round((m.referenceTicks * cfg.halfSpreadBps) / 10_000)));
  }

  /** One random-walk step of market `i`; returns the new mid in ticks (an integer within bounds). */
  advance(i: number, rng: Rng): number {
    const next = Math.round(this.mid[i]! + rng.normal() * this.step[i]!);
    const clamped = Math.min(this.hi[i]!, Math.max(this.lo[i]!, next));
    this.mid[i] = clamped;
    return clamped;
  }

  indexOf(marketId: number): number {
    const i = this.markets.findIndex((m) => m.marketId === marketId);
    if (i < 0) throw new RangeError(`unknown market ${marketId}`);
    return i;
  }
}

export function rolesFor(traders: number, makerShare: number): ('maker' | 'taker')[] {
  const makers = Math.max(1, Math.min(traders - 1, Math.round(traders * makerShare)));
  return Array.from({ length: traders }, (_, i) => (i < makers ? 'maker' : 'taker'));
}

function priceAt(walk: PriceWalk, i: number, side: Side, levels: number, towards: 'away' | 'cross'): number {
  const mid = walk.mid[i]!;
  const off = levels * walk.halfSpread[i]!;
  // Makers quote away from the mid (bids below, asks above); takers cross it.
  const below = (side === 'buy') === (towards === 'away');
  return Math.max(1, below ? mid - off : mid + off);
}

/**
 * The trader's next action. Pure apart from advancing `walk` (one step on the chosen market) and
 * drawing from `rng`; the caller applies the decision to `trader.orders` when it is answered
 * (`applySent` / `applyAccepted`).
 */
export function decide(trader: TraderState, walk: PriceWalk, rng: Rng, cfg: MixConfig = DEFAULT_MIX): Decision {
  if (trader.orders.length >= cfg.maxOpenPerTrader) {
    const oldest = trader.orders[0]!;
    return { kind: 'cancel', orderId: oldest.orderId, reason: 'oldest' };
  }
  const i = rng.int(0, walk.markets.length - 1);
  const market = walk.markets[i]!;
  walk.advance(i, rng);
  const side: Side = rng.chance(0.5) ? 'buy' : 'sell';
  const lots = rng.int(1, cfg.maxLots);
  const quantity = lotsToQuantity(BigInt(lots), market.lotSize);
  const limit = (ticks: number) => ticksToPrice(BigInt(ticks), market.tickSize);

  if (trader.role === 'maker') {
    let what = rng.weighted(cfg.maker);
    if (what !== 'quote' && trader.orders.length === 0) what = 'quote';
    if (what === 'quote') {
      const ticks = priceAt(walk, i, side, rng.int(1, cfg.quoteLevels), 'away');
      return {
        kind: 'place',
        tag: 'quote',
        body: { marketId: market.marketId, side, type: 'limit', quantity, price: limit(ticks), timeInForce: 'GTC' },
        known: { marketId: market.marketId, side, priceTicks: ticks, lots },
      };
    }
    const target = trader.orders[rng.int(0, trader.orders.length - 1)]!;
    if (what === 'cancel') return { kind: 'cancel', orderId: target.orderId, reason: 'user' };
    // Amend: a new price near the target market's mid on the order's own side, or a new quantity.
    const ti = walk.indexOf(target.marketId);
    const tm = walk.markets[ti]!;
    if (rng.chance(0.6)) {
      const ticks = priceAt(walk, ti, target.side, rng.int(1, cfg.quoteLevels), 'away');
      return { kind: 'amend', orderId: target.orderId, body: { price: ticksToPrice(BigInt(ticks), tm.tickSize) }, after: { ...target, priceTicks: ticks } };
    }
    const newLots = rng.int(1, cfg.maxLots);
    return { kind: 'amend', orderId: target.orderId, body: { quantity: lotsToQuantity(BigInt(newLots), tm.lotSize) }, after: { ...target, lots: newLots } };
  }

  let what = rng.weighted(cfg.taker);
  if (what === 'cancel' && trader.orders.length === 0) what = 'ioc';
  switch (what) {
    case 'cancel':
      return { kind: 'cancel', orderId: trader.orders[rng.int(0, trader.orders.length - 1)]!.orderId, reason: 'user' };
    case 'market':
      return { kind: 'place', tag: 'market', body: { marketId: market.marketId, side, type: 'market', quantity, timeInForce: 'IOC' }, known: null };
    case 'ioc':
    case 'fok': {
      const ticks = priceAt(walk, i, side, rng.int(1, cfg.crossLevels), 'cross');
      return {
        kind: 'place',
        tag: what,
        body: { marketId: market.marketId, side, type: 'limit', quantity, price: limit(ticks), timeInForce: what === 'ioc' ? 'IOC' : 'FOK' },
        known: null,
      };
    }
    case 'rest': {
      const ticks = priceAt(walk, i, side, rng.int(1, cfg.quoteLevels), 'away');
      return {
        kind: 'place',
        tag: 'rest',
        body: { marketId: market.marketId, side, type: 'limit', quantity, price: limit(ticks), timeInForce: 'GTC' },
        known: { marketId: market.marketId, side, priceTicks: ticks, lots },
      };
    }
  }
}

/** Bookkeeping when a decision is sent: a cancelled order leaves the trader's list at once. */
export function applySent(trader: TraderState, d: Decision): void {
  if (d.kind === 'cancel') {
    const k = trader.orders.findIndex((o) => o.orderId === d.orderId);
    if (k >= 0) trader.orders.splice(k, 1);
  }
}

/** Bookkeeping when a decision is answered 202 (a place adds a resting order the trader knows). */
export function applyAccepted(trader: TraderState, d: Decision, orderId: string | null): void {
  if (d.kind === 'place' && d.known && orderId) trader.orders.push({ orderId, ...d.known });
  if (d.kind === 'amend') {
    const k = trader.orders.findIndex((o) => o.orderId === d.orderId);
    if (k >= 0) trader.orders[k] = d.after;
  }
}
