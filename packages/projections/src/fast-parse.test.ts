/**
 * The replay path's use of core-domain's fastParseEvent (whose "never accepts what zod rejects"
 * properties are in packages/core-domain/src/fast-parse.test.ts): on a simulated log, every event
 * the projection reads and zod accepts takes the fast path, with the data zod returns.
 */
import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '@tradecore/event-store';
import { fastParseRecorded, parseRecorded, UNREAD_EVENT_TYPES } from './fold.ts';
import { generateHistory } from './testing/index.ts';

const { events } = generateHistory({ events: 6_000, seed: 7, users: 30, markets: 3 });
const read = events.filter((e) => !UNREAD_EVENT_TYPES.has(e.type));

/** zod's verdict, as the projection would record it. */
function zodData(rec: RecordedEvent): { ok: true; data: unknown } | { ok: false } {
  const r = parseRecorded(rec);
  return r.ok ? { ok: true, data: r.parsed.event.data } : { ok: false };
}

describe('fastParseRecorded', () => {
  it('accepts every well-formed event the projection reads, with the data zod returns', () => {
    const types = new Set<string>();
    for (const rec of read) {
      const z = zodData(rec);
      const fast = fastParseRecorded(rec);
      if (!z.ok) {
        expect(fast, `${rec.type} at ${rec.globalPosition}`).toBeUndefined();
        continue;
      }
      // The generated log has only days 05–08 of a month, so the narrow ISO form covers it all.
      expect(fast, `${rec.type} at ${rec.globalPosition}`).toBeDefined();
      expect(fast?.rec).toBe(rec);
      expect(fast?.event.data).toEqual(z.data);
      expect(fast?.event.type).toBe(rec.type);
      types.add(rec.type);
    }
    for (const t of ['UserRegistered', 'MarketListed', 'OrderPlaced', 'OrderAccepted', 'FillSettled', 'TradeExecuted', 'OrderRested', 'OrderCancelled', 'OrderAmended', 'ReservationReleased', 'FundsDeposited']) {
      expect(types).toContain(t);
    }
  });

  it('reads the schema version from the metadata as parseRecorded does (missing: 1; any other: zod)', () => {
    const rec = read.find((e) => e.type === 'TradeExecuted') as RecordedEvent;
    expect(fastParseRecorded(rec)).toBeDefined();
    const { schemaVersion: _, ...without } = rec.metadata as Record<string, unknown>;
    expect(fastParseRecorded({ ...rec, metadata: without as RecordedEvent['metadata'] })).toBeDefined();
    expect(fastParseRecorded({ ...rec, metadata: { ...rec.metadata, schemaVersion: 2 } })).toBeUndefined();
    expect(fastParseRecorded({ ...rec, metadata: { ...rec.metadata, schemaVersion: 0 } })).toBeUndefined();
  });
});
