/**
 * The behavioural suite every `OrderBook` implementation must pass (run by book.test.ts against
 * the reference book and the fast book). Given a book state, when a command arrives, then exactly
 * these events come out and the book looks like this.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SelfTradePrevention, Side } from '../events.ts';
import { restoreBook } from './factory.ts';
import type { BookAmend, BookCancel, BookEvent, BookKind, BookPlace, OrderBook } from './types.ts';
import { BookInvariantError, MalformedBookCommandError } from './types.ts';

export function place(p: Partial<BookPlace> & { orderId: string; side: Side; priceTicks: bigint; lots: bigint }): BookPlace {
  return { kind: 'place', userId: 1, type: 'limit', timeInForce: 'GTC', postOnly: false, selfTradePrevention: 'cancel_newest', ...p };
}
export const buy = (orderId: string, priceTicks: bigint, lots: bigint, p: Partial<BookPlace> = {}) =>
  place({ orderId, side: 'buy', priceTicks, lots, ...p });
export const sell = (orderId: string, priceTicks: bigint, lots: bigint, p: Partial<BookPlace> = {}) =>
  place({ orderId, side: 'sell', priceTicks, lots, ...p });
export const cancel = (orderId: string): BookCancel => ({ kind: 'cancel', orderId });
export const amend = (orderId: string, priceTicks: bigint, lots: bigint): BookAmend => ({ kind: 'amend', orderId, priceTicks, lots });

type Trade = Extract<BookEvent, { kind: 'trade' }>;
function trade(taker: BookPlace, makerOrderId: string, makerUserId: number, priceTicks: bigint, lots: bigint, takerRemainingLots: bigint, makerRemainingLots: bigint): Trade {
  return {
    kind: 'trade',
    takerOrderId: taker.orderId,
    takerUserId: taker.userId,
    makerOrderId,
    makerUserId,
    takerSide: taker.side,
    priceTicks,
    lots,
    takerRemainingLots,
    makerRemainingLots,
  };
}

export function orderBookSuite(kind: BookKind, make: () => OrderBook): void {
  describe(`order book behaviour (${kind})`, () => {
    let book: OrderBook;
    const given = (...commands: (BookPlace | BookCancel | BookAmend)[]) => {
      book = make();
      for (const c of commands) book.execute(c);
      return book;
    };
    afterEach(() => {
      book.validateInternalState();
    });

    describe('limit orders and price-time priority', () => {
      it('rests a GTC limit order on an empty book', () => {
        given();
        const cmd = buy('b1', 100n, 5n);
        expect(book.execute(cmd)).toEqual([{ kind: 'rested', orderId: 'b1', userId: 1, side: 'buy', priceTicks: 100n, remainingLots: 5n }]);
        expect(book.bestBid()).toBe(100n);
        expect(book.bestAsk()).toBeNull();
        expect(book.restingOrder('b1')).toEqual({
          orderId: 'b1', userId: 1, side: 'buy', priceTicks: 100n, lots: 5n, remainingLots: 5n, selfTradePrevention: 'cancel_newest', postOnly: false,
        });
      });

      it('fills the better price first, then time priority within a price, at the maker price', () => {
        given(sell('a1', 102n, 3n, { userId: 2 }), sell('a2', 101n, 2n, { userId: 3 }), sell('a3', 101n, 4n, { userId: 4 }));
        const taker = buy('t', 105n, 7n, { userId: 9 });
        expect(book.execute(taker)).toEqual([
          trade(taker, 'a2', 3, 101n, 2n, 5n, 0n),
          trade(taker, 'a3', 4, 101n, 4n, 1n, 0n),
          trade(taker, 'a1', 2, 102n, 1n, 0n, 2n),
        ]);
        expect(book.restingOrder('a1')?.remainingLots).toBe(2n);
        expect(book.bestAsk()).toBe(102n);
        expect(book.bestBid()).toBeNull();
      });

      it('stops at the limit price and rests the remainder of a GTC order', () => {
        given(sell('a1', 101n, 2n, { userId: 2 }), sell('a2', 103n, 5n, { userId: 2 }));
        const taker = buy('t', 102n, 5n, { userId: 9 });
        expect(book.execute(taker)).toEqual([
          trade(taker, 'a1', 2, 101n, 2n, 3n, 0n),
          { kind: 'rested', orderId: 't', userId: 9, side: 'buy', priceTicks: 102n, remainingLots: 3n },
        ]);
        expect(book.restingOrder('t')).toMatchObject({ lots: 5n, remainingLots: 3n });
        expect(book.bestBid()).toBe(102n);
        expect(book.bestAsk()).toBe(103n);
      });

      it('a sell taker walks the bids from the highest price down', () => {
        given(buy('b1', 99n, 1n, { userId: 2 }), buy('b2', 100n, 1n, { userId: 3 }), buy('b3', 98n, 1n, { userId: 4 }));
        const taker = sell('t', 99n, 5n, { userId: 9, timeInForce: 'IOC' });
        expect(book.execute(taker)).toEqual([
          trade(taker, 'b2', 3, 100n, 1n, 4n, 0n),
          trade(taker, 'b1', 2, 99n, 1n, 3n, 0n),
          { kind: 'cancelled', orderId: 't', userId: 9, reason: 'ioc_remainder', cancelledLots: 3n },
        ]);
        expect(book.bestBid()).toBe(98n);
      });

      it('rejects an order id that is already resting', () => {
        given(buy('b1', 100n, 5n));
        expect(book.execute(sell('b1', 200n, 3n))).toEqual([
          { kind: 'rejected', orderId: 'b1', userId: 1, reason: 'duplicate_order', rejectedLots: 3n },
        ]);
        expect(book.restingOrders()).toHaveLength(1);
      });

      it('throws for a malformed command (not a business outcome)', () => {
        given();
        expect(() => book.execute(buy('b1', 100n, 0n))).toThrow(MalformedBookCommandError);
        expect(() => book.execute(buy('b1', 0n, 1n))).toThrow(MalformedBookCommandError);
        expect(() => book.execute(amend('b1', 100n, -1n))).toThrow(MalformedBookCommandError);
        expect(book.restingOrders()).toEqual([]);
      });
    });

    describe('time in force', () => {
      it('IOC: trades what it can and cancels the remainder', () => {
        given(sell('a1', 101n, 2n, { userId: 2 }));
        const taker = buy('t', 101n, 5n, { userId: 9, timeInForce: 'IOC' });
        expect(book.execute(taker)).toEqual([
          trade(taker, 'a1', 2, 101n, 2n, 3n, 0n),
          { kind: 'cancelled', orderId: 't', userId: 9, reason: 'ioc_remainder', cancelledLots: 3n },
        ]);
        expect(book.restingOrders()).toEqual([]);
      });

      it('IOC that does not cross is cancelled in full', () => {
        given(sell('a1', 101n, 2n, { userId: 2 }));
        expect(book.execute(buy('t', 100n, 5n, { timeInForce: 'IOC' }))).toEqual([
          { kind: 'cancelled', orderId: 't', userId: 1, reason: 'ioc_remainder', cancelledLots: 5n },
        ]);
      });

      it('FOK: fills completely when the quantity is available within the limit', () => {
        given(sell('a1', 101n, 2n, { userId: 2 }), sell('a2', 102n, 3n, { userId: 3 }));
        const taker = buy('t', 102n, 5n, { userId: 9, timeInForce: 'FOK' });
        expect(book.execute(taker)).toEqual([trade(taker, 'a1', 2, 101n, 2n, 3n, 0n), trade(taker, 'a2', 3, 102n, 3n, 0n, 0n)]);
        expect(book.restingOrders()).toEqual([]);
      });

      it('FOK: rejects with no trades when liquidity within the limit is short', () => {
        given(sell('a1', 101n, 2n, { userId: 2 }), sell('a2', 103n, 10n, { userId: 3 }));
        const before = book.stateHash();
        expect(book.execute(buy('t', 102n, 5n, { userId: 9, timeInForce: 'FOK' }))).toEqual([
          { kind: 'rejected', orderId: 't', userId: 9, reason: 'fok_unfillable', rejectedLots: 5n },
        ]);
        expect(book.stateHash()).toBe(before);
      });

      it('FOK: own resting orders do not count (cancel_newest) and nothing is cancelled', () => {
        given(sell('own', 101n, 5n, { userId: 9 }), sell('a2', 101n, 3n, { userId: 3 }));
        const before = book.stateHash();
        expect(book.execute(buy('t', 101n, 3n, { userId: 9, timeInForce: 'FOK' }))).toEqual([
          { kind: 'rejected', orderId: 't', userId: 9, reason: 'fok_unfillable', rejectedLots: 3n },
        ]);
        expect(book.stateHash()).toBe(before);
      });

      it('FOK with cancel_oldest: own orders are skipped in the check, then cancelled while filling', () => {
        given(sell('own', 101n, 5n, { userId: 9 }), sell('a2', 101n, 3n, { userId: 3 }));
        const taker = buy('t', 101n, 3n, { userId: 9, timeInForce: 'FOK', selfTradePrevention: 'cancel_oldest' });
        expect(book.execute(taker)).toEqual([
          { kind: 'cancelled', orderId: 'own', userId: 9, reason: 'self_trade', cancelledLots: 5n },
          trade(taker, 'a2', 3, 101n, 3n, 0n, 0n),
        ]);
      });

      it('FOK: an order filled before reaching an own order is fillable', () => {
        given(sell('a1', 101n, 3n, { userId: 3 }), sell('own', 101n, 5n, { userId: 9 }));
        const taker = buy('t', 101n, 3n, { userId: 9, timeInForce: 'FOK' });
        expect(book.execute(taker)).toEqual([trade(taker, 'a1', 3, 101n, 3n, 0n, 0n)]);
      });
    });

    describe('post-only', () => {
      it('rests when it would not take', () => {
        given(sell('a1', 101n, 2n, { userId: 2 }));
        expect(book.execute(buy('p', 100n, 1n, { postOnly: true }))).toEqual([
          { kind: 'rested', orderId: 'p', userId: 1, side: 'buy', priceTicks: 100n, remainingLots: 1n },
        ]);
        expect(book.restingOrder('p')?.postOnly).toBe(true);
      });

      it('is rejected when it would take, even at exactly the best price', () => {
        given(sell('a1', 101n, 2n, { userId: 2 }));
        const before = book.stateHash();
        expect(book.execute(buy('p', 101n, 1n, { postOnly: true }))).toEqual([
          { kind: 'rejected', orderId: 'p', userId: 1, reason: 'post_only_would_take', rejectedLots: 1n },
        ]);
        expect(book.stateHash()).toBe(before);
      });
    });

    describe('market orders', () => {
      it('fill across levels up to the protection price; the remainder is cancelled market_remainder', () => {
        given(sell('a1', 101n, 2n, { userId: 2 }), sell('a2', 102n, 2n, { userId: 3 }), sell('a3', 110n, 9n, { userId: 4 }));
        const taker = buy('m', 105n, 6n, { userId: 9, type: 'market', timeInForce: 'IOC' });
        expect(book.execute(taker)).toEqual([
          trade(taker, 'a1', 2, 101n, 2n, 4n, 0n),
          trade(taker, 'a2', 3, 102n, 2n, 2n, 0n),
          { kind: 'cancelled', orderId: 'm', userId: 9, reason: 'market_remainder', cancelledLots: 2n },
        ]);
        expect(book.bestAsk()).toBe(110n);
      });

      it('a fully filled market order emits only trades and never rests (even GTC)', () => {
        given(buy('b1', 100n, 5n, { userId: 2 }));
        const taker = sell('m', 1n, 3n, { userId: 9, type: 'market', timeInForce: 'GTC' });
        expect(book.execute(taker)).toEqual([trade(taker, 'b1', 2, 100n, 3n, 0n, 2n)]);
      });

      it('with an empty opposite side is rejected no_liquidity', () => {
        given(buy('b1', 100n, 5n, { userId: 2 }));
        expect(book.execute(buy('m', 1_000n, 3n, { userId: 9, type: 'market', timeInForce: 'IOC' }))).toEqual([
          { kind: 'rejected', orderId: 'm', userId: 9, reason: 'no_liquidity', rejectedLots: 3n },
        ]);
      });

      it('with liquidity only beyond the protection price is rejected no_liquidity', () => {
        given(sell('a1', 120n, 5n, { userId: 2 }));
        expect(book.execute(buy('m', 110n, 3n, { userId: 9, type: 'market', timeInForce: 'IOC' }))).toEqual([
          { kind: 'rejected', orderId: 'm', userId: 9, reason: 'no_liquidity', rejectedLots: 3n },
        ]);
      });

      it('a FOK market order that cannot fill within its protection price is rejected fok_unfillable', () => {
        given(sell('a1', 101n, 1n, { userId: 2 }));
        expect(book.execute(buy('m', 110n, 3n, { userId: 9, type: 'market', timeInForce: 'FOK' }))).toEqual([
          { kind: 'rejected', orderId: 'm', userId: 9, reason: 'fok_unfillable', rejectedLots: 3n },
        ]);
      });
    });

    describe('self-trade prevention (decided by the taker)', () => {
      const stpGiven = () => given(sell('own', 101n, 4n, { userId: 9 }), sell('other', 101n, 5n, { userId: 2 }));
      const taker = (stp: SelfTradePrevention, lots = 6n) => buy('t', 101n, lots, { userId: 9, selfTradePrevention: stp });

      it('does not apply between different users', () => {
        given(sell('a', 101n, 1n, { userId: 2 }));
        const t = buy('t', 101n, 1n, { userId: 3 });
        expect(book.execute(t)).toEqual([trade(t, 'a', 2, 101n, 1n, 0n, 0n)]);
      });

      it('cancel_newest (default): the taker remainder is cancelled, the maker stays', () => {
        stpGiven();
        expect(book.execute(taker('cancel_newest'))).toEqual([
          { kind: 'cancelled', orderId: 't', userId: 9, reason: 'self_trade', cancelledLots: 6n },
        ]);
        expect(book.restingOrder('own')?.remainingLots).toBe(4n);
      });

      it('cancel_newest after earlier fills cancels only what is left', () => {
        given(sell('other', 101n, 2n, { userId: 2 }), sell('own', 101n, 4n, { userId: 9 }));
        const t = taker('cancel_newest');
        expect(book.execute(t)).toEqual([
          trade(t, 'other', 2, 101n, 2n, 4n, 0n),
          { kind: 'cancelled', orderId: 't', userId: 9, reason: 'self_trade', cancelledLots: 4n },
        ]);
      });

      it('cancel_oldest: the resting order is cancelled and matching continues', () => {
        stpGiven();
        const t = taker('cancel_oldest');
        expect(book.execute(t)).toEqual([
          { kind: 'cancelled', orderId: 'own', userId: 9, reason: 'self_trade', cancelledLots: 4n },
          trade(t, 'other', 2, 101n, 5n, 1n, 0n),
          { kind: 'rested', orderId: 't', userId: 9, side: 'buy', priceTicks: 101n, remainingLots: 1n },
        ]);
      });

      it('cancel_both: the maker, then the taker remainder, are cancelled', () => {
        stpGiven();
        expect(book.execute(taker('cancel_both'))).toEqual([
          { kind: 'cancelled', orderId: 'own', userId: 9, reason: 'self_trade', cancelledLots: 4n },
          { kind: 'cancelled', orderId: 't', userId: 9, reason: 'self_trade', cancelledLots: 6n },
        ]);
        expect(book.restingOrder('other')?.remainingLots).toBe(5n);
      });

      it('decrement, taker larger: maker cancelled for the overlap, taker amended down, matching continues', () => {
        stpGiven();
        const t = taker('decrement');
        expect(book.execute(t)).toEqual([
          { kind: 'cancelled', orderId: 'own', userId: 9, reason: 'self_trade', cancelledLots: 4n },
          { kind: 'amended', orderId: 't', userId: 9, priceTicks: 101n, lots: 2n, remainingLots: 2n, priorityLost: false },
          { ...trade(t, 'other', 2, 101n, 2n, 0n, 3n) },
        ]);
      });

      it('decrement, maker larger: maker amended down keeping its place, taker cancelled', () => {
        stpGiven();
        expect(book.execute(taker('decrement', 3n))).toEqual([
          { kind: 'amended', orderId: 'own', userId: 9, priceTicks: 101n, lots: 1n, remainingLots: 1n, priorityLost: false },
          { kind: 'cancelled', orderId: 't', userId: 9, reason: 'self_trade', cancelledLots: 3n },
        ]);
        expect(book.restingOrders().map((o) => o.orderId)).toEqual(['own', 'other']);
      });

      it('decrement, equal: both cancelled for the overlap, no trade', () => {
        stpGiven();
        expect(book.execute(taker('decrement', 4n))).toEqual([
          { kind: 'cancelled', orderId: 'own', userId: 9, reason: 'self_trade', cancelledLots: 4n },
          { kind: 'cancelled', orderId: 't', userId: 9, reason: 'self_trade', cancelledLots: 4n },
        ]);
      });

      it('applies to market orders too', () => {
        stpGiven();
        expect(book.execute(buy('m', 200n, 2n, { userId: 9, type: 'market', timeInForce: 'IOC' }))).toEqual([
          { kind: 'cancelled', orderId: 'm', userId: 9, reason: 'self_trade', cancelledLots: 2n },
        ]);
      });
    });

    describe('cancel', () => {
      it('removes a resting order and reports its open quantity', () => {
        given(sell('a1', 101n, 5n, { userId: 2 }), buy('t', 101n, 2n, { userId: 3 }));
        expect(book.execute(cancel('a1'))).toEqual([{ kind: 'cancelled', orderId: 'a1', userId: 2, reason: 'user', cancelledLots: 3n }]);
        expect(book.restingOrders()).toEqual([]);
        expect(book.bestAsk()).toBeNull();
      });

      it('rejects an unknown (or already closed) order with unknown_order', () => {
        given(sell('a1', 101n, 5n), cancel('a1'));
        expect(book.execute(cancel('a1'))).toEqual([{ kind: 'rejected', orderId: 'a1', userId: 0, reason: 'unknown_order', rejectedLots: 0n }]);
        expect(book.execute(cancel('nope'))).toEqual([{ kind: 'rejected', orderId: 'nope', userId: 0, reason: 'unknown_order', rejectedLots: 0n }]);
      });
    });

    describe('amend (lots is the new total quantity)', () => {
      const queue = () => book.restingOrders().map((o) => o.orderId);

      it('a decrease keeps time priority', () => {
        given(sell('a1', 101n, 5n, { userId: 2 }), sell('a2', 101n, 5n, { userId: 3 }));
        expect(book.execute(amend('a1', 101n, 3n))).toEqual([
          { kind: 'amended', orderId: 'a1', userId: 2, priceTicks: 101n, lots: 3n, remainingLots: 3n, priorityLost: false },
        ]);
        expect(queue()).toEqual(['a1', 'a2']);
        expect(book.depth(1).asks).toEqual([{ priceTicks: 101n, lots: 8n, orders: 2 }]);
      });

      it('an increase loses time priority', () => {
        given(sell('a1', 101n, 5n, { userId: 2 }), sell('a2', 101n, 5n, { userId: 3 }));
        expect(book.execute(amend('a1', 101n, 6n))).toEqual([
          { kind: 'amended', orderId: 'a1', userId: 2, priceTicks: 101n, lots: 6n, remainingLots: 6n, priorityLost: true },
        ]);
        expect(queue()).toEqual(['a2', 'a1']);
        const t = buy('t', 101n, 5n, { userId: 9 });
        expect(book.execute(t)).toEqual([trade(t, 'a2', 3, 101n, 5n, 0n, 0n)]);
      });

      it('a price change loses time priority, even back to the old price', () => {
        given(sell('a1', 101n, 5n, { userId: 2 }), sell('a2', 101n, 5n, { userId: 3 }));
        book.execute(amend('a1', 102n, 5n));
        expect(book.execute(amend('a1', 101n, 4n))).toEqual([
          { kind: 'amended', orderId: 'a1', userId: 2, priceTicks: 101n, lots: 4n, remainingLots: 4n, priorityLost: true },
        ]);
        expect(queue()).toEqual(['a2', 'a1']);
      });

      it('an unchanged amend is acknowledged and keeps priority', () => {
        given(sell('a1', 101n, 5n, { userId: 2 }), sell('a2', 101n, 5n, { userId: 3 }));
        expect(book.execute(amend('a1', 101n, 5n))).toEqual([
          { kind: 'amended', orderId: 'a1', userId: 2, priceTicks: 101n, lots: 5n, remainingLots: 5n, priorityLost: false },
        ]);
        expect(queue()).toEqual(['a1', 'a2']);
      });

      it('counts the new total against what is already filled', () => {
        given(sell('a1', 101n, 10n, { userId: 2 }), buy('t', 101n, 4n, { userId: 3 }));
        expect(book.execute(amend('a1', 101n, 7n))).toEqual([
          { kind: 'amended', orderId: 'a1', userId: 2, priceTicks: 101n, lots: 7n, remainingLots: 3n, priorityLost: false },
        ]);
      });

      it('a new total at or below the filled quantity cancels the rest with reason user', () => {
        given(sell('a1', 101n, 10n, { userId: 2 }), buy('t', 101n, 4n, { userId: 3 }));
        expect(book.execute(amend('a1', 105n, 4n))).toEqual([{ kind: 'cancelled', orderId: 'a1', userId: 2, reason: 'user', cancelledLots: 6n }]);
        expect(book.restingOrder('a1')).toBeUndefined();
      });

      it('rejects an amend of an unknown order', () => {
        given();
        expect(book.execute(amend('x', 101n, 4n))).toEqual([{ kind: 'rejected', orderId: 'x', userId: 0, reason: 'unknown_order', rejectedLots: 0n }]);
      });

      it('an amend to a crossing price trades as a taker, then the remainder rests at the new price', () => {
        given(sell('a1', 101n, 2n, { userId: 2 }), buy('b1', 99n, 5n, { userId: 3 }));
        expect(book.execute(amend('b1', 101n, 5n))).toEqual([
          { kind: 'amended', orderId: 'b1', userId: 3, priceTicks: 101n, lots: 5n, remainingLots: 5n, priorityLost: true },
          { kind: 'trade', takerOrderId: 'b1', takerUserId: 3, makerOrderId: 'a1', makerUserId: 2, takerSide: 'buy', priceTicks: 101n, lots: 2n, takerRemainingLots: 3n, makerRemainingLots: 0n },
        ]);
        expect(book.restingOrder('b1')).toMatchObject({ priceTicks: 101n, lots: 5n, remainingLots: 3n });
        expect(book.bestAsk()).toBeNull();
      });

      it('an amend to a crossing price applies the order\'s own STP', () => {
        given(sell('a1', 101n, 2n, { userId: 3 }), buy('b1', 99n, 5n, { userId: 3 }));
        expect(book.execute(amend('b1', 101n, 5n))).toEqual([
          { kind: 'amended', orderId: 'b1', userId: 3, priceTicks: 101n, lots: 5n, remainingLots: 5n, priorityLost: true },
          { kind: 'cancelled', orderId: 'b1', userId: 3, reason: 'self_trade', cancelledLots: 5n },
        ]);
        expect(book.restingOrder('b1')).toBeUndefined();
      });

      it('a post-only order amended to a crossing price is rejected and left unchanged', () => {
        given(sell('a1', 101n, 2n, { userId: 2 }), buy('p', 99n, 5n, { userId: 3, postOnly: true }));
        const before = book.stateHash();
        expect(book.execute(amend('p', 101n, 5n))).toEqual([
          { kind: 'rejected', orderId: 'p', userId: 3, reason: 'post_only_would_take', rejectedLots: 0n },
        ]);
        expect(book.stateHash()).toBe(before);
      });
    });

    describe('depth', () => {
      it('aggregates each price level, best first, limited to n levels', () => {
        given(
          buy('b1', 99n, 1n), buy('b2', 99n, 2n), buy('b3', 98n, 4n), buy('b4', 97n, 8n),
          sell('a1', 101n, 3n), sell('a2', 103n, 1n),
        );
        expect(book.depth(2)).toEqual({
          bids: [{ priceTicks: 99n, lots: 3n, orders: 2 }, { priceTicks: 98n, lots: 4n, orders: 1 }],
          asks: [{ priceTicks: 101n, lots: 3n, orders: 1 }, { priceTicks: 103n, lots: 1n, orders: 1 }],
        });
        expect(book.depth(0)).toEqual({ bids: [], asks: [] });
      });
    });

    describe('snapshot, hash and restore', () => {
      const setup = () =>
        given(
          buy('b1', 99n, 5n, { userId: 2 }), buy('b2', 99n, 2n, { userId: 3, selfTradePrevention: 'decrement' }),
          sell('a1', 101n, 3n, { userId: 4, postOnly: true }), buy('t', 101n, 1n, { userId: 5 }), sell('a2', 102n, 7n),
        );

      it('lists resting orders in priority order with their total and open quantity', () => {
        setup();
        expect(book.snapshot()).toEqual({
          version: 1,
          bids: [
            { orderId: 'b1', userId: 2, side: 'buy', priceTicks: 99n, lots: 5n, remainingLots: 5n, selfTradePrevention: 'cancel_newest', postOnly: false },
            { orderId: 'b2', userId: 3, side: 'buy', priceTicks: 99n, lots: 2n, remainingLots: 2n, selfTradePrevention: 'decrement', postOnly: false },
          ],
          asks: [
            { orderId: 'a1', userId: 4, side: 'sell', priceTicks: 101n, lots: 3n, remainingLots: 2n, selfTradePrevention: 'cancel_newest', postOnly: true },
            { orderId: 'a2', userId: 1, side: 'sell', priceTicks: 102n, lots: 7n, remainingLots: 7n, selfTradePrevention: 'cancel_newest', postOnly: false },
          ],
        });
      });

      it('equal states hash equal, different states differ', () => {
        setup();
        const h = book.stateHash();
        expect(h).toMatch(/^[0-9a-f]{64}$/);
        const other = make();
        for (const c of [buy('b1', 99n, 5n, { userId: 2 })]) other.execute(c);
        expect(other.stateHash()).not.toBe(h);
        expect(make().stateHash()).toBe(make().stateHash());
      });

      it.each(['reference', 'fast'] as const)('restoring into the %s book gives the same hash and the same future', (target) => {
        setup();
        const restored = restoreBook(book.snapshot(), target);
        restored.validateInternalState();
        expect(restored.stateHash()).toBe(book.stateHash());
        const next = [sell('s', 99n, 6n, { userId: 8 }), amend('b2', 99n, 1n), buy('x', 102n, 9n, { userId: 8, timeInForce: 'IOC' })];
        for (const c of next) expect(restored.execute(c)).toEqual(book.execute(c));
        expect(restored.stateHash()).toBe(book.stateHash());
      });

      it('refuses a corrupt (crossed) snapshot', () => {
        setup();
        const snap = book.snapshot();
        snap.bids[0] = { ...snap.bids[0]!, priceTicks: 150n };
        expect(() => restoreBook(snap, kind)).toThrow(BookInvariantError);
      });
    });
  });
}
