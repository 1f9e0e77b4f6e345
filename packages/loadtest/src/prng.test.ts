import { describe, expect, it } from 'vitest';
import { createRng, seedFrom } from './prng.ts';

describe('seeded PRNG', () => {
  it('gives the same sequence for the same seed and another for another seed', () => {
    const a = createRng('seed-1');
    const b = createRng('seed-1');
    const c = createRng('seed-2');
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(Array.from({ length: 1000 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 1000 }, () => c.next())).not.toEqual(xs);
    expect(seedFrom('x')).toEqual(seedFrom('x'));
  });

  it('stays in range and is roughly uniform', () => {
    const r = createRng(42);
    const counts = new Array<number>(10).fill(0);
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = r.next();
      if (!(x >= 0 && x < 1)) outside++;
      else counts[Math.floor(x * 10)]!++;
    }
    expect(outside).toBe(0);
    for (const n of counts) expect(Math.abs(n - 10_000)).toBeLessThan(600);
    const ks = new Set(Array.from({ length: 10_000 }, () => r.int(3, 7)));
    expect([...ks].sort()).toEqual([3, 4, 5, 6, 7]);
    expect(() => r.int(5, 4)).toThrow(RangeError);
    expect(() => r.pick([])).toThrow(RangeError);
  });

  it('weighted picks follow the weights', () => {
    const r = createRng('w');
    const n = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 60_000; i++) n[r.weighted({ a: 1, b: 2, c: 3 })]++;
    expect(n.a / 60_000).toBeCloseTo(1 / 6, 1);
    expect(n.b / 60_000).toBeCloseTo(2 / 6, 1);
    expect(n.c / 60_000).toBeCloseTo(3 / 6, 1);
    expect(() => r.weighted({ a: 0 })).toThrow(RangeError);
  });

  it('forks are stable and independent of how much the parent drew', () => {
    const p1 = createRng('root');
    const p2 = createRng('root');
    p2.next();
    p2.next();
    const f1 = p1.fork('trader-3');
    const f2 = p2.fork('trader-3');
    expect(Array.from({ length: 50 }, () => f1.next())).toEqual(Array.from({ length: 50 }, () => f2.next()));
    expect(createRng('root').fork('trader-4').next()).not.toEqual(createRng('root').fork('trader-3').next());
  });

  it('normal() has mean ~0 and sd ~1', () => {
    const r = createRng('n');
    let s = 0;
    let s2 = 0;
    const N = 50_000;
    for (let i = 0; i < N; i++) {
      const x = r.normal();
      s += x;
      s2 += x * x;
    }
    expect(Math.abs(s / N)).toBeLessThan(0.03);
    expect(Math.abs(Math.sqrt(s2 / N) - 1)).toBeLessThan(0.03);
  });
});
