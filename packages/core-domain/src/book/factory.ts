import { FastBook } from './fast-book.ts';
import { ReferenceBook } from './reference-book.ts';
import type { BookKind, BookSnapshot, OrderBook } from './types.ts';

/** An empty order book of the given implementation (`fast` for production, `reference` for proofs). */
export function createOrderBook(kind: BookKind): OrderBook {
  switch (kind) {
    case 'reference':
      return new ReferenceBook();
    case 'fast':
      return new FastBook();
  }
}

/**
 * Rebuilds a book from a snapshot (validated first; a corrupt snapshot throws `BookInvariantError`).
 * The restored book has the same `stateHash()` and behaves exactly like the book that was snapshotted.
 */
export function restoreBook(snapshot: BookSnapshot, kind: BookKind = 'fast'): OrderBook {
  switch (kind) {
    case 'reference':
      return ReferenceBook.restore(snapshot);
    case 'fast':
      return FastBook.restore(snapshot);
  }
}

export const restoreReferenceBook = (snapshot: BookSnapshot): ReferenceBook => ReferenceBook.restore(snapshot);
export const restoreFastBook = (snapshot: BookSnapshot): FastBook => FastBook.restore(snapshot);
