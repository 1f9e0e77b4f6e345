/**
 * Exact decimal arithmetic for money, prices and quantities. A value is an integer `units`
 * scaled by 10^`scale` (value = units / 10^scale). Decimal strings in, decimal strings out:
 * nothing here ever goes through a JavaScript number.
 */
export interface Dec {
  readonly units: bigint;
  readonly scale: number;
}

const DECIMAL = /^([+-])?(\d+)(?:\.(\d*))?$|^([+-])?\.(\d+)$/;

export const ZERO: Dec = { units: 0n, scale: 0 };

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

/** Parses "101.25", "-0.5", ".5", "7." (leading/trailing spaces ignored); null for anything else (exponents, commas, NaN). */
export function parseDecimal(input: string | null | undefined): Dec | null {
  if (typeof input !== 'string') return null;
  const s = input.trim();
  if (s.length === 0 || s.length > 60) return null;
  const m = DECIMAL.exec(s);
  if (!m) return null;
  const sign = m[1] ?? m[4] ?? '';
  const int = m[2] ?? '0';
  const frac = m[3] ?? m[5] ?? '';
  const units = BigInt(int + frac);
  return { units: sign === '-' ? -units : units, scale: frac.length };
}

/** Like parseDecimal but throws: for values the server sent, which are decimal strings by contract. */
export function dec(input: string): Dec {
  const d = parseDecimal(input);
  if (!d) throw new Error(`not a decimal string: ${JSON.stringify(input)}`);
  return d;
}

function align(a: Dec, b: Dec): [bigint, bigint, number] {
  const scale = Math.max(a.scale, b.scale);
  return [a.units * pow10(scale - a.scale), b.units * pow10(scale - b.scale), scale];
}

/** Removes trailing fractional zeros: {12300, 3} → {123, 1}. */
export function normalize(d: Dec): Dec {
  let { units, scale } = d;
  while (scale > 0 && units % 10n === 0n) {
    units /= 10n;
    scale -= 1;
  }
  return { units, scale };
}

export function add(a: Dec, b: Dec): Dec {
  const [x, y, scale] = align(a, b);
  return normalize({ units: x + y, scale });
}

export function sub(a: Dec, b: Dec): Dec {
  const [x, y, scale] = align(a, b);
  return normalize({ units: x - y, scale });
}

export function mul(a: Dec, b: Dec): Dec {
  return normalize({ units: a.units * b.units, scale: a.scale + b.scale });
}

export function neg(a: Dec): Dec {
  return { units: -a.units, scale: a.scale };
}

export function abs(a: Dec): Dec {
  return a.units < 0n ? neg(a) : a;
}

export function cmp(a: Dec, b: Dec): -1 | 0 | 1 {
  const [x, y] = align(a, b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function isZero(a: Dec): boolean {
  return a.units === 0n;
}

export function isPositive(a: Dec): boolean {
  return a.units > 0n;
}

export function isNegative(a: Dec): boolean {
  return a.units < 0n;
}

export function eq(a: Dec, b: Dec): boolean {
  return cmp(a, b) === 0;
}

/** True when `value` is a whole multiple of `step` (step must be positive). */
export function isMultipleOf(value: Dec, step: Dec): boolean {
  if (step.units <= 0n) throw new Error('step must be positive');
  const [v, s] = align(value, step);
  return v % s === 0n;
}

/** Integer division rounding half away from zero. */
function divRoundHalfAway(n: bigint, d: bigint): bigint {
  if (d === 0n) throw new Error('division by zero');
  const negative = n < 0n !== d < 0n;
  const an = n < 0n ? -n : n;
  const ad = d < 0n ? -d : d;
  const q = (an * 2n + ad) / (ad * 2n);
  return negative ? -q : q;
}

/** a / b rounded (half away from zero) to `scale` decimals. */
export function div(a: Dec, b: Dec, scale: number): Dec {
  if (b.units === 0n) throw new Error('division by zero');
  // a.units/10^a.scale ÷ b.units/10^b.scale, times 10^scale
  const num = a.units * pow10(scale + b.scale);
  const den = b.units * pow10(a.scale);
  return { units: divRoundHalfAway(num, den), scale };
}

/** Rounds to `scale` decimals, half away from zero. */
export function round(a: Dec, scale: number): Dec {
  if (a.scale <= scale) return { units: a.units * pow10(scale - a.scale), scale };
  return { units: divRoundHalfAway(a.units, pow10(a.scale - scale)), scale };
}

/** value × bps / 10 000, exact. */
export function mulBps(value: Dec, bps: number | bigint): Dec {
  const b = typeof bps === 'bigint' ? bps : BigInt(Math.trunc(bps));
  return normalize({ units: value.units * b, scale: value.scale + 4 });
}

/** (to − from) / from × 100, rounded to `scale` decimals; null when `from` is zero. */
export function percentChange(from: Dec, to: Dec, scale = 2): Dec | null {
  if (isZero(from)) return null;
  return div(mul(sub(to, from), { units: 100n, scale: 0 }), from, scale);
}

/** Largest multiple of `step` that is ≤ value (for value ≥ 0). */
export function floorToStep(value: Dec, step: Dec): Dec {
  const [v, s, scale] = align(value, step);
  const q = v / s;
  return normalize({ units: q * s, scale });
}

/** Number of decimals a step like "0.01" implies (2); "5" → 0. */
export function decimalsOf(step: Dec): number {
  return normalize(step).scale;
}

export interface FormatOptions {
  /** Pad (or round, half away from zero) the fraction to exactly this many decimals. */
  decimals?: number;
  /** Insert thousands separators in the integer part. */
  group?: boolean;
  /** Prefix positive numbers with "+". */
  sign?: boolean;
}

/** Exact decimal string; trailing zeros trimmed unless `decimals` is given. */
export function formatDecimal(d: Dec, opts: FormatOptions = {}): string {
  const v = opts.decimals === undefined ? normalize(d) : round(d, opts.decimals);
  const negative = v.units < 0n;
  const digits = (negative ? -v.units : v.units).toString().padStart(v.scale + 1, '0');
  let int = digits.slice(0, digits.length - v.scale);
  const frac = v.scale > 0 ? digits.slice(digits.length - v.scale) : '';
  if (opts.group) int = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const isZeroValue = v.units === 0n;
  const prefix = negative && !isZeroValue ? '-' : opts.sign && !isZeroValue ? '+' : '';
  return `${prefix}${int}${frac ? `.${frac}` : ''}`;
}

/** Formats a decimal string from the server for display; passes through anything unparsable. */
export function fmt(value: string | null | undefined, opts: FormatOptions = {}): string {
  if (value === null || value === undefined || value === '') return '—';
  const d = parseDecimal(value);
  return d ? formatDecimal(d, opts) : value;
}

/** The plain decimal string for a request body ("101.25"), no grouping. */
export function toPlain(d: Dec): string {
  return formatDecimal(d);
}
