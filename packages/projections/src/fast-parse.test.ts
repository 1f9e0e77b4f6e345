import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { RecordedEvent } from '@tradecore/event-store';
import { fastParse } from './fast-parse.ts';
import { parseRecorded, UNREAD_EVENT_TYPES } from './fold.ts';
import { generateHistory } from './testing/index.ts';

const { events } = generateHistory({ events: 6_000, seed: 7, users: 30, markets: 3 });
const read = events.filter((e) => !UNREAD_EVENT_TYPES.has(e.type));

/** zod's verdict, as the projection would record it. */
function zodData(rec: RecordedEvent): { ok: true; data: unknown } | { ok: false } {
  const r = parseRecorded(rec);
  return r.ok ? { ok: true, data: r.parsed.event.data } : { ok: false };
}

/** Values that sit on the edges of the schemas' checks. */
const edgy = fc.oneof(
  fc.constantFrom(
    '',
    '0',
    '0.0',
    '00',
    '01',
    '1.',
    '.5',
    '-1',
    '-0.5',
    '1e3',
    ' 1',
    '1 ',
    '1.0000000000000000001',
    '1234567890123456789012345678901',
    '2026-02-29T00:00:00Z',
    '2024-02-29T00:00:00.000Z',
    '2026-01-31T23:59:59.999Z',
    '2026-04-31T00:00:00Z',
    '2026-01-05T24:00:00Z',
    '2026-01-05T10:00:00+00:00',
    '2026-01-05T10:00Z',
    '2026-01-05T10:00:00.Z',
    'x'.repeat(64),
    'x'.repeat(65),
    'buy',
    'sell',
    'BUY',
    'GTC',
    'maker',
    'trader',
    'user',
    'cancelled',
    'price_band',
  ),
  fc.constantFrom(0, -1, 1, 1.5, 1001, 1000, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, Number.NaN, Infinity, true, false, null),
  fc.constant(undefined),
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ maxLength: 12 }),
  fc.integer(),
);

describe('fastParse', () => {
  it('accepts every well-formed event the projection reads, with the data zod returns', () => {
    const types = new Set<string>();
    for (const rec of read) {
      const z = zodData(rec);
      const fast = fastParse(rec);
      if (!z.ok) {
        expect(fast, `${rec.type} at ${rec.globalPosition}`).toBeUndefined();
        continue;
      }
      // The generated log has only days 05–08 of a month, so the narrow ISO form covers it all.
      expect(fast, `${rec.type} at ${rec.globalPosition}`).toBeDefined();
      expect(fast?.event.data).toEqual(z.data);
      expect(fast?.event.type).toBe(rec.type);
      types.add(rec.type);
    }
    for (const t of ['UserRegistered', 'MarketListed', 'OrderPlaced', 'OrderAccepted', 'FillSettled', 'TradeExecuted', 'OrderRested', 'OrderCancelled', 'OrderAmended', 'ReservationReleased', 'FundsDeposited']) {
      expect(types).toContain(t);
    }
  });

  it('never accepts what zod rejects: one field replaced, removed or added', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.nat(read.length - 1), fc.nat(), fc.constantFrom('replace', 'remove', 'add'), edgy, (i, k, how, value) => {
        const rec = read[i] as RecordedEvent;
        const data = { ...(rec.data as Record<string, unknown>) };
        const keys = Object.keys(data);
        const key = how === 'add' ? `extra${k % 3}` : (keys[k % keys.length] ?? 'x');
        if (how === 'remove') delete data[key];
        else data[key] = value;
        const mutated: RecordedEvent = { ...rec, data };
        const fast = fastParse(mutated);
        if (fast === undefined) {
          refused += 1;
          return;
        }
        accepted += 1;
        const z = zodData(mutated);
        expect(z.ok, `${rec.type}.${key} = ${JSON.stringify(value) ?? 'undefined'} (${how})`).toBe(true);
        if (z.ok) expect(fast.event.data).toEqual(z.data);
      }),
      { numRuns: 20_000 },
    );
    // Both verdicts are exercised, so the property is not satisfied by refusing everything.
    expect(accepted).toBeGreaterThan(500);
    expect(refused).toBeGreaterThan(5_000);
  });

  it('never accepts what zod rejects: nested risk checks and roles', () => {
    const accepted = read.filter((e) => e.type === 'OrderAccepted' || e.type === 'UserRegistered');
    fc.assert(
      fc.property(fc.nat(accepted.length - 1), fc.array(fc.oneof(edgy, fc.record({ rule: edgy, limit: edgy, observed: edgy }, { requiredKeys: [] })), { maxLength: 3 }), (i, list) => {
        const rec = accepted[i] as RecordedEvent;
        const data = { ...(rec.data as Record<string, unknown>) };
        data[rec.type === 'OrderAccepted' ? 'checks' : 'roles'] = list;
        const mutated: RecordedEvent = { ...rec, data };
        const fast = fastParse(mutated);
        if (fast === undefined) return;
        const z = zodData(mutated);
        expect(z.ok, JSON.stringify(list)).toBe(true);
        if (z.ok) expect(fast.event.data).toEqual(z.data);
      }),
      { numRuns: 5_000 },
    );
  });

  it('leaves other schema versions, unread and unknown types, and non-objects to zod', () => {
    const rec = read.find((e) => e.type === 'TradeExecuted') as RecordedEvent;
    expect(fastParse(rec)).toBeDefined();
    expect(fastParse({ ...rec, metadata: { ...rec.metadata, schemaVersion: 2 } })).toBeUndefined();
    expect(fastParse({ ...rec, metadata: { ...rec.metadata, schemaVersion: 0 } })).toBeUndefined();
    expect(fastParse({ ...rec, type: 'MysteryHappened' })).toBeUndefined();
    expect(fastParse({ ...rec, type: 'OrderEntered' })).toBeUndefined();
    expect(fastParse({ ...rec, data: [rec.data] })).toBeUndefined();
    expect(fastParse({ ...rec, data: null })).toBeUndefined();
    expect(fastParse({ ...rec, data: JSON.parse(`{"__proto__": 1, ${JSON.stringify(rec.data).slice(1)}`) as unknown })).toBeUndefined();
    // A last day of a month is valid for zod; the fast path leaves it to zod rather than judge it.
    const late = { ...rec, data: { ...(rec.data as Record<string, unknown>), executedAt: '2026-01-31T10:00:00.000Z' } };
    expect(fastParse(late)).toBeUndefined();
    expect(zodData(late).ok).toBe(true);
  });
});
