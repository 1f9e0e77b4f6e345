/**
 * The reference order book: small and obviously correct, not fast. Each side is one array of
 * orders kept sorted by (price best-first, arrival sequence); every operation is a linear scan.
 * `FastBook` must emit exactly the events this book emits (proved by the property tests).
 *
 * ## Matching rules (both books)
 *
 * Commands in, events out, deterministic; business outcomes are events, never exceptions. A
 * malformed command (price or quantity not a bigint in 1..MAX_STEPS) throws
 * `MalformedBookCommandError`: it cannot come from a validated event.
 *
 * **Place** (checks in this order; a rejection carries `rejectedLots` = the order's lots and
 * changes nothing):
 * 1. `duplicate_order` if an order with that id is resting. The book remembers only resting
 *    orders; uniqueness of ids over time is the command side's job.
 * 2. Post-only: `post_only_would_take` if the best opposite price is within the limit
 *    (crossing counts as taking even if self-trade prevention would have stopped the trade).
 * 3. Market orders: `priceTicks` is the protection price (worst acceptable). If no opposite
 *    liquidity is within it, `no_liquidity`.
 * 4. FOK: walk the opposite side in priority order within the limit. A resting order of the same
 *    user is skipped when the taker's STP is `cancel_oldest` (it would be cancelled), and makes
 *    the order unfillable under any other STP mode (the taker could not fill in full). If the
 *    walk cannot gather the whole quantity, `fok_unfillable`: no trades, no cancellations.
 * 5. Match against the opposite side, best price first, FIFO within a price, while the best
 *    price is within the limit. Trades print at the maker's price. Against a resting order of the
 *    same user, the taker's `selfTradePrevention` decides:
 *    - `cancel_newest`: the taker's remainder is cancelled (`self_trade`); matching stops.
 *    - `cancel_oldest`: the maker is cancelled (`self_trade`); matching continues.
 *    - `cancel_both`: the maker, then the taker's remainder, are cancelled (`self_trade`).
 *    - `decrement`: both are reduced by the overlap min(taker, maker) with no trade. An order
 *      reduced to zero is cancelled (`self_trade`, cancelledLots = overlap); one reduced
 *      partially gets an `amended` event (total and remaining both down by the overlap,
 *      `priorityLost: false`). The maker's event comes first. Matching continues if the taker
 *      has quantity left.
 * 6. A remainder (when STP did not end the order): market → cancelled `market_remainder`;
 *    IOC → cancelled `ioc_remainder`; GTC → rests at the back of its level (`rested`).
 *
 * **Cancel**: a resting order is removed (`cancelled`, reason `user`). Otherwise `rejected`
 * `unknown_order` with `userId: 0` and `rejectedLots: 0` (the book has no memory of closed orders).
 *
 * **Amend** (`lots` is the new TOTAL quantity; filled = total − remaining):
 * - unknown order → `rejected` `unknown_order` (`userId: 0`, `rejectedLots: 0`).
 * - new total ≤ filled → the open remainder is cancelled with reason `user` (the trader asked for
 *   no more open quantity), whatever the new price.
 * - same price, total not increased → `amended`, keeps its place (`priorityLost: false`);
 *   an unchanged amend is acknowledged the same way.
 * - same price, total increased → `amended`, moves to the back of its level (`priorityLost: true`).
 * - new price → `amended` (`priorityLost: true`), then, if the new price crosses the opposite
 *   side, the order matches as a GTC taker with its own STP mode (trades follow the `amended`
 *   event), and any remainder rests at the back of the new level without another `rested` event.
 *   A post-only order whose new price would cross is instead `rejected` `post_only_would_take`
 *   with `rejectedLots: 0` and stays unchanged.
 */
import type { SelfTradePrevention, Side } from '../events.ts';
import { assertRestorableSnapshot, assertWellFormedAmend, assertWellFormedPlace, hashSnapshot } from './common.ts';
import type {
  BookAmend,
  BookCancel,
  BookCommand,
  BookEvent,
  BookPlace,
  BookSnapshot,
  Depth,
  DepthLevel,
  OrderBook,
  RestingOrderView,
} from './types.ts';
import { BookInvariantError } from './types.ts';

interface RefOrder {
  orderId: string;
  userId: number;
  side: Side;
  priceTicks: bigint;
  lots: bigint;
  remaining: bigint;
  stp: SelfTradePrevention;
  postOnly: boolean;
  /** Arrival sequence: set when the order (re)gains its place in the queue. */
  seq: number;
}

function view(o: RefOrder): RestingOrderView {
  return {
    orderId: o.orderId,
    userId: o.userId,
    side: o.side,
    priceTicks: o.priceTicks,
    lots: o.lots,
    remainingLots: o.remaining,
    selfTradePrevention: o.stp,
    postOnly: o.postOnly,
  };
}

const min = (a: bigint, b: bigint) => (a < b ? a : b);

export class ReferenceBook implements OrderBook {
  private bids: RefOrder[] = [];
  private asks: RefOrder[] = [];
  private nextSeq = 0;

  static restore(snapshot: BookSnapshot): ReferenceBook {
    assertRestorableSnapshot(snapshot);
    const book = new ReferenceBook();
    for (const o of [...snapshot.bids, ...snapshot.asks]) {
      book.insert({
        orderId: o.orderId,
        userId: o.userId,
        side: o.side,
        priceTicks: o.priceTicks,
        lots: o.lots,
        remaining: o.remainingLots,
        stp: o.selfTradePrevention,
        postOnly: o.postOnly,
        seq: 0,
      });
    }
    book.validateInternalState();
    return book;
  }

  execute(command: BookCommand): BookEvent[] {
    switch (command.kind) {
      case 'place':
        return this.place(command);
      case 'cancel':
        return this.cancel(command);
      case 'amend':
        return this.amend(command);
    }
  }

  // ---- priority order ----

  /** Sorts a side by price (best first), then arrival. */
  private sortSide(side: Side): void {
    const orders = side === 'buy' ? this.bids : this.asks;
    orders.sort((a, b) => {
      if (a.priceTicks !== b.priceTicks) {
        const aBetter = side === 'buy' ? a.priceTicks > b.priceTicks : a.priceTicks < b.priceTicks;
        return aBetter ? -1 : 1;
      }
      return a.seq - b.seq;
    });
  }

  /** Puts an order at the back of its price level. */
  private insert(o: RefOrder): void {
    o.seq = this.nextSeq++;
    (o.side === 'buy' ? this.bids : this.asks).push(o);
    this.sortSide(o.side);
  }

  private remove(o: RefOrder): void {
    const orders = o.side === 'buy' ? this.bids : this.asks;
    orders.splice(orders.indexOf(o), 1);
  }

  private find(orderId: string): RefOrder | undefined {
    return this.bids.find((o) => o.orderId === orderId) ?? this.asks.find((o) => o.orderId === orderId);
  }

  /** True when a resting price on the opposite side is acceptable to a taker on `side` limited at `limit`. */
  private static within(side: Side, restingPrice: bigint, limit: bigint): boolean {
    return side === 'buy' ? restingPrice <= limit : restingPrice >= limit;
  }

  private opposite(side: Side): RefOrder[] {
    return side === 'buy' ? this.asks : this.bids;
  }

  private wouldTake(side: Side, limit: bigint): boolean {
    const best = this.opposite(side)[0];
    return best !== undefined && ReferenceBook.within(side, best.priceTicks, limit);
  }

  // ---- commands ----

  private place(cmd: BookPlace): BookEvent[] {
    assertWellFormedPlace(cmd);
    const reject = (reason: 'duplicate_order' | 'post_only_would_take' | 'no_liquidity' | 'fok_unfillable'): BookEvent[] => [
      { kind: 'rejected', orderId: cmd.orderId, userId: cmd.userId, reason, rejectedLots: cmd.lots },
    ];
    if (this.find(cmd.orderId)) return reject('duplicate_order');
    if (cmd.postOnly && this.wouldTake(cmd.side, cmd.priceTicks)) return reject('post_only_would_take');
    if (cmd.type === 'market' && !this.wouldTake(cmd.side, cmd.priceTicks)) return reject('no_liquidity');
    if (cmd.timeInForce === 'FOK' && !this.fokFillable(cmd)) return reject('fok_unfillable');

    const taker: RefOrder = {
      orderId: cmd.orderId,
      userId: cmd.userId,
      side: cmd.side,
      priceTicks: cmd.priceTicks,
      lots: cmd.lots,
      remaining: cmd.lots,
      stp: cmd.selfTradePrevention,
      postOnly: cmd.postOnly,
      seq: -1,
    };
    const events: BookEvent[] = [];
    if (!this.match(taker, events)) return events;
    if (cmd.type === 'market') {
      events.push({ kind: 'cancelled', orderId: cmd.orderId, userId: cmd.userId, reason: 'market_remainder', cancelledLots: taker.remaining });
    } else if (cmd.timeInForce === 'IOC') {
      events.push({ kind: 'cancelled', orderId: cmd.orderId, userId: cmd.userId, reason: 'ioc_remainder', cancelledLots: taker.remaining });
    } else if (cmd.timeInForce === 'GTC') {
      this.insert(taker);
      events.push({ kind: 'rested', orderId: cmd.orderId, userId: cmd.userId, side: cmd.side, priceTicks: cmd.priceTicks, remainingLots: taker.remaining });
    } else {
      throw new BookInvariantError(`FOK order ${cmd.orderId} passed the fill check but was not filled`);
    }
    return events;
  }

  private fokFillable(cmd: BookPlace): boolean {
    let need = cmd.lots;
    for (const m of this.opposite(cmd.side)) {
      if (!ReferenceBook.within(cmd.side, m.priceTicks, cmd.priceTicks)) return false;
      if (m.userId === cmd.userId) {
        if (cmd.selfTradePrevention === 'cancel_oldest') continue;
        return false;
      }
      need -= m.remaining;
      if (need <= 0n) return true;
    }
    return false;
  }

  /**
   * Matches `taker` (not resting) against the opposite side. Returns true when the taker still has
   * open quantity that the caller must dispose of, false when it is filled or ended by STP.
   */
  private match(taker: RefOrder, events: BookEvent[]): boolean {
    const opp = this.opposite(taker.side);
    while (taker.remaining > 0n) {
      const m = opp[0];
      if (!m || !ReferenceBook.within(taker.side, m.priceTicks, taker.priceTicks)) return true;
      if (m.userId === taker.userId) {
        switch (taker.stp) {
          case 'cancel_newest':
            events.push({ kind: 'cancelled', orderId: taker.orderId, userId: taker.userId, reason: 'self_trade', cancelledLots: taker.remaining });
            taker.remaining = 0n;
            return false;
          case 'cancel_oldest':
            this.remove(m);
            events.push({ kind: 'cancelled', orderId: m.orderId, userId: m.userId, reason: 'self_trade', cancelledLots: m.remaining });
            continue;
          case 'cancel_both':
            this.remove(m);
            events.push({ kind: 'cancelled', orderId: m.orderId, userId: m.userId, reason: 'self_trade', cancelledLots: m.remaining });
            events.push({ kind: 'cancelled', orderId: taker.orderId, userId: taker.userId, reason: 'self_trade', cancelledLots: taker.remaining });
            taker.remaining = 0n;
            return false;
          case 'decrement': {
            const overlap = min(taker.remaining, m.remaining);
            if (m.remaining === overlap) {
              this.remove(m);
              events.push({ kind: 'cancelled', orderId: m.orderId, userId: m.userId, reason: 'self_trade', cancelledLots: overlap });
            } else {
              m.lots -= overlap;
              m.remaining -= overlap;
              events.push({ kind: 'amended', orderId: m.orderId, userId: m.userId, priceTicks: m.priceTicks, lots: m.lots, remainingLots: m.remaining, priorityLost: false });
            }
            if (taker.remaining === overlap) {
              events.push({ kind: 'cancelled', orderId: taker.orderId, userId: taker.userId, reason: 'self_trade', cancelledLots: overlap });
              taker.remaining = 0n;
              return false;
            }
            taker.lots -= overlap;
            taker.remaining -= overlap;
            events.push({ kind: 'amended', orderId: taker.orderId, userId: taker.userId, priceTicks: taker.priceTicks, lots: taker.lots, remainingLots: taker.remaining, priorityLost: false });
            continue;
          }
        }
      }
      const qty = min(taker.remaining, m.remaining);
      taker.remaining -= qty;
      m.remaining -= qty;
      if (m.remaining === 0n) this.remove(m);
      events.push({
        kind: 'trade',
        takerOrderId: taker.orderId,
        takerUserId: taker.userId,
        makerOrderId: m.orderId,
        makerUserId: m.userId,
        takerSide: taker.side,
        priceTicks: m.priceTicks,
        lots: qty,
        takerRemainingLots: taker.remaining,
        makerRemainingLots: m.remaining,
      });
    }
    return false;
  }

  private cancel(cmd: BookCancel): BookEvent[] {
    const o = this.find(cmd.orderId);
    if (!o) return [{ kind: 'rejected', orderId: cmd.orderId, userId: 0, reason: 'unknown_order', rejectedLots: 0n }];
    this.remove(o);
    return [{ kind: 'cancelled', orderId: o.orderId, userId: o.userId, reason: 'user', cancelledLots: o.remaining }];
  }

  private amend(cmd: BookAmend): BookEvent[] {
    assertWellFormedAmend(cmd);
    const o = this.find(cmd.orderId);
    if (!o) return [{ kind: 'rejected', orderId: cmd.orderId, userId: 0, reason: 'unknown_order', rejectedLots: 0n }];
    const filled = o.lots - o.remaining;
    if (cmd.lots <= filled) {
      this.remove(o);
      return [{ kind: 'cancelled', orderId: o.orderId, userId: o.userId, reason: 'user', cancelledLots: o.remaining }];
    }
    const remaining = cmd.lots - filled;
    if (cmd.priceTicks === o.priceTicks) {
      const priorityLost = cmd.lots > o.lots;
      o.lots = cmd.lots;
      o.remaining = remaining;
      if (priorityLost) {
        this.remove(o);
        this.insert(o);
      }
      return [{ kind: 'amended', orderId: o.orderId, userId: o.userId, priceTicks: o.priceTicks, lots: o.lots, remainingLots: o.remaining, priorityLost }];
    }
    const crossing = this.wouldTake(o.side, cmd.priceTicks);
    if (crossing && o.postOnly)
      return [{ kind: 'rejected', orderId: o.orderId, userId: o.userId, reason: 'post_only_would_take', rejectedLots: 0n }];
    this.remove(o);
    o.priceTicks = cmd.priceTicks;
    o.lots = cmd.lots;
    o.remaining = remaining;
    const events: BookEvent[] = [
      { kind: 'amended', orderId: o.orderId, userId: o.userId, priceTicks: o.priceTicks, lots: o.lots, remainingLots: o.remaining, priorityLost: true },
    ];
    if (crossing ? this.match(o, events) : true) this.insert(o);
    return events;
  }

  // ---- queries ----

  depth(levels: number): Depth {
    const aggregate = (orders: RefOrder[]): DepthLevel[] => {
      const out: DepthLevel[] = [];
      for (const o of orders) {
        const last = out[out.length - 1];
        if (last && last.priceTicks === o.priceTicks) {
          last.lots += o.remaining;
          last.orders += 1;
        } else {
          if (out.length >= levels) break;
          out.push({ priceTicks: o.priceTicks, lots: o.remaining, orders: 1 });
        }
      }
      return out;
    };
    return { bids: aggregate(this.bids), asks: aggregate(this.asks) };
  }

  restingOrder(orderId: string): RestingOrderView | undefined {
    const o = this.find(orderId);
    return o ? view(o) : undefined;
  }

  restingOrders(): RestingOrderView[] {
    return [...this.bids.map(view), ...this.asks.map(view)];
  }

  bestBid(): bigint | null {
    return this.bids[0]?.priceTicks ?? null;
  }

  bestAsk(): bigint | null {
    return this.asks[0]?.priceTicks ?? null;
  }

  snapshot(): BookSnapshot {
    return { version: 1, bids: this.bids.map(view), asks: this.asks.map(view) };
  }

  stateHash(): string {
    return hashSnapshot(this.snapshot());
  }

  validateInternalState(): void {
    const fail = (msg: string): never => {
      throw new BookInvariantError(`ReferenceBook: ${msg}`);
    };
    const ids = new Set<string>();
    for (const [side, orders] of [['buy', this.bids], ['sell', this.asks]] as const) {
      for (let i = 0; i < orders.length; i++) {
        const o = orders[i]!;
        if (o.side !== side) fail(`order ${o.orderId} on the wrong side`);
        if (ids.has(o.orderId)) fail(`order ${o.orderId} rests twice`);
        ids.add(o.orderId);
        if (o.remaining <= 0n || o.remaining > o.lots) fail(`order ${o.orderId} has remaining ${o.remaining} of ${o.lots}`);
        const prev = orders[i - 1];
        if (prev) {
          const better = side === 'buy' ? prev.priceTicks > o.priceTicks : prev.priceTicks < o.priceTicks;
          if (!better && !(prev.priceTicks === o.priceTicks && prev.seq < o.seq)) fail(`${side} side out of priority order at ${o.orderId}`);
        }
      }
    }
    const bid = this.bestBid();
    const ask = this.bestAsk();
    if (bid !== null && ask !== null && bid >= ask) fail(`crossed at rest: bid ${bid} >= ask ${ask}`);
  }
}
