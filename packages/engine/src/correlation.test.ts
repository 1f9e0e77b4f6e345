/**
 * Every engine log line about an input carries the input's correlation id (`correlationId`, from
 * its metadata; `correlationIds` on a line about several inputs), so the engine's logs join the
 * command-api's and the projections' on it.
 */
import { EventStoreUnavailableError, type EventStore } from '@tradecore/event-store';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessEngine } from './in-process.ts';
import { buildTopicMessages } from './relay.ts';
import { USER_A, createTestStore, orderPlaced, seedMarketAndDeposits, waitFor, waitForCount, type TestStore } from './test-support.ts';

interface Line {
  msg: string;
  correlationId?: string;
  correlationIds?: string[];
  eventId?: string;
  type?: string;
  stream?: string;
}

function capture() {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString().split('\n')) if (text.trim() !== '') lines.push(JSON.parse(text) as Line);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

describe('correlation ids in engine logs', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('correlation');
    await seedMarketAndDeposits(ts.store);
  });
  afterAll(async () => ts?.close());

  it('puts the input correlation id on dead-letter, retry and decision lines', async () => {
    const { logger, lines } = capture();
    // The first account append fails once, as if the database blinked: a store retry line.
    let failedOnce = false;
    const store: EventStore = {
      ...ts.store,
      appendToStream: (stream, events, o) => {
        if (!failedOnce && stream.startsWith('account-')) {
          failedOnce = true;
          return Promise.reject(new EventStoreUnavailableError('simulated blip'));
        }
        return ts.store.appendToStream(stream, events, o);
      },
    };
    const bad = orderPlaced({ userId: USER_A, marketId: 1, side: 'sell', price: '100', quantity: '1' });
    (bad.event.data as { quantity: string }).quantity = '-1';
    const good = orderPlaced({ userId: USER_A, marketId: 1, side: 'sell', price: '100', quantity: '1' });
    const badCorrelation = bad.event.metadata.correlationId;
    const goodCorrelation = good.event.metadata.correlationId;
    expect(badCorrelation).not.toBe(goodCorrelation);

    const engine = await startInProcessEngine({
      store,
      pool: ts.pool,
      clock: { now: () => new Date('2025-01-02T00:00:00.000Z') },
      logger,
      checkpointName: 'correlation',
      tuning: { poisonAttempts: 3, storeBackoff: { initialMs: 5, maxMs: 10 } },
    });
    try {
      await ts.store.appendToStream(bad.stream, [bad.event], { expectedRevision: 'no_stream' });
      await ts.store.appendToStream(good.stream, [good.event], { expectedRevision: 'no_stream' });
      await waitForCount(ts.store, 'OrderRested', 1);
      await waitFor('dead-letter line', async () => Promise.resolve(lines.some((l) => l.msg.startsWith('poison input dead-lettered')) || null));
    } finally {
      await engine.stop();
    }

    const deadLettered = lines.filter((l) => l.msg.startsWith('poison input dead-lettered'));
    expect(deadLettered.map((l) => [l.eventId, l.correlationId])).toEqual([[bad.event.eventId, badCorrelation]]);

    const retries = lines.filter((l) => l.msg === 'decision failed; retrying');
    expect(retries.length).toBe(2);
    for (const l of retries) expect(l.correlationId).toBe(badCorrelation);

    const storeRetries = lines.filter((l) => l.msg === 'store operation failed; retrying');
    expect(storeRetries.length).toBe(1);
    expect(storeRetries[0]!.correlationIds).toContain(goodCorrelation);

    // The risk decision on the order, and the execution decision on its acceptance (which carries
    // the order's correlation id on): both name the order's correlation id.
    const decided = lines.filter((l) => l.msg === 'decided');
    expect(decided.find((l) => l.eventId === good.event.eventId)?.correlationId).toBe(goodCorrelation);
    expect(decided.find((l) => l.stream === 'market-1' && l.type === 'OrderAccepted')?.correlationId).toBe(goodCorrelation);
    for (const l of decided) expect(typeof l.correlationId).toBe('string');
  });

  it('names the correlation id of an event the relay cannot route', () => {
    const unroutable: string[] = [];
    const event = {
      eventId: '00000000-0000-4000-8000-000000000001',
      stream: 'order-x',
      type: 'OrderPlaced',
      data: { marketId: 1 },
      metadata: { correlationId: 'corr-unroutable', causationId: null, userId: null, occurredAt: '2025-01-01T00:00:00.000Z', schemaVersion: 1 },
      streamRevision: 0n,
      globalPosition: 1000n,
      recordedAt: '2025-01-01T00:00:00.000Z',
    };
    const requests = buildTopicMessages([event], 'p.', undefined, (e) => unroutable.push(e.metadata.correlationId));
    expect(unroutable).toEqual(['corr-unroutable']);
    expect(requests.flat().map((tm) => tm.topic)).toContain('p.tradecore.dead-letter');
  });
});
