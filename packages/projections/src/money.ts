/**
 * Exact money for the read models: every price, quantity and amount is a bigint of units at
 * AMOUNT_DECIMALS (12) decimals, written to `numeric` columns as decimal strings.
 *
 * Divisions: an average price (order average fill price, position average price) = notional /
 * quantity is rounded half away from zero to the unit (10^-12); the cost a partial close releases
 * (cost × closed / held) is rounded toward zero, as in core-domain's portfolio math.
 */
import { AMOUNT_DECIMALS, parseAmount, parseSignedAmount } from '@tradecore/core-domain';

export const SCALE = 10n ** BigInt(AMOUNT_DECIMALS);

const D = AMOUNT_DECIMALS;
const PAD = '0'.repeat(D);
/** 10^(D - k) for k fraction digits. */
const POW10 = Array.from({ length: D + 1 }, (_, k) => 10 ** (D - k));
/** Integer digits up to which digits × 10^D stay below 10^15, so a double holds them exactly. */
const EXACT_INT_DIGITS = 15 - D;

/**
 * A non-negative decimal string (price, quantity, amount) as units; throws DecimalValidationError.
 * Fast path for the common shape (≤ 18 integer digits without a leading zero, ≤ 12 decimals;
 * scanned by hand, no regular expression); anything else goes through core-domain's parseAmount,
 * which accepts or rejects it with the precise reason.
 */
export function units(value: string, field: string): bigint {
  const n = value.length;
  let dot = -1;
  // The digits as a number, used when it is certainly exact: fewer than 10^15 units
  // (EXACT_INT_DIGITS integer digits), else the digit string goes to BigInt().
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 46) {
      if (dot >= 0) return parseAmount(value, field);
      dot = i;
    } else if (c >= 48 && c <= 57) {
      v = v * 10 + (c - 48);
    } else {
      return parseAmount(value, field);
    }
  }
  const intLen = dot < 0 ? n : dot;
  const fracLen = dot < 0 ? 0 : n - dot - 1;
  if (intLen < 1 || intLen > 18 || (dot >= 0 && (fracLen < 1 || fracLen > D)) || (intLen > 1 && value.charCodeAt(0) === 48)) return parseAmount(value, field);
  if (intLen <= EXACT_INT_DIGITS) return BigInt(v * (POW10[fracLen] ?? 1));
  return BigInt(dot < 0 ? value + PAD : value.slice(0, dot) + value.slice(dot + 1) + PAD.slice(fracLen));
}

/** A signed decimal string as units (reservation deltas, PnL read back from PostgreSQL). */
export function signedUnits(value: string, field = 'amount'): bigint {
  return parseSignedAmount(value, field);
}

/** Units as a decimal string without trailing zeros: the same text as core-domain's formatAmount, cheaper. */
export function fmt(u: bigint): string {
  const neg = u < 0n;
  const digits = (neg ? -u : u).toString();
  const cut = digits.length - D;
  const int = cut > 0 ? digits.slice(0, cut) : '0';
  const frac = cut > 0 ? digits.slice(cut) : cut === 0 ? digits : PAD.slice(0, -cut) + digits;
  let end = D;
  while (end > 0 && frac.charCodeAt(end - 1) === 48) end--;
  const out = end === 0 ? int : `${int}.${frac.slice(0, end)}`;
  return neg ? `-${out}` : out;
}

export function fmtOrNull(u: bigint | null): string | null {
  return u === null ? null : fmt(u);
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
