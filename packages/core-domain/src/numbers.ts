/**
 * Decimal strings at the edges, integers inside.
 *
 * - Prices are integer ticks of a market's `tickSize`; quantities integer lots of its `lotSize`.
 * - Asset amounts (balances, reservations, notionals, fees) are integer units at a fixed scale of
 *   AMOUNT_DECIMALS decimals, so a price times a quantity is always exact: a market's tick and lot
 *   sizes together may carry at most AMOUNT_DECIMALS decimals.
 * No floating point touches money anywhere.
 */

export const AMOUNT_DECIMALS = 12;
const AMOUNT_SCALE = 10n ** BigInt(AMOUNT_DECIMALS);
/** Documented maximum for any single price in ticks or quantity in lots. */
export const MAX_STEPS = 10n ** 15n;
/** Documented maximum for a single asset amount: 10^18 whole units. */
export const MAX_AMOUNT_UNITS = 10n ** 18n * AMOUNT_SCALE;
/** Longest decimal string accepted at the edge. */
export const MAX_DECIMAL_LENGTH = 40;

export type DecimalErrorCode = 'format' | 'exponent' | 'negative' | 'zero' | 'precision' | 'too_large' | 'not_multiple';

export class DecimalValidationError extends Error {
  constructor(
    /** The request field at fault, e.g. `quantity`, `price`, `amount`. */
    readonly field: string,
    readonly code: DecimalErrorCode,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'DecimalValidationError';
  }
}

const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

/** A decimal string as an exact scaled integer: value = units / 10^scale. */
export interface Fixed {
  units: bigint;
  scale: number;
}

// Prices, quantities, tick and lot sizes repeat (every decision on a market parses its tick and
// lot size again), so valid parses are remembered: frozen, since every caller shares them. The
// memo is bounded by emptying it when full; a miss costs one parse.
const parsedDecimals = new Map<string, Readonly<Fixed>>();
const PARSED_DECIMALS_MAX = 4096;

export function parseFixed(input: string, field: string): Fixed {
  const known = typeof input === 'string' ? parsedDecimals.get(input) : undefined;
  if (known) return known;
  if (typeof input !== 'string') throw new DecimalValidationError(field, 'format', 'must be a decimal string');
  if (input.length === 0 || input.length > MAX_DECIMAL_LENGTH)
    throw new DecimalValidationError(field, 'format', `must be a decimal string of 1 to ${MAX_DECIMAL_LENGTH} characters`);
  if (/[eE]/.test(input)) throw new DecimalValidationError(field, 'exponent', 'exponent notation is not allowed');
  if (input.startsWith('-')) throw new DecimalValidationError(field, 'negative', 'must not be negative');
  const m = DECIMAL.exec(input);
  if (!m) throw new DecimalValidationError(field, 'format', 'must be a plain decimal like "101.25"');
  const intPart = m[1] ?? '0';
  // Trailing fractional zeros carry no value: "1.50" is 1.5 (scale 1), so precision rules
  // (a tick's decimals, AMOUNT_DECIMALS) look at significant digits only.
  const fracPart = (m[2] ?? '').replace(/0+$/, '');
  const parsed = Object.freeze({ units: BigInt(intPart + fracPart), scale: fracPart.length });
  if (parsedDecimals.size >= PARSED_DECIMALS_MAX) parsedDecimals.clear();
  parsedDecimals.set(input, parsed);
  return parsed;
}

const POW10 = Array.from({ length: 64 }, (_, n) => 10n ** BigInt(n));

function pow10(n: number): bigint {
  return POW10[n] ?? 10n ** BigInt(n);
}

/** Exact integer number of `step`s in `value`; throws when not a whole multiple. */
function stepsOf(value: Fixed, step: Fixed, field: string, stepName: string): bigint {
  const scale = Math.max(value.scale, step.scale);
  const v = value.units * pow10(scale - value.scale);
  const s = step.units * pow10(scale - step.scale);
  if (s <= 0n) throw new DecimalValidationError(field, 'zero', `${stepName} must be positive`);
  if (v % s !== 0n)
    throw new DecimalValidationError(field, value.scale > step.scale ? 'precision' : 'not_multiple', `must be a multiple of the ${stepName} ${formatFixed(step)}`);
  return v / s;
}

export function formatFixed({ units, scale }: Fixed): string {
  const neg = units < 0n;
  const digits = (neg ? -units : units).toString().padStart(scale + 1, '0');
  const int = digits.slice(0, digits.length - scale);
  let frac = scale > 0 ? digits.slice(digits.length - scale) : '';
  frac = frac.replace(/0+$/, '');
  return `${neg ? '-' : ''}${int}${frac ? `.${frac}` : ''}`;
}

function positiveSteps(input: string, step: string, field: string, stepName: string): bigint {
  const value = parseFixed(input, field);
  if (value.units === 0n) throw new DecimalValidationError(field, 'zero', 'must be greater than zero');
  const n = stepsOf(value, parseFixed(step, stepName), field, stepName);
  if (n > MAX_STEPS) throw new DecimalValidationError(field, 'too_large', `must be at most ${formatFixed({ units: MAX_STEPS * parseFixed(step, stepName).units, scale: parseFixed(step, stepName).scale })}`);
  return n;
}

/** Price string to integer ticks of `tickSize`; positive multiple of the tick or a typed error. */
export function priceToTicks(price: string, tickSize: string, field = 'price'): bigint {
  return positiveSteps(price, tickSize, field, 'tickSize');
}

/** Quantity string to integer lots of `lotSize`; positive multiple of the lot or a typed error. */
export function quantityToLots(quantity: string, lotSize: string, field = 'quantity'): bigint {
  return positiveSteps(quantity, lotSize, field, 'lotSize');
}

export function ticksToPrice(ticks: bigint, tickSize: string): string {
  const step = parseFixed(tickSize, 'tickSize');
  return formatFixed({ units: ticks * step.units, scale: step.scale });
}

export function lotsToQuantity(lots: bigint, lotSize: string): string {
  const step = parseFixed(lotSize, 'lotSize');
  return formatFixed({ units: lots * step.units, scale: step.scale });
}

/** Asset amount string (may be zero) to integer units at AMOUNT_DECIMALS. */
export function parseAmount(amount: string, field = 'amount'): bigint {
  const f = parseFixed(amount, field);
  if (f.scale > AMOUNT_DECIMALS)
    throw new DecimalValidationError(field, 'precision', `must have at most ${AMOUNT_DECIMALS} decimals`);
  const units = f.units * pow10(AMOUNT_DECIMALS - f.scale);
  if (units > MAX_AMOUNT_UNITS) throw new DecimalValidationError(field, 'too_large', 'exceeds the maximum amount of 10^18');
  return units;
}

/** Positive asset amount string to units, e.g. a deposit. */
export function parsePositiveAmount(amount: string, field = 'amount'): bigint {
  const units = parseAmount(amount, field);
  if (units === 0n) throw new DecimalValidationError(field, 'zero', 'must be greater than zero');
  return units;
}

/** Signed amount units to a decimal string with trailing zeros trimmed ("-12.5", "0"). */
export function formatAmount(units: bigint): string {
  return formatFixed({ units, scale: AMOUNT_DECIMALS });
}

/** Parse a signed decimal amount such as a reservation delta ("-12.5"). */
export function parseSignedAmount(amount: string, field = 'amount'): bigint {
  return amount.startsWith('-') ? -parseAmount(amount.slice(1), field) : parseAmount(amount, field);
}

/**
 * Asset units of `lots` lots at `ticks` ticks: ticks·tickSize · lots·lotSize, exact.
 * Requires decimals(tickSize) + decimals(lotSize) ≤ AMOUNT_DECIMALS (checked at listing).
 */
export function notionalUnits(ticks: bigint, lots: bigint, tickSize: string, lotSize: string): bigint {
  const t = parseFixed(tickSize, 'tickSize');
  const l = parseFixed(lotSize, 'lotSize');
  const scale = t.scale + l.scale;
  if (scale > AMOUNT_DECIMALS) throw new DecimalValidationError('tickSize', 'precision', `tickSize and lotSize together may carry at most ${AMOUNT_DECIMALS} decimals`);
  return ticks * t.units * lots * l.units * pow10(AMOUNT_DECIMALS - scale);
}

/** Base-asset units of `lots` lots. */
export function lotsToUnits(lots: bigint, lotSize: string): bigint {
  const l = parseFixed(lotSize, 'lotSize');
  return lots * l.units * pow10(AMOUNT_DECIMALS - l.scale);
}

/** Fee on a notional in basis points, rounded up to the next unit so the venue never under-charges. */
export function feeUnits(notional: bigint, bps: number): bigint {
  if (!Number.isInteger(bps) || bps < 0) throw new RangeError(`fee bps must be a non-negative integer, got ${bps}`);
  if (notional < 0n) throw new RangeError('fee notional must not be negative');
  const b = BigInt(bps);
  return (notional * b + 9_999n) / 10_000n;
}

/** True when a tick/lot pair is listable: positive and exact together within AMOUNT_DECIMALS. */
export function validateStepSizes(tickSize: string, lotSize: string): void {
  const t = parseFixed(tickSize, 'tickSize');
  const l = parseFixed(lotSize, 'lotSize');
  if (t.units === 0n) throw new DecimalValidationError('tickSize', 'zero', 'must be greater than zero');
  if (l.units === 0n) throw new DecimalValidationError('lotSize', 'zero', 'must be greater than zero');
  if (t.scale + l.scale > AMOUNT_DECIMALS)
    throw new DecimalValidationError('tickSize', 'precision', `tickSize and lotSize together may carry at most ${AMOUNT_DECIMALS} decimals`);
}

// ---- exact decimal arithmetic on Fixed values (for read-side sums and averages) ----

function align(a: Fixed, b: Fixed): [bigint, bigint, number] {
  const scale = Math.max(a.scale, b.scale);
  return [a.units * pow10(scale - a.scale), b.units * pow10(scale - b.scale), scale];
}

/** Drop trailing zero digits so equal values have equal representations. */
export function normalizeFixed(f: Fixed): Fixed {
  let { units, scale } = f;
  while (scale > 0 && units % 10n === 0n) {
    units /= 10n;
    scale -= 1;
  }
  return { units, scale };
}

export function addFixed(a: Fixed, b: Fixed): Fixed {
  const [x, y, scale] = align(a, b);
  return normalizeFixed({ units: x + y, scale });
}

export function subFixed(a: Fixed, b: Fixed): Fixed {
  const [x, y, scale] = align(a, b);
  return normalizeFixed({ units: x - y, scale });
}

export function mulFixed(a: Fixed, b: Fixed): Fixed {
  return normalizeFixed({ units: a.units * b.units, scale: a.scale + b.scale });
}

/** -1, 0 or 1 as a is below, equal to or above b. */
export function compareFixed(a: Fixed, b: Fixed): -1 | 0 | 1 {
  const [x, y] = align(a, b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Parse a signed decimal string ("-1.5", "2") into a Fixed; same rules as parseFixed otherwise. */
export function parseSignedFixed(input: string, field: string): Fixed {
  if (input.startsWith('-')) {
    const f = parseFixed(input.slice(1), field);
    return { units: -f.units, scale: f.scale };
  }
  return parseFixed(input, field);
}

/** Sum of decimal strings, exact, formatted ("0" for none). */
export function addDecimals(...values: string[]): string {
  return formatFixed(values.reduce<Fixed>((acc, v) => addFixed(acc, parseSignedFixed(v, 'value')), { units: 0n, scale: 0 }));
}

/** a − b of decimal strings, exact (may be negative). */
export function subDecimals(a: string, b: string): string {
  return formatFixed(subFixed(parseSignedFixed(a, 'value'), parseSignedFixed(b, 'value')));
}

export function compareDecimals(a: string, b: string): -1 | 0 | 1 {
  return compareFixed(parseSignedFixed(a, 'value'), parseSignedFixed(b, 'value'));
}

/**
 * numerator / denominator as a decimal string with at most `maxDecimals` decimals, rounded half
 * up (away from zero). Exact whenever the quotient terminates within `maxDecimals` digits.
 */
export function divideToDecimal(numerator: Fixed, denominator: Fixed, maxDecimals = 18): string {
  if (denominator.units === 0n) throw new RangeError('division by zero');
  // value = (n.units / 10^n.scale) / (d.units / 10^d.scale) = n.units·10^d.scale / (d.units·10^n.scale)
  let num = numerator.units * pow10(denominator.scale);
  let den = denominator.units * pow10(numerator.scale);
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  const neg = num < 0n;
  const abs = neg ? -num : num;
  const scaled = abs * pow10(maxDecimals);
  let q = scaled / den;
  const r = scaled % den;
  if (r * 2n >= den) q += 1n;
  return formatFixed({ units: neg ? -q : q, scale: maxDecimals });
}
