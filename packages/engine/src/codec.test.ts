import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '@tradecore/event-store';
import { EventDecodeError, decodeRecordedEvent, encodeRecordedEvent, eventHeaders } from './codec.ts';
import { derivedEventId } from './ids.ts';

const recorded: RecordedEvent = {
  eventId: '11111111-1111-4111-8111-111111111111',
  stream: 'order-abc',
  type: 'OrderPlaced',
  data: { userId: 1, quantity: '1.5' },
  metadata: { correlationId: 'c', causationId: null, userId: 1, occurredAt: '2024-01-01T00:00:00.000Z', schemaVersion: 1 },
  streamRevision: 0n,
  globalPosition: 12345678901234567n,
  recordedAt: '2024-01-01T00:00:00.001Z',
};

describe('codec', () => {
  it('round-trips a recorded event with bigints as strings', () => {
    const buf = encodeRecordedEvent(recorded);
    expect((JSON.parse(buf.toString()) as { globalPosition: string }).globalPosition).toBe('12345678901234567');
    expect(decodeRecordedEvent(buf)).toEqual(recorded);
    expect(eventHeaders(recorded)).toMatchObject({ type: 'OrderPlaced', position: '12345678901234567' });
  });

  it('rejects garbage with a typed error', () => {
    expect(() => decodeRecordedEvent(Buffer.from('nope'))).toThrow(EventDecodeError);
    expect(() => decodeRecordedEvent(null)).toThrow(EventDecodeError);
    expect(() => decodeRecordedEvent(JSON.stringify({ ...recorded, globalPosition: '1.5', streamRevision: '0' }))).toThrow(EventDecodeError);
  });

  it('derives stable, distinct event ids', () => {
    const a = derivedEventId(recorded.eventId, 'account-1', 0);
    expect(derivedEventId(recorded.eventId, 'account-1', 0)).toBe(a);
    expect(derivedEventId(recorded.eventId, 'account-2', 0)).not.toBe(a);
    expect(derivedEventId(recorded.eventId, 'account-1', 1)).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
