/** White-box checks of the fast book's level heap: lazy deletion, compaction, ordered walks. */
import { describe, expect, it } from 'vitest';
import { FastBook } from './fast-book.ts';
import { ReferenceBook } from './reference-book.ts';
import type { BookCommand, OrderBook } from './types.ts';

const heapSize = (book: FastBook, side: 'bids' | 'asks') => (book as unknown as Record<string, { heap: unknown[] }>)[side]!.heap.length;

function both(commands: BookCommand[]): { fast: FastBook; ref: ReferenceBook } {
  const fast = new FastBook();
  const ref = new ReferenceBook();
  for (const c of commands) {
    expect(fast.execute(c)).toEqual(ref.execute(c));
    fast.validateInternalState();
  }
  return { fast, ref };
}

const bid = (i: number, price: number, lots = 1): BookCommand => ({
  kind: 'place', orderId: `b${i}`, userId: i, side: 'buy', type: 'limit', timeInForce: 'GTC',
  priceTicks: BigInt(price), lots: BigInt(lots), postOnly: false, selfTradePrevention: 'cancel_newest',
});

describe('FastBook level heap', () => {
  it('drops emptied levels lazily and compacts when dead entries pile up', () => {
    const places = Array.from({ length: 300 }, (_, i) => bid(i, 1_000 + ((i * 7919) % 300)));
    const { fast, ref } = both(places);
    expect(heapSize(fast, 'bids')).toBe(300);
    // Cancel every level except the best: emptied levels away from the root stay in the heap
    // until compaction; the heap never holds more than 2·live + 64 entries.
    const cancels: BookCommand[] = places.filter((p) => p.kind === 'place' && p.priceTicks !== 1_299n).map((p) => ({ kind: 'cancel', orderId: p.orderId }));
    for (const c of cancels) {
      expect(fast.execute(c)).toEqual(ref.execute(c));
      fast.validateInternalState();
      const live = fast.depth(1_000).bids.length;
      expect(heapSize(fast, 'bids')).toBeLessThanOrEqual(2 * live + 65);
    }
    expect(fast.depth(5).bids).toEqual([{ priceTicks: 1_299n, lots: 1n, orders: 1 }]);
    expect(fast.stateHash()).toBe(ref.stateHash());
  });

  it('walks levels best-first past dead heap entries (FOK, depth, snapshot)', () => {
    const commands: BookCommand[] = [];
    for (let i = 0; i < 60; i++) commands.push(bid(i, 500 + ((i * 37) % 60), 2));
    for (let i = 0; i < 60; i += 3) commands.push({ kind: 'cancel', orderId: `b${i}` });
    const { fast, ref } = both(commands);
    const books: OrderBook[] = [fast, ref];
    const [fd, rd] = books.map((b) => b.depth(100));
    expect(fd).toEqual(rd);
    const fok: BookCommand = {
      kind: 'place', orderId: 'fok', userId: 999, side: 'sell', type: 'limit', timeInForce: 'FOK',
      priceTicks: 530n, lots: 41n, postOnly: false, selfTradePrevention: 'cancel_newest',
    };
    expect(fast.execute(fok)).toEqual(ref.execute(fok));
    expect(fast.snapshot()).toEqual(ref.snapshot());
    fast.validateInternalState();
  });
});
