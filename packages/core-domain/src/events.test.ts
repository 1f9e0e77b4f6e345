import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, EventSchemaError, parseEvent } from './events.ts';

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
