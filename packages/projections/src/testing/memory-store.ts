/**
 * An in-memory EventStore: the whole port, kept in an array. Tests use it to feed recorded
 * histories with exact, known positions (including gaps) to the runner and the rebuild.
 */
import {
  WrongExpectedRevisionError,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionHandler,
} from '@tradecore/event-store';

export class InMemoryEventStore implements EventStore {
  private readonly log: RecordedEvent[] = [];
  private readonly waiters = new Set<() => void>();

  /** A store holding already-recorded events (positions kept as they are). */
  static of(events: readonly RecordedEvent[]): InMemoryEventStore {
    const store = new InMemoryEventStore();
    store.load(events);
    return store;
  }

  /** Adds recorded events as they are (they must continue the log in position order). */
  load(events: readonly RecordedEvent[]): void {
    for (const e of events) {
      const last = this.log[this.log.length - 1];
      if (last && e.globalPosition <= last.globalPosition) throw new Error('load: positions must increase');
      this.log.push(e);
    }
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  async appendToStream(stream: string, events: readonly NewEvent[], options: { expectedRevision?: ExpectedRevision } = {}): Promise<AppendResult> {
    const existing = this.log.filter((e) => e.stream === stream);
    const actual = existing.length === 0 ? 'no_stream' : BigInt(existing.length - 1);
    const expected = options.expectedRevision ?? 'any';
    const ok =
      expected === 'any' ||
      (expected === 'no_stream' && actual === 'no_stream') ||
      (expected === 'stream_exists' && actual !== 'no_stream') ||
      (typeof expected === 'bigint' && actual === expected);
    if (!ok) throw new WrongExpectedRevisionError(stream, expected, actual);
    let revision = actual === 'no_stream' ? -1n : actual;
    let position = this.log[this.log.length - 1]?.globalPosition ?? 0n;
    for (const e of events) {
      revision += 1n;
      position += 1n;
      this.log.push({ eventId: e.eventId, stream, type: e.type, data: e.data, metadata: e.metadata, streamRevision: revision, globalPosition: position, recordedAt: new Date().toISOString() });
    }
    this.wake();
    return { nextExpectedRevision: revision, position };
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    let events = this.log.filter((e) => e.stream === stream && e.streamRevision >= (options.fromRevision ?? 0n));
    if (options.direction === 'backwards') events = events.reverse();
    return options.maxCount === undefined ? events : events.slice(0, options.maxCount);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const from = options.fromPosition ?? 0n;
    const out: RecordedEvent[] = [];
    const max = options.maxCount ?? Number.MAX_SAFE_INTEGER;
    // binary search for the first position > from
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.log[mid]?.globalPosition ?? 0n) <= from) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.log.length && out.length < max; i += 1) {
      const e = this.log[i];
      if (e) out.push(e);
    }
    return out;
  }

  async headPosition(): Promise<bigint> {
    return this.log[this.log.length - 1]?.globalPosition ?? 0n;
  }

  subscribeToAll(handler: SubscriptionHandler, options: SubscribeOptions = {}): Subscription {
    let closed = false;
    let wakeUp: (() => void) | undefined;
    const waitForMore = () =>
      new Promise<void>((resolve) => {
        wakeUp = resolve;
        this.waiters.add(resolve);
      });
    const done = (async () => {
      let position = options.fromPosition ?? 0n;
      while (!closed) {
        const batch = await this.readAll({ fromPosition: position, maxCount: options.batchSize ?? 100 });
        if (batch.length === 0) {
          await waitForMore();
          if (wakeUp) this.waiters.delete(wakeUp);
          continue;
        }
        const last = batch[batch.length - 1];
        const types = options.eventTypes;
        const delivered = types ? batch.filter((e) => types.includes(e.type)) : batch;
        if (delivered.length > 0) await handler(delivered);
        if (last) position = last.globalPosition;
      }
    })();
    return {
      done,
      close: async () => {
        closed = true;
        wakeUp?.();
        await done.catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    this.wake();
  }
}
