/** Events shaped like the engine's (order fields, metadata), for the event-store benchmarks. */
import { randomUUID } from 'node:crypto';
import type { NewEvent } from '../src/index.ts';

/** The i-th sample event: fields vary with i so rows differ in size and content; ids are random. */
export function sampleEvent(i: number, type = 'OrderPlaced'): NewEvent {
  return {
    eventId: randomUUID(),
    type,
    data: {
      orderId: randomUUID(),
      userId: 1000 + (i % 97),
      marketId: 1 + (i % 5),
      side: i % 2 === 0 ? 'buy' : 'sell',
      priceTicks: String(10_000 + (i % 500)),
      quantityLots: String(1 + (i % 50)),
      timeInForce: 'GTC',
      clientOrderId: `c-${i}`,
    },
    metadata: {
      correlationId: randomUUID(),
      causationId: null,
      userId: 1000 + (i % 97),
      occurredAt: '2025-06-01T12:00:00.000Z',
      schemaVersion: 1,
    },
  };
}
