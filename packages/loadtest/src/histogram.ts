/**
 * An HDR-style log-linear histogram of integer microseconds: values below 256 µs are exact; above,
 * each power of two is split into 128 buckets, so a reported value is within 1/128 (< 0.8 %) of
 * the recorded one. Fixed memory (3,328 counters), mergeable, serialisable as sparse counts.
 */

const EXACT = 256;
const SUB_BITS = 7;
const SUB = 1 << SUB_BITS; // 128 buckets per power of two above EXACT
const MAX_SHIFT = 24; // values up to 2^32 - 1 µs (71 minutes)
export const BUCKETS = EXACT + MAX_SHIFT * SUB;
export const MAX_VALUE = 2 ** 32 - 1;

export function bucketOf(value: number): number {
  const v = Math.min(MAX_VALUE, Math.max(0, Math.round(value)));
  if (v < EXACT) return v;
  const bits = 32 - Math.clz32(v); // 9..32
  const shift = bits - (SUB_BITS + 1); // 1..24
  const top = v >>> shift; // [128, 256)
  return EXACT + (shift - 1) * SUB + (top - SUB);
}

/** The smallest and largest value that land in a bucket. */
export function bucketRange(index: number): [number, number] {
  if (index < EXACT) return [index, index];
  const shift = Math.floor((index - EXACT) / SUB) + 1;
  const top = ((index - EXACT) % SUB) + SUB;
  const lo = top * 2 ** shift;
  return [lo, lo + 2 ** shift - 1];
}

export interface HistogramJson {
  /** [bucket index, count] pairs, bucket indices ascending. */
  c: [number, number][];
  min: number;
  max: number;
  sum: number;
}

export class Histogram {
  private counts = new Float64Array(BUCKETS);
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;
  sum = 0;

  /** Records a value in microseconds (rounded, clamped to [0, MAX_VALUE]). */
  record(micros: number, times = 1): void {
    if (!Number.isFinite(micros) || times <= 0) return;
    const v = Math.min(MAX_VALUE, Math.max(0, Math.round(micros)));
    this.counts[bucketOf(v)]! += times;
    this.count += times;
    this.sum += v * times;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  recordMs(ms: number): void {
    this.record(ms * 1000);
  }

  /**
   * The value at percentile p (0–100): the smallest recorded-equivalent value such that at least
   * p % of the samples are at or below it (the bucket's upper end, capped at the largest sample).
   * NaN when empty.
   */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    if (p <= 0) return this.min;
    const rank = Math.max(1, Math.ceil((Math.min(100, p) / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.max(this.min, Math.min(this.max, bucketRange(i)[1]));
    }
    return this.max;
  }

  percentileMs(p: number): number {
    return this.percentile(p) / 1000;
  }

  mean(): number {
    return this.count === 0 ? Number.NaN : this.sum / this.count;
  }

  merge(other: Histogram): this {
    if (other.count === 0) return this;
    for (let i = 0; i < BUCKETS; i++) {
      const n = other.counts[i]!;
      if (n !== 0) this.counts[i]! += n;
    }
    this.count += other.count;
    this.sum += other.sum;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
    return this;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.max = 0;
    this.sum = 0;
  }

  toJSON(): HistogramJson {
    const c: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) {
      const n = this.counts[i]!;
      if (n !== 0) c.push([i, n]);
    }
    return { c, min: this.count === 0 ? 0 : this.min, max: this.max, sum: this.sum };
  }

  static fromJSON(json: HistogramJson): Histogram {
    const h = new Histogram();
    for (const [i, n] of json.c) {
      if (i < 0 || i >= BUCKETS) throw new RangeError(`bucket ${i}`);
      h.counts[i]! += n;
      h.count += n;
    }
    if (h.count > 0) {
      h.min = json.min;
      h.max = json.max;
      h.sum = json.sum;
    }
    return h;
  }

  static merged(items: readonly Histogram[]): Histogram {
    const h = new Histogram();
    for (const x of items) h.merge(x);
    return h;
  }
}

/** p50/p99/p99.9/max in milliseconds (rounded to 0.01 ms), NaN-free for JSON (null when empty). */
export function summary(h: Histogram): { count: number; p50: number | null; p90: number | null; p99: number | null; p999: number | null; max: number | null; mean: number | null } {
  const ms = (v: number): number | null => (Number.isFinite(v) ? Math.round(v / 10) / 100 : null);
  return {
    count: h.count,
    p50: ms(h.percentile(50)),
    p90: ms(h.percentile(90)),
    p99: ms(h.percentile(99)),
    p999: ms(h.percentile(99.9)),
    max: ms(h.count ? h.max : Number.NaN),
    mean: ms(h.mean()),
  };
}
