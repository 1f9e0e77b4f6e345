import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AMOUNT_DECIMALS,
  DecimalValidationError,
  MAX_AMOUNT_UNITS,
  MAX_STEPS,
  addDecimals,
  compareDecimals,
  divideToDecimal,
  feeUnits,
  formatAmount,
  formatFixed,
  lotsToQuantity,
  lotsToUnits,
  notionalUnits,
  parseAmount,
  parseFixed,
  parsePositiveAmount,
  parseSignedAmount,
  priceToTicks,
  quantityToLots,
  subDecimals,
  ticksToPrice,
  validateStepSizes,
} from './numbers.ts';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof DecimalValidationError) return e.code;
    throw e;
  }
  return undefined;
}

describe('parsing decimal strings', () => {
  it('reads plain decimals exactly', () => {
    expect(parseFixed('101.25', 'price')).toEqual({ units: 10125n, scale: 2 });
    expect(parseFixed('7', 'price')).toEqual({ units: 7n, scale: 0 });
    expect(parseFixed('0.5', 'price')).toEqual({ units: 5n, scale: 1 });
  });

  it('ignores trailing fractional zeros', () => {
    expect(parseFixed('1.500', 'x')).toEqual({ units: 15n, scale: 1 });
    expect(parseFixed('2.000', 'x')).toEqual({ units: 2n, scale: 0 });
  });

  it('names the field and the kind of fault', () => {
    const err = (() => {
      try {
        priceToTicks('abc', '0.01');
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(DecimalValidationError);
    expect((err as DecimalValidationError).field).toBe('price');
    expect((err as DecimalValidationError).code).toBe('format');
    expect((err as DecimalValidationError).message).toMatch(/^price: /);
  });

  it.each([
    ['', 'format'],
    [' 1', 'format'],
    ['1.', 'format'],
    ['.5', 'format'],
    ['+1', 'format'],
    ['1,5', 'format'],
    ['NaN', 'format'],
    ['Infinity', 'format'],
    ['1'.repeat(41), 'format'],
    ['1e5', 'exponent'],
    ['1E-3', 'exponent'],
    ['-1', 'negative'],
    ['-0.5', 'negative'],
  ])('refuses %j as %s', (input, code) => {
    expect(codeOf(() => parseFixed(input, 'x'))).toBe(code);
  });

  it('refuses a non-string at runtime', () => {
    expect(codeOf(() => parseFixed(12 as unknown as string, 'x'))).toBe('format');
  });
});

describe('prices and quantities in steps', () => {
  it('converts to ticks and lots', () => {
    expect(priceToTicks('101.25', '0.01')).toBe(10125n);
    expect(priceToTicks('101.25', '0.25')).toBe(405n);
    expect(priceToTicks('100', '5')).toBe(20n);
    expect(quantityToLots('1.5', '0.001')).toBe(1500n);
    expect(quantityToLots('1.500', '0.5')).toBe(3n);
  });

  it('refuses zero', () => {
    expect(codeOf(() => priceToTicks('0', '0.01'))).toBe('zero');
    expect(codeOf(() => quantityToLots('0.000', '0.001'))).toBe('zero');
  });

  it('refuses too many decimals as precision', () => {
    expect(codeOf(() => priceToTicks('101.255', '0.01'))).toBe('precision');
    expect(codeOf(() => quantityToLots('0.0001', '0.001'))).toBe('precision');
  });

  it('accepts extra trailing zeros and calls a wrong step not_multiple', () => {
    expect(priceToTicks('101.2500', '0.05')).toBe(2025n);
    expect(codeOf(() => priceToTicks('1.230', '0.05'))).toBe('not_multiple');
    expect(codeOf(() => priceToTicks('1.3', '0.25'))).toBe('not_multiple');
    expect(codeOf(() => quantityToLots('7', '5'))).toBe('not_multiple');
  });

  it('refuses negatives and exponents with their own codes', () => {
    expect(codeOf(() => priceToTicks('-1', '0.01'))).toBe('negative');
    expect(codeOf(() => quantityToLots('1e3', '1'))).toBe('exponent');
  });

  it('refuses more than MAX_STEPS steps as too_large', () => {
    expect(quantityToLots(MAX_STEPS.toString(), '1')).toBe(MAX_STEPS);
    expect(codeOf(() => quantityToLots((MAX_STEPS + 1n).toString(), '1'))).toBe('too_large');
    expect(codeOf(() => priceToTicks('10000000000000.01', '0.01'))).toBe('too_large');
  });

  it('formats back to the canonical string', () => {
    expect(ticksToPrice(10125n, '0.01')).toBe('101.25');
    expect(ticksToPrice(10100n, '0.01')).toBe('101');
    expect(ticksToPrice(405n, '0.25')).toBe('101.25');
    expect(lotsToQuantity(1500n, '0.001')).toBe('1.5');
    expect(lotsToQuantity(3n, '0.5')).toBe('1.5');
    expect(lotsToQuantity(1n, '0.00000001')).toBe('0.00000001');
  });

  it('round-trips any step count through a string (property)', () => {
    const steps = fc.constantFrom('0.01', '0.25', '1', '5', '0.00000001', '0.5', '10');
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: MAX_STEPS }), steps, (n, step) => {
        expect(priceToTicks(ticksToPrice(n, step), step)).toBe(n);
        expect(quantityToLots(lotsToQuantity(n, step), step)).toBe(n);
      }),
    );
  });
});

describe('asset amounts', () => {
  it('parses to units at AMOUNT_DECIMALS and formats back', () => {
    expect(AMOUNT_DECIMALS).toBe(12);
    expect(parseAmount('1')).toBe(10n ** 12n);
    expect(parseAmount('0.000000000001')).toBe(1n);
    expect(parseAmount('0')).toBe(0n);
    expect(formatAmount(1n)).toBe('0.000000000001');
    expect(formatAmount(1_500_000_000_000n)).toBe('1.5');
    expect(formatAmount(-1_500_000_000_000n)).toBe('-1.5');
    expect(formatAmount(0n)).toBe('0');
  });

  it('refuses more than AMOUNT_DECIMALS significant decimals but allows trailing zeros', () => {
    expect(codeOf(() => parseAmount('0.0000000000001'))).toBe('precision');
    expect(parseAmount('0.5000000000000000')).toBe(500_000_000_000n);
  });

  it('refuses amounts above 10^18', () => {
    expect(parseAmount('1000000000000000000')).toBe(MAX_AMOUNT_UNITS);
    expect(codeOf(() => parseAmount('1000000000000000000.000000000001'))).toBe('too_large');
  });

  it('refuses zero where a positive amount is required', () => {
    expect(codeOf(() => parsePositiveAmount('0.0'))).toBe('zero');
    expect(parsePositiveAmount('2.5')).toBe(2_500_000_000_000n);
  });

  it('parses signed deltas', () => {
    expect(parseSignedAmount('-12.5')).toBe(-12_500_000_000_000n);
    expect(parseSignedAmount('3')).toBe(3_000_000_000_000n);
    expect(codeOf(() => parseSignedAmount('--1'))).toBe('negative');
  });

  it('round-trips any amount through a string (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -MAX_AMOUNT_UNITS, max: MAX_AMOUNT_UNITS }), (u) => {
        expect(parseSignedAmount(formatAmount(u))).toBe(u);
      }),
    );
  });
});

describe('notional and fees', () => {
  it('computes price × quantity exactly in amount units', () => {
    // 101.25 × 1.5 = 151.875
    expect(formatAmount(notionalUnits(10125n, 1500n, '0.01', '0.001'))).toBe('151.875');
    // 0.00000001 × 0.0001 = 1e-12: the smallest unit
    expect(notionalUnits(1n, 1n, '0.00000001', '0.0001')).toBe(1n);
    expect(formatAmount(notionalUnits(405n, 3n, '0.25', '0.5'))).toBe('151.875');
  });

  it('refuses tick/lot pairs that cannot be exact', () => {
    expect(codeOf(() => notionalUnits(1n, 1n, '0.0000001', '0.000001'))).toBe('precision');
    expect(codeOf(() => validateStepSizes('0.0000001', '0.000001'))).toBe('precision');
    expect(codeOf(() => validateStepSizes('0', '1'))).toBe('zero');
    expect(codeOf(() => validateStepSizes('1', '0.0'))).toBe('zero');
    expect(() => validateStepSizes('0.010', '0.0000000001')).not.toThrow();
  });

  it('agrees with the decimal product (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 9n }), fc.bigInt({ min: 1n, max: 10n ** 9n }), (t, l) => {
        const n = notionalUnits(t, l, '0.01', '0.001');
        expect(n).toBe(parseAmount(ticksToPrice(t, '0.01')) * parseAmount(lotsToQuantity(l, '0.001')) / 10n ** 12n);
        expect(lotsToUnits(l, '0.001')).toBe(parseAmount(lotsToQuantity(l, '0.001')));
      }),
    );
  });

  it('rounds fees up to the next unit, never under-charging', () => {
    expect(feeUnits(10_000n, 10)).toBe(10n);
    expect(feeUnits(10_001n, 10)).toBe(11n);
    expect(feeUnits(1n, 1)).toBe(1n);
    expect(feeUnits(0n, 25)).toBe(0n);
    expect(feeUnits(123n, 0)).toBe(0n);
    expect(() => feeUnits(-1n, 10)).toThrow(RangeError);
    expect(() => feeUnits(1n, 1.5)).toThrow(RangeError);
  });

  it('charges the ceiling of notional × bps / 10000 (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_AMOUNT_UNITS }), fc.integer({ min: 0, max: 1000 }), (n, bps) => {
        const fee = feeUnits(n, bps);
        const exact = n * BigInt(bps);
        expect(fee * 10_000n >= exact).toBe(true);
        expect((fee - 1n) * 10_000n < exact || fee === 0n).toBe(true);
      }),
    );
  });
});

describe('exact decimal helpers', () => {
  it('adds, subtracts and compares without floating point', () => {
    expect(addDecimals('0.1', '0.2')).toBe('0.3');
    expect(addDecimals()).toBe('0');
    expect(subDecimals('1', '1.25')).toBe('-0.25');
    expect(compareDecimals('1.50', '1.5')).toBe(0);
    expect(compareDecimals('-2', '1')).toBe(-1);
  });

  it('divides to a decimal, exact when it terminates, rounded half up otherwise', () => {
    expect(divideToDecimal(parseFixed('302', 'n'), parseFixed('3', 'd'), 4)).toBe('100.6667');
    expect(divideToDecimal(parseFixed('151.875', 'n'), parseFixed('1.5', 'd'))).toBe('101.25');
    expect(divideToDecimal(parseFixed('1', 'n'), parseFixed('8', 'd'), 2)).toBe('0.13');
    expect(formatFixed({ units: -5n, scale: 3 })).toBe('-0.005');
    expect(() => divideToDecimal(parseFixed('1', 'n'), parseFixed('0', 'd'))).toThrow(RangeError);
  });
});
