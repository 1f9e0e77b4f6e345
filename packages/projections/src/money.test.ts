import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DecimalValidationError, formatAmount, parseAmount } from '@tradecore/core-domain';
import { fmt, units } from './money.ts';

/** core-domain's verdict on a string: its units, or the error it throws. */
function reference(value: string): bigint | string {
  try {
    return parseAmount(value, 'x');
  } catch (err) {
    return err instanceof DecimalValidationError ? `DecimalValidationError: ${err.message}` : String(err);
  }
}

function ours(value: string): bigint | string {
  try {
    return units(value, 'x');
  } catch (err) {
    return err instanceof DecimalValidationError ? `DecimalValidationError: ${err.message}` : String(err);
  }
}

const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });

describe('units (hand-scanned fast path)', () => {
  it('equals core-domain parseAmount on decimal-looking strings, valid or not', () => {
    const decimalish = fc.oneof(
      fc.tuple(digits(0, 22), fc.option(digits(0, 16), { nil: undefined })).map(([i, f]) => (f === undefined ? i : `${i}.${f}`)),
      fc.string({ unit: fc.constantFrom(...'0123456789.-+e x'), maxLength: 24 }),
      fc.bigInt({ min: 0n, max: 10n ** 30n }).map((u) => formatAmount(u)),
    );
    fc.assert(fc.property(decimalish, (value) => {
          expect(ours(value)).toEqual(reference(value));
        }), { numRuns: 20_000 });
  });

  it('holds at the edges of the exact-double path and of the digit limits', () => {
    for (const value of ['0', '0.0', '0.000000000001', '999.999999999999', '1000', '1000.000000000001', '999999999999999999', '999999999999999999.999999999999', '1000000000000000000', '01', '00.5', '1.', '.5', '1.0000000000000', '', '１']) {
      expect(ours(value), value).toEqual(reference(value));
    }
  });
});

describe('fmt', () => {
  it('writes the same text as core-domain formatAmount', () => {
    fc.assert(
      fc.property(fc.oneof(fc.bigInt({ min: -(10n ** 32n), max: 10n ** 32n }), fc.bigInt({ min: -(10n ** 14n), max: 10n ** 14n })), (u) => {
          expect(fmt(u)).toBe(formatAmount(u));
        }),
      { numRuns: 20_000 },
    );
    for (const u of [0n, 1n, -1n, 10n ** 12n, -(10n ** 12n), 10n ** 12n + 1n, 999_999_999_999n, 100n]) expect(fmt(u)).toBe(formatAmount(u));
  });
});
