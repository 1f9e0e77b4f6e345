/**
 * The times of an account's accepted orders, for the order-rate rule: what the account state keeps
 * of the last `MAX_RATE_WINDOW_MS` (at most `MAX_ORDER_TIMES` of them), ascending.
 *
 * Account states are immutable (the stream runner keeps the state before a decision in case its
 * append conflicts), so recording a time cannot push onto a shared array. Copying the whole history
 * and sorting it on every accepted order, as the first version did, costs O(n log n) per order with
 * n up to 10,000: an active trader's every order then copies and sorts an hour of its history. The
 * times are therefore kept in immutable chunks of at most `CHUNK` times: recording one copies the
 * chunk it falls in (the last one, but for an order recorded out of input-time order) and the list
 * of chunks (≤ 320 slots), and whole chunks fall off the front once every time in them is past the
 * window or beyond the cap.
 *
 * What is counted is exactly what the array version counted: of all times ever recorded, those
 * after (newest − MAX_RATE_WINDOW_MS), and of those the MAX_ORDER_TIMES latest
 * (`order-times.test.ts` checks this against that version on random histories).
 */

/** The order-rate window keeps at most this much history (and at most MAX_ORDER_TIMES entries). */
export const MAX_RATE_WINDOW_MS = 3_600_000;
export const MAX_ORDER_TIMES = 10_000;

const CHUNK = 64;

export interface OrderTimes {
  /** Ascending across and within chunks; every chunk non-empty. May hold times no longer counted. */
  readonly chunks: readonly (readonly number[])[];
  /** Times held in `chunks`. */
  readonly size: number;
  /** The newest time ever recorded (−Infinity before any): the window's end for expiry. */
  readonly newest: number;
}

export const NO_ORDER_TIMES: OrderTimes = Object.freeze({ chunks: Object.freeze([]), size: 0, newest: -Infinity });

/** `times` with `at` recorded (ms since epoch). */
export function recordOrderTime(times: OrderTimes, at: number): OrderTimes {
  const newest = at > times.newest ? at : times.newest;
  const last = times.chunks[times.chunks.length - 1];
  let chunks: (readonly number[])[];
  if (last === undefined) {
    chunks = [[at]];
  } else if (at >= last[last.length - 1]!) {
    chunks = times.chunks.slice();
    if (last.length < CHUNK) chunks[chunks.length - 1] = [...last, at];
    else chunks.push([at]);
  } else {
    // Out of order (two orders of one account appended in the other order than their input
    // times): insert into the chunk it falls in, usually the last, splitting it when full.
    let c = times.chunks.length - 1;
    while (c > 0 && times.chunks[c]![0]! > at) c--;
    const chunk = times.chunks[c]!;
    let i = chunk.length;
    while (i > 0 && chunk[i - 1]! > at) i--;
    const grown = [...chunk.slice(0, i), at, ...chunk.slice(i)];
    const replacement = grown.length > CHUNK ? [grown.slice(0, grown.length >> 1), grown.slice(grown.length >> 1)] : [grown];
    chunks = [...times.chunks.slice(0, c), ...replacement, ...times.chunks.slice(c + 1)];
  }
  let size = times.size + 1;
  // Drop whole chunks no time of which can be counted again.
  let drop = 0;
  while (drop < chunks.length - 1) {
    const first = chunks[drop]!;
    const expired = first[first.length - 1]! <= newest - MAX_RATE_WINDOW_MS;
    const beyondCap = size - first.length >= MAX_ORDER_TIMES;
    if (!expired && !beyondCap) break;
    size -= first.length;
    drop++;
  }
  return { chunks: drop > 0 ? chunks.slice(drop) : chunks, size, newest };
}

/**
 * Accepted orders with a time in (atMs − windowMs, atMs], among the counted ones (after
 * newest − MAX_RATE_WINDOW_MS, the latest MAX_ORDER_TIMES). Walks back from the newest time.
 */
export function countOrdersInWindow(times: OrderTimes, atMs: number, windowMs: number): number {
  const expiredAtOrBefore = times.newest - MAX_RATE_WINDOW_MS;
  let n = 0;
  let seen = 0;
  for (let c = times.chunks.length - 1; c >= 0; c--) {
    const chunk = times.chunks[c]!;
    for (let i = chunk.length - 1; i >= 0; i--) {
      if (seen++ >= MAX_ORDER_TIMES) return n;
      const t = chunk[i]!;
      if (t <= atMs - windowMs || t <= expiredAtOrBefore) return n;
      if (t <= atMs) n++;
    }
  }
  return n;
}

/** The counted times, ascending (tests and diagnostics). */
export function orderTimesList(times: OrderTimes): number[] {
  const counted = times.chunks.flat().filter((t) => t > times.newest - MAX_RATE_WINDOW_MS);
  return counted.length > MAX_ORDER_TIMES ? counted.slice(counted.length - MAX_ORDER_TIMES) : counted;
}
