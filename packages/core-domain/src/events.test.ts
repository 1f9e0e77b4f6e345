import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, EventSchemaError, parseEvent, recordedSchemaVersion } from './events.ts';

describe('event catalogue', () => {
  it('parses a recorded event into its typed form', () => {
    const e = parseEvent('FundsDeposited', 1, {
      depositId: 'd-1',
      userId: 7,
      asset: 'USD',
      amount: '1000.50',
      depositedBy: 1,
    });
    expect(e.type).toBe('FundsDeposited');
    if (e.type === 'FundsDeposited') expect(e.data.amount).toBe('1000.50');
  });

  it('refuses data that does not match the schema, naming the event', () => {
    expect(() => parseEvent('FundsDeposited', 1, { userId: 7, asset: 'USD', amount: '1e5' })).toThrow(EventSchemaError);
  });

  it('lists every event type once', () => {
    expect(new Set(EVENT_TYPES).size).toBe(EVENT_TYPES.length);
    expect(EVENT_TYPES).toContain('TradeExecuted');
  });
});

describe('recordedSchemaVersion', () => {
  it("is the metadata's number, and 1 where the metadata has none", () => {
    expect(recordedSchemaVersion({ schemaVersion: 2 })).toBe(2);
    expect(recordedSchemaVersion({ schemaVersion: 1, userId: 7 })).toBe(1);
    for (const metadata of [{}, { schemaVersion: '2' }, { schemaVersion: null }, null, undefined]) expect(recordedSchemaVersion(metadata), JSON.stringify(metadata)).toBe(1);
  });
});
