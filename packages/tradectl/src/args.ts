/** Parsing of option values: every malformed value is a usage error (exit 64) with a clear message. */
import { usage } from './errors.ts';

const MAX_POSITION = 9223372036854775807n;

export function parsePosition(value: string, option: string): bigint {
  if (!/^\d{1,19}$/.test(value.trim())) throw usage(`${option}: ${JSON.stringify(value)} is not a global position (a non-negative integer)`);
  const p = BigInt(value.trim());
  if (p > MAX_POSITION) throw usage(`${option}: ${value} is larger than any global position`);
  return p;
}

/** ISO-8601 date-time with a date part (a time zone offset or Z recommended; without one, UTC is assumed). */
export function parseTime(value: string, option: string): { iso: string; ms: number } {
  const v = value.trim();
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(v)) {
    throw usage(`${option}: ${JSON.stringify(value)} is not an ISO-8601 time (e.g. 2025-03-14T14:03:07Z)`);
  }
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(v);
  const withT = v.replace(' ', 'T');
  const normalized = hasZone ? withT : withT.length === 10 ? `${withT}T00:00:00Z` : `${withT}Z`;
  const ms = Date.parse(normalized);
  if (Number.isNaN(ms)) throw usage(`${option}: ${JSON.stringify(value)} is not a valid time`);
  return { iso: new Date(ms).toISOString(), ms };
}

/** A position (digits) or an ISO time. */
export type PointInLog = { kind: 'position'; position: bigint } | { kind: 'time'; iso: string; ms: number };

export function parsePoint(value: string, option: string): PointInLog {
  if (/^\d+$/.test(value.trim())) return { kind: 'position', position: parsePosition(value, option) };
  return { kind: 'time', ...parseTime(value, option) };
}

export function parseId(value: string, option: string): number {
  if (!/^[1-9]\d{0,9}$/.test(value.trim())) throw usage(`${option}: ${JSON.stringify(value)} is not an id (a positive integer)`);
  const n = Number(value.trim());
  if (!Number.isSafeInteger(n) || n > 2147483647) throw usage(`${option}: ${value} is out of range`);
  return n;
}

export function parseCount(value: string, option: string, min = 1): number {
  if (!/^\d+$/.test(value.trim())) throw usage(`${option}: ${JSON.stringify(value)} is not a count`);
  const n = Number(value.trim());
  if (!Number.isSafeInteger(n) || n < min) throw usage(`${option}: must be at least ${min}`);
  return n;
}

export function parseOrderId(value: string, option = 'orderId'): string {
  const v = value.trim();
  if (v.length === 0 || v.length > 64 || !/^[A-Za-z0-9_.:-]+$/.test(v)) throw usage(`${option}: ${JSON.stringify(value)} is not an order id`);
  return v;
}

export function collect(value: string, previous: string[] | undefined): string[] {
  const parts = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return [...(previous ?? []), ...parts];
}

export function parseFormat<T extends string>(value: string | undefined, allowed: readonly T[], option = '--format'): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw usage(`${option}: ${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
  return value as T;
}

export function assertRange(from: bigint | undefined, to: bigint | undefined, what = 'range'): void {
  if (from !== undefined && to !== undefined && from > to) throw usage(`bad ${what}: --from ${from} is after --to ${to}`);
}
