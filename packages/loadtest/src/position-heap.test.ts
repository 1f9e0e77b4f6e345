import { describe, expect, it } from 'vitest';
import { PositionHeap } from './generator.ts';
import { createRng } from './prng.ts';

describe('PositionHeap (202s waiting for the projection, smallest position first)', () => {
  it('pops in position order whatever the push order, and resolves exactly the positions at or below a checkpoint', () => {
    const rng = createRng('heap');
    const heap = new PositionHeap();
    const positions = Array.from({ length: 500 }, () => BigInt(rng.int(1, 10_000)));
    positions.forEach((position, i) => heap.push({ position, at: i, step: 0 }));
    expect(heap.size).toBe(500);
    // A checkpoint at 5,000 resolves every waiter at or below it, none above.
    const resolved: bigint[] = [];
    for (let w = heap.peek(); w && w.position <= 5_000n; w = heap.peek()) resolved.push(heap.pop()!.position);
    const expected = positions.filter((p) => p <= 5_000n).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(resolved).toEqual(expected);
    expect(heap.size).toBe(500 - expected.length);
    const rest: bigint[] = [];
    while (heap.size > 0) rest.push(heap.pop()!.position);
    expect(rest).toEqual(positions.filter((p) => p > 5_000n).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(heap.pop()).toBeUndefined();
  });
});
