import { afterEach, describe, expect, it, vi } from 'vitest';
import { QueryClient } from '@tanstack/react-query';
import { LiveStream, type ConnectionStatus } from './stream.ts';
import { FakeEventSource } from '../test/fakeEventSource.ts';
import { queryKeys } from './queries.ts';
import type { OrderBook } from './types.ts';

afterEach(() => {
  FakeEventSource.instances = [];
  vi.useRealTimers();
});

function setup(expired = false) {
  const qc = new QueryClient();
  const statuses: ConnectionStatus[] = [];
  const onExpired = vi.fn();
  const stream = new LiveStream({
    queryClient: qc,
    getToken: () => 'tok en',
    isExpired: () => expired,
    onExpired,
    onStatus: (s) => statuses.push(s),
    EventSourceImpl: FakeEventSource,
    invalidateDelayMs: 0,
  });
  return { qc, statuses, stream, onExpired };
}

describe('LiveStream', () => {
  it('connects with the token as access_token and applies named events to the cache', () => {
    const { qc, stream, statuses } = setup();
    stream.start();
    const es = FakeEventSource.instances[0]!;
    expect(es.url).toBe('/api/v1/stream?access_token=tok%20en');
    es.open();
    expect(statuses).toEqual(['connecting', 'live']);
    es.emit('book', { marketId: 4, bids: [{ price: '1', quantity: '1' }], asks: [] }, '10');
    expect(qc.getQueryData<OrderBook>(queryKeys.book(4))?.bids).toHaveLength(1);
    stream.stop();
    expect(es.closed).toBe(true);
    expect(statuses.at(-1)).toBe('offline');
  });

  it('refetches active queries on every (re)connect', () => {
    const { qc, stream, statuses } = setup();
    const spy = vi.spyOn(qc, 'invalidateQueries');
    stream.start();
    const es = FakeEventSource.instances[0]!;
    es.open();
    expect(spy).toHaveBeenCalledTimes(1);
    es.error(false); // the browser retries by itself
    expect(statuses.at(-1)).toBe('reconnecting');
    es.open();
    expect(spy).toHaveBeenCalledTimes(2);
    expect(statuses.at(-1)).toBe('live');
  });

  it('refetches on a gap: positions going backwards or an explicit gap event', () => {
    const { qc, stream } = setup();
    stream.start();
    const es = FakeEventSource.instances[0]!;
    es.open();
    const spy = vi.spyOn(qc, 'invalidateQueries');
    es.emit('trade', { marketId: 1, tradeId: 'a', price: '1', quantity: '1', takerSide: 'buy', tradeTime: '2026-11-26T12:00:00Z' }, '100');
    expect(spy).not.toHaveBeenCalled();
    es.emit('trade', { marketId: 1, tradeId: 'b', price: '1', quantity: '1', takerSide: 'buy', tradeTime: '2026-11-26T12:00:00Z' }, '50');
    expect(spy).toHaveBeenCalledTimes(1);
    es.emit('gap', '{}');
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it('when the browser gives up it retries with backoff in a new connection', async () => {
    vi.useFakeTimers();
    const { stream, statuses } = setup();
    stream.start();
    const first = FakeEventSource.instances[0]!;
    first.open();
    first.error(true);
    expect(statuses.at(-1)).toBe('reconnecting');
    expect(FakeEventSource.instances).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_100);
    expect(FakeEventSource.instances).toHaveLength(2);
    stream.stop();
  });

  it('an expired token stops the stream and reports the expiry', () => {
    const { stream, onExpired, statuses } = setup(true);
    stream.start();
    expect(FakeEventSource.instances).toHaveLength(0);
    expect(onExpired).toHaveBeenCalled();
    expect(statuses).toEqual([]); // stays offline
  });
});
