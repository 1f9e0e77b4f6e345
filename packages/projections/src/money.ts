/**
 * Exact money for the read models: every price, quantity and amount is a bigint of units at
 * AMOUNT_DECIMALS (12) decimals, written to `numeric` columns as decimal strings.
 *
 * Divisions: an average price (order average fill price, position average price) = notional /
 * quantity is rounded half away from zero to the unit (10^-12); the cost a partial close releases
 * (cost × closed / held) is rounded toward zero, as in core-domain's portfolio math.
 */
import { AMOUNT_DECIMALS, formatAmount, parseAmount, parseSignedAmount } from '@tradecore/core-domain';

export const SCALE = 10n ** BigInt(AMOUNT_DECIMALS);

const PLAIN = /^(\d{1,18})(?:\.(\d{1,12}))?$/;
const PAD = '000000000000';

/**
 * A non-negative decimal string (price, quantity, amount) as units; throws DecimalValidationError.
 * Fast path for the common shape (≤ 18 integer digits, ≤ 12 decimals); anything else goes through
 * core-domain's parseAmount, which accepts or rejects it with the precise reason.
 */
export function units(value: string, field: string): bigint {
  const m = PLAIN.exec(value);
  if (m && (m[1] === '0' || !m[1]?.startsWith('0'))) {
    const frac = m[2] ?? '';
    return BigInt((m[1] ?? '0') + frac + PAD.slice(frac.length));
  }
  return parseAmount(value, field);
}

/** A signed decimal string as units (reservation deltas, PnL read back from PostgreSQL). */
export function signedUnits(value: string, field = 'amount'): bigint {
  return parseSignedAmount(value, field);
}

export function fmt(u: bigint): string {
  return formatAmount(u);
}

export function fmtOrNull(u: bigint | null): string | null {
  return u === null ? null : formatAmount(u);
}

/** n / d rounded half away from zero; d > 0. */
export function roundDiv(n: bigint, d: bigint): bigint {
  if (d <= 0n) throw new RangeError('roundDiv: divisor must be positive');
  const neg = n < 0n;
  const a = neg ? -n : n;
  const q = (a * 2n + d) / (2n * d);
  return neg ? -q : q;
}

/** price × quantity in amount units (exact whenever the market's tick and lot sizes are listable). */
export function notional(price: bigint, quantity: bigint): bigint {
  return roundDiv(price * quantity, SCALE);
}

/** notional / quantity as a price in units. */
export function averagePrice(notionalUnits: bigint, quantity: bigint): bigint {
  return roundDiv(notionalUnits * SCALE, quantity);
}

export function abs(x: bigint): bigint {
  return x < 0n ? -x : x;
}

/** Trailing zeros of a PostgreSQL numeric text trimmed ("1.500000" → "1.5", "-0.0" → "0"). */
export function normalizeDecimal(value: string): string {
  if (!value.includes('.')) return value === '-0' ? '0' : value;
  const trimmed = value.replace(/0+$/, '').replace(/\.$/, '');
  return trimmed === '-0' ? '0' : trimmed;
}
