/**
 * Runs everywhere: an EventStoreDB that does not answer (a closed loopback port) must surface as
 * EventStoreUnavailableError from every call. No server is faked: nothing listens there.
 */
import { describe, expect, it } from 'vitest';
import { newEvent } from '../contract.suite.ts';
import { EventStoreUnavailableError } from '../port.ts';
import { createEventStoreDbEventStore } from './store.ts';

describe('EventStoreDB adapter without a server', () => {
  it('maps connection failures to EventStoreUnavailableError', async () => {
    const store = createEventStoreDbEventStore({ connectionString: 'esdb://127.0.0.1:1?tls=false' });
    try {
      await expect(store.appendToStream('s', [newEvent('A')])).rejects.toBeInstanceOf(EventStoreUnavailableError);
      await expect(store.readStream('s')).rejects.toBeInstanceOf(EventStoreUnavailableError);
      await expect(store.readAll({ maxCount: 1 })).rejects.toBeInstanceOf(EventStoreUnavailableError);
      await expect(store.headPosition()).rejects.toBeInstanceOf(EventStoreUnavailableError);
      // a subscription keeps trying (like the PostgreSQL adapter) until closed
      const sub = store.subscribeToAll(() => Promise.resolve());
      let settled = false;
      sub.done.then(
        () => (settled = true),
        () => (settled = true),
      );
      await new Promise((r) => setTimeout(r, 1500));
      expect(settled).toBe(false);
      await sub.close();
      await expect(sub.done).resolves.toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('validates before any I/O, like the PostgreSQL adapter', async () => {
    const store = createEventStoreDbEventStore({ connectionString: 'esdb://127.0.0.1:1?tls=false' });
    try {
      await expect(store.appendToStream('$all', [newEvent('A')])).rejects.toThrow(/reserved/);
      await expect(store.appendToStream('s', [newEvent('$metadata')])).rejects.toThrow(/reserved/);
      await expect(store.appendToStream('s', [{ ...newEvent('A'), eventId: 'nope' }])).rejects.toThrow(/UUID/);
    } finally {
      await store.close();
    }
  });
});
