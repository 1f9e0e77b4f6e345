import { describe, expect, it } from 'vitest';
import {
  add,
  cmp,
  dec,
  div,
  floorToStep,
  fmt,
  formatDecimal,
  isMultipleOf,
  mul,
  mulBps,
  parseDecimal,
  percentChange,
  round,
  sub,
} from './decimal.ts';

const s = (d: ReturnType<typeof dec>) => formatDecimal(d);

describe('decimal helpers (bigint, no floats)', () => {
  it('parses plain decimals and refuses everything else', () => {
    expect(parseDecimal('101.25')).toEqual({ units: 10125n, scale: 2 });
    expect(parseDecimal('-0.5')).toEqual({ units: -5n, scale: 1 });
    expect(parseDecimal('.5')).toEqual({ units: 5n, scale: 1 });
    expect(parseDecimal('7.')).toEqual({ units: 7n, scale: 0 });
    expect(parseDecimal(' 3 ')).toEqual({ units: 3n, scale: 0 });
    for (const bad of ['', '1e3', '1,5', 'abc', '1.2.3', 'NaN', 'Infinity', '--1', '.', null, undefined]) expect(parseDecimal(bad)).toBeNull();
  });

  it('adds, subtracts and multiplies exactly', () => {
    expect(s(add(dec('0.1'), dec('0.2')))).toBe('0.3');
    expect(s(sub(dec('1'), dec('0.9')))).toBe('0.1');
    expect(s(mul(dec('101.25'), dec('0.003')))).toBe('0.30375');
    expect(s(mul(dec('99999999999999999.99'), dec('3')))).toBe('299999999999999999.97');
    expect(s(sub(dec('1.5'), dec('2.25')))).toBe('-0.75');
  });

  it('compares across scales', () => {
    expect(cmp(dec('1.10'), dec('1.1'))).toBe(0);
    expect(cmp(dec('1.09'), dec('1.1'))).toBe(-1);
    expect(cmp(dec('-2'), dec('-3'))).toBe(1);
  });

  it('checks tick and lot multiples', () => {
    expect(isMultipleOf(dec('101.25'), dec('0.05'))).toBe(true);
    expect(isMultipleOf(dec('101.27'), dec('0.05'))).toBe(false);
    expect(isMultipleOf(dec('0.0015'), dec('0.001'))).toBe(false);
    expect(isMultipleOf(dec('25'), dec('5'))).toBe(true);
    expect(isMultipleOf(dec('0.3'), dec('0.1'))).toBe(true); // 0.3 % 0.1 in floats is 0.0999…
    expect(s(floorToStep(dec('101.27'), dec('0.05')))).toBe('101.25');
  });

  it('divides and rounds half away from zero', () => {
    expect(s(div(dec('1'), dec('3'), 4))).toBe('0.3333');
    expect(s(div(dec('2'), dec('3'), 2))).toBe('0.67');
    expect(s(div(dec('-2'), dec('3'), 2))).toBe('-0.67');
    expect(formatDecimal(round(dec('2.345'), 2))).toBe('2.35');
    expect(formatDecimal(round(dec('-2.345'), 2))).toBe('-2.35');
    expect(() => div(dec('1'), dec('0'), 2)).toThrow();
  });

  it('computes fees in basis points and percentage change', () => {
    expect(s(mulBps(dec('10000'), 10))).toBe('10');
    expect(s(mulBps(dec('123.45'), 7))).toBe('0.086415');
    expect(formatDecimal(percentChange(dec('100'), dec('105.5'))!)).toBe('5.5');
    expect(formatDecimal(percentChange(dec('3'), dec('2'))!, { decimals: 2 })).toBe('-33.33');
    expect(percentChange(dec('0'), dec('1'))).toBeNull();
  });

  it('formats for display', () => {
    expect(formatDecimal(dec('1234567.5'), { group: true })).toBe('1,234,567.5');
    expect(formatDecimal(dec('1.5'), { decimals: 3 })).toBe('1.500');
    expect(formatDecimal(dec('2.5'), { sign: true })).toBe('+2.5');
    expect(formatDecimal(dec('0'), { sign: true })).toBe('0');
    expect(formatDecimal(dec('-0.001'), { decimals: 2 })).toBe('0.00');
    expect(fmt('100.2500')).toBe('100.25');
    expect(fmt(null)).toBe('—');
  });
});
