import type { RecordedEvent } from '@tradecore/event-store';
import { describe, expect, it } from 'vitest';
import { decodeRecordedEvent } from './codec.ts';
import { buildTopicMessages } from './relay.ts';

function order(i: number): RecordedEvent {
  return {
    eventId: `00000000-0000-4000-8000-${i.toString().padStart(12, '0')}`,
    stream: `order-${i}`,
    type: 'OrderPlaced',
    data: { userId: 1 + (i % 5), marketId: 1, pad: 'x'.repeat(900) },
    metadata: { correlationId: 'c', causationId: null, userId: 1, occurredAt: '2025-01-01T00:00:00.000Z', schemaVersion: 1 },
    streamRevision: 0n,
    globalPosition: BigInt(1000 + i),
    recordedAt: '2025-01-01T00:00:00.000Z',
  };
}

describe('relay produce requests', () => {
  it('splits a large read batch so no partition passes the size limit, keeping global order', () => {
    const events = Array.from({ length: 2000 }, (_, i) => order(i));
    const requests = buildTopicMessages(events, 'p.', 256 * 1024);
    expect(requests.length).toBeGreaterThan(1);
    const seen: bigint[] = [];
    for (const request of requests) {
      const perPartition = new Map<string, number>();
      for (const tm of request)
        for (const m of tm.messages) {
          const k = `${tm.topic}/${m.partition}`;
          perPartition.set(k, (perPartition.get(k) ?? 0) + (m.value as Buffer).length);
          if (tm.topic === 'p.tradecore.events') seen.push(decodeRecordedEvent(m.value as Buffer).globalPosition);
        }
      for (const bytes of perPartition.values()) expect(bytes).toBeLessThanOrEqual(256 * 1024);
    }
    expect(seen).toEqual(events.map((e) => e.globalPosition));
  });

  it('puts headers on the events topic and dead letters, none on the inboxes', () => {
    const unroutable: RecordedEvent = { ...order(3), data: { marketId: 1 } };
    const [request] = buildTopicMessages([order(1), unroutable], 'p.');
    const byTopic = Object.fromEntries(request!.map((tm) => [tm.topic, tm.messages]));
    expect(byTopic['p.tradecore.events']!.map((m) => m.headers)).toEqual([
      { type: 'OrderPlaced', position: '1001', stream: 'order-1', eventId: order(1).eventId },
      { type: 'OrderPlaced', position: '1003', stream: 'order-3', eventId: order(3).eventId },
    ]);
    expect(byTopic['p.tradecore.account-inbox']!.map((m) => [m.key, m.headers])).toEqual([['2', undefined]]);
    expect(byTopic['p.tradecore.dead-letter']!.map((m) => m.headers)).toEqual([
      { type: 'OrderPlaced', position: '1003', stream: 'order-3', eventId: order(3).eventId, error: 'unroutable: key fields missing', source: 'relay' },
    ]);
  });

  it('keeps a small batch in one request', () => {
    expect(buildTopicMessages([order(1), order(2)], '')).toHaveLength(1);
  });
});
