import { describe, expect, it } from 'vitest';
import { BUCKETS, Histogram, bucketOf, bucketRange, summary } from './histogram.ts';
import { createRng } from './prng.ts';

function exactPercentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('histogram', () => {
  it('buckets are contiguous: every value lands in the bucket whose range holds it', () => {
    let prevHi = -1;
    for (let i = 0; i < BUCKETS; i++) {
      const [lo, hi] = bucketRange(i);
      expect(lo).toBe(prevHi + 1);
      expect(bucketOf(lo)).toBe(i);
      expect(bucketOf(hi)).toBe(i);
      // relative width stays under 1/128 above the exact range
      if (lo >= 256) expect((hi - lo + 1) / lo).toBeLessThanOrEqual(1 / 128 + 1e-12);
      prevHi = hi;
    }
    expect(prevHi).toBe(2 ** 32 - 1);
  });

  it('percentiles are within 1 % of the exact ones on skewed samples', () => {
    const r = createRng('h');
    const h = new Histogram();
    const xs: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      // log-normal-ish latencies from 50 µs to seconds
      const v = Math.round(Math.exp(7 + 1.5 * r.normal()));
      xs.push(v);
      h.record(v);
    }
    xs.sort((a, b) => a - b);
    for (const p of [1, 10, 50, 90, 99, 99.9, 100]) {
      const exact = exactPercentile(xs, p);
      expect(Math.abs(h.percentile(p) - exact)).toBeLessThanOrEqual(Math.max(1, exact / 128));
    }
    expect(h.percentile(0)).toBe(xs[0]);
    expect(h.count).toBe(20_000);
    expect(h.max).toBe(xs[xs.length - 1]);
  });

  it('is exact below 256 µs', () => {
    const h = new Histogram();
    for (let v = 1; v <= 100; v++) h.record(v);
    expect(h.percentile(50)).toBe(50);
    expect(h.percentile(99)).toBe(99);
    expect(h.percentile(100)).toBe(100);
    expect(h.mean()).toBe(50.5);
  });

  it('merges and round-trips through JSON', () => {
    const a = new Histogram();
    const b = new Histogram();
    for (let i = 0; i < 1000; i++) a.recordMs(i / 10);
    for (let i = 0; i < 1000; i++) b.recordMs(100 + i);
    const both = Histogram.merged([a, b]);
    expect(both.count).toBe(2000);
    const back = Histogram.fromJSON(JSON.parse(JSON.stringify(both.toJSON())) as ReturnType<Histogram["toJSON"]>);
    for (const p of [50, 90, 99, 99.9]) expect(back.percentile(p)).toBe(both.percentile(p));
    expect(back.min).toBe(both.min);
    expect(back.max).toBe(both.max);
  });

  it('empty histograms answer NaN / null', () => {
    const h = new Histogram();
    expect(Number.isNaN(h.percentile(50))).toBe(true);
    expect(summary(h)).toMatchObject({ count: 0, p50: null, p99: null, max: null });
    expect(Histogram.fromJSON(h.toJSON()).count).toBe(0);
  });

  it('summary reports milliseconds', () => {
    const h = new Histogram();
    for (let i = 1; i <= 1000; i++) h.recordMs(i);
    const s = summary(h);
    expect(s.p50).toBeCloseTo(500, -1);
    expect(s.p99).toBeCloseTo(990, -1);
    expect(s.max).toBe(1000);
  });
});
