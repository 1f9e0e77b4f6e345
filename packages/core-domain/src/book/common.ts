/**
 * What both books share: command validation, the canonical snapshot form and its hash, and
 * snapshot checks for restore. The matching rules themselves live in each book, written twice on
 * purpose (see the rule list in `reference-book.ts`); the property tests prove they agree.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { MAX_STEPS } from '../numbers.ts';
import type { BookAmend, BookPlace, BookSnapshot, RestingOrderView } from './types.ts';
import { BookInvariantError, MalformedBookCommandError } from './types.ts';

/** Prices and quantities must be whole ticks/lots in 1..MAX_STEPS; anything else is a malformed command. */
function checkSteps(value: bigint, field: string, orderId: string): void {
  if (typeof value !== 'bigint' || value <= 0n || value > MAX_STEPS)
    throw new MalformedBookCommandError(`${field} of order ${orderId} must be a bigint in 1..${MAX_STEPS}`);
}

export function assertWellFormedPlace(cmd: BookPlace): void {
  checkSteps(cmd.priceTicks, 'priceTicks', cmd.orderId);
  checkSteps(cmd.lots, 'lots', cmd.orderId);
}

export function assertWellFormedAmend(cmd: BookAmend): void {
  checkSteps(cmd.priceTicks, 'priceTicks', cmd.orderId);
  checkSteps(cmd.lots, 'lots', cmd.orderId);
}

function canonicalOrder(o: RestingOrderView): string {
  // Fixed key order, bigints as decimal strings, strings JSON-escaped: one spelling per state.
  return (
    `{"orderId":${JSON.stringify(o.orderId)},"userId":${o.userId},"side":"${o.side}",` +
    `"priceTicks":"${o.priceTicks}","lots":"${o.lots}","remainingLots":"${o.remainingLots}",` +
    `"selfTradePrevention":"${o.selfTradePrevention}","postOnly":${o.postOnly}}`
  );
}

/** The canonical serialisation of a snapshot (JSON with a fixed key order, bigints as strings). */
export function canonicalSnapshot(snapshot: BookSnapshot): string {
  return (
    `{"version":${snapshot.version},"bids":[${snapshot.bids.map(canonicalOrder).join(',')}],` +
    `"asks":[${snapshot.asks.map(canonicalOrder).join(',')}]}`
  );
}

/** SHA-256 (hex) of the canonical snapshot. */
export function hashSnapshot(snapshot: BookSnapshot): string {
  return bytesToHex(sha256(utf8ToBytes(canonicalSnapshot(snapshot))));
}

/**
 * Checks a snapshot before a book is rebuilt from it: version, sides, quantities, unique ids,
 * priority order (best price first on each side) and not crossed. Throws `BookInvariantError`.
 */
export function assertRestorableSnapshot(snapshot: BookSnapshot): void {
  if (snapshot.version !== 1) throw new BookInvariantError(`unsupported snapshot version ${String(snapshot.version)}`);
  const seen = new Set<string>();
  const check = (orders: RestingOrderView[], side: 'buy' | 'sell') => {
    let prev: bigint | null = null;
    for (const o of orders) {
      if (o.side !== side) throw new BookInvariantError(`order ${o.orderId} is on the wrong side of the snapshot`);
      if (seen.has(o.orderId)) throw new BookInvariantError(`order ${o.orderId} appears twice in the snapshot`);
      seen.add(o.orderId);
      if (!Number.isSafeInteger(o.userId)) throw new BookInvariantError(`order ${o.orderId} has a bad userId`);
      if (o.priceTicks <= 0n || o.priceTicks > MAX_STEPS) throw new BookInvariantError(`order ${o.orderId} has a bad price`);
      if (o.lots <= 0n || o.lots > MAX_STEPS) throw new BookInvariantError(`order ${o.orderId} has a bad quantity`);
      if (o.remainingLots <= 0n || o.remainingLots > o.lots)
        throw new BookInvariantError(`order ${o.orderId} has a bad remaining quantity`);
      if (prev !== null && (side === 'buy' ? o.priceTicks > prev : o.priceTicks < prev))
        throw new BookInvariantError(`snapshot ${side} side is not in priority order at ${o.orderId}`);
      prev = o.priceTicks;
    }
  };
  check(snapshot.bids, 'buy');
  check(snapshot.asks, 'sell');
  const bestBid = snapshot.bids[0];
  const bestAsk = snapshot.asks[0];
  if (bestBid && bestAsk && bestBid.priceTicks >= bestAsk.priceTicks) throw new BookInvariantError('snapshot is crossed');
}
