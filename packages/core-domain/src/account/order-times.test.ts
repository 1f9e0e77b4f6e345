import { describe, expect, it } from 'vitest';
import { prng } from '../prng.ts';
import { countOrdersInWindow, MAX_ORDER_TIMES, MAX_RATE_WINDOW_MS, NO_ORDER_TIMES, orderTimesList, recordOrderTime, type OrderTimes } from './order-times.ts';

/** The first version, kept as the reference: the whole history copied, sorted, filtered, capped. */
function referenceRecord(times: readonly number[], at: number): number[] {
  const next = [...times, at].sort((a, b) => a - b);
  const newest = next[next.length - 1] ?? at;
  const kept = next.filter((t) => t > newest - MAX_RATE_WINDOW_MS);
  return kept.length > MAX_ORDER_TIMES ? kept.slice(kept.length - MAX_ORDER_TIMES) : kept;
}
function referenceCount(times: readonly number[], atMs: number, windowMs: number): number {
  let n = 0;
  for (let i = times.length - 1; i >= 0; i--) {
    const t = times[i]!;
    if (t <= atMs - windowMs) break;
    if (t <= atMs) n++;
  }
  return n;
}


const T0 = Date.UTC(2026, 10, 27, 12);

describe('order times', () => {
  it('counts the orders inside a rolling window, ends inclusive of the order time only', () => {
    let times: OrderTimes = NO_ORDER_TIMES;
    for (const dt of [0, 100, 999, 1_000, 1_500]) times = recordOrderTime(times, T0 + dt);
    expect(countOrdersInWindow(times, T0 + 1_000, 1_000)).toBe(3); // (T0, T0+1000]: 100, 999, 1000
    expect(countOrdersInWindow(times, T0 + 999, 1_000)).toBe(3); // (T0-1, T0+999]: 0, 100, 999
    expect(countOrdersInWindow(times, T0 + 5_000, 1_000)).toBe(0);
    expect(orderTimesList(times)).toEqual([0, 100, 999, 1_000, 1_500].map((dt) => T0 + dt));
  });

  it('forgets times older than the longest window and beyond the cap', () => {
    let times: OrderTimes = NO_ORDER_TIMES;
    times = recordOrderTime(times, T0);
    times = recordOrderTime(times, T0 + MAX_RATE_WINDOW_MS); // T0 is now exactly one window old
    expect(orderTimesList(times)).toEqual([T0 + MAX_RATE_WINDOW_MS]);
    expect(countOrdersInWindow(times, T0 + MAX_RATE_WINDOW_MS, 2 * MAX_RATE_WINDOW_MS)).toBe(1);

    let many: OrderTimes = NO_ORDER_TIMES;
    for (let i = 0; i < MAX_ORDER_TIMES + 200; i++) {
      many = recordOrderTime(many, T0 + i);
      if (i >= MAX_ORDER_TIMES - 1) expect(countOrdersInWindow(many, T0 + i, MAX_RATE_WINDOW_MS), `after ${i + 1} orders`).toBe(MAX_ORDER_TIMES);
    }
    // What it holds stays bounded: the counted times plus less than one chunk.
    expect(many.size).toBeLessThan(MAX_ORDER_TIMES + 64);
  });

  it('leaves the state it was given unchanged', () => {
    let times: OrderTimes = NO_ORDER_TIMES;
    for (let i = 0; i < 200; i++) times = recordOrderTime(times, T0 + i * 10);
    const before = orderTimesList(times);
    recordOrderTime(times, T0 + 5_000);
    recordOrderTime(times, T0 + 5); // out of order
    expect(orderTimesList(times)).toEqual(before);
  });

  it('counts what the copy-and-sort version counted, on random histories (seeds 1-40)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const random = prng(seed);
      let reference: number[] = [];
      let times: OrderTimes = NO_ORDER_TIMES;
      let clock = T0;
      const long = seed === 20; // one history that reaches the cap: no pauses in it
      const steps = long ? 10_200 : 1_500;
      for (let step = 0; step < steps; step++) {
        const r = random();
        // Mostly bursts a few ms apart, sometimes a pause past the window, sometimes out of order.
        if (r < 0.9) clock += Math.floor(random() * 5);
        else if (r < 0.93 && !long) clock += Math.floor(random() * 2 * MAX_RATE_WINDOW_MS);
        const at = r > 0.97 ? clock - Math.floor(random() * 3_000) : clock;
        reference = referenceRecord(reference, at);
        times = recordOrderTime(times, at);
        if (step % 7 === 0 || step === steps - 1 || (long && step >= MAX_ORDER_TIMES - 1)) {
          const query = clock - Math.floor(random() * 2_000);
          for (const windowMs of [1, 1_000, 60_000, MAX_RATE_WINDOW_MS]) {
            expect(countOrdersInWindow(times, query, windowMs), `seed ${seed} step ${step} window ${windowMs}`).toBe(referenceCount(reference, query, windowMs));
          }
        }
      }
      expect(orderTimesList(times), `seed ${seed}`).toEqual(reference);
    }
  });
});
