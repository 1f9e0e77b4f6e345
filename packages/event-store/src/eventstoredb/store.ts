/**
 * EventStoreDB adapter of the EventStore port, over @eventstore/db-client (gRPC).
 *
 * - Global position = the commit position of the event in $all (a bigint, sparse: byte offsets).
 * - Only Tradecore events are visible through readAll / headPosition / subscribeToAll: system
 *   events (types starting with `$`, e.g. `$metadata`, `$>`, `$statsCollected`) are filtered out
 *   (server-side with an event-type regex filter for subscriptions).
 * - Errors are mapped to the port's: WrongExpectedVersionError → WrongExpectedRevisionError, a
 *   partly matching idempotent retry → IdempotencyConflictError, unavailable / deadline errors →
 *   EventStoreUnavailableError.
 * - Hash chains and seals are PostgreSQL features: EventStoreDB's own log is the source of truth
 *   here (see docs/event-store.md).
 */
import {
  ANY,
  BACKWARDS,
  END,
  ErrorType,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  convertToCommandError,
  eventTypeFilter,
  isCommandError,
  jsonEvent,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendExpectedRevision,
  type JSONType,
  type Position,
  type ReadPosition,
  type ResolvedEvent,
} from '@eventstore/db-client';
import {
  EventStoreUnavailableError,
  IdempotencyConflictError,
  WrongExpectedRevisionError,
  type AppendResult,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionHandler,
} from '../port.ts';
import {
  assertCount,
  assertStreamName,
  judgeIdempotency,
  normalizeEvents,
  normalizeExpected,
  type ExistingEvent,
} from '../validate.ts';

export interface EventStoreDbEventStoreOptions {
  /** e.g. `esdb://127.0.0.1:2113?tls=false`. Either this or a client (the caller owns it). */
  connectionString?: string;
  client?: EventStoreDBClient;
}

type AnyResolved = AllStreamResolvedEvent | ResolvedEvent;

/** Pause before resubscribing after the server became unavailable. */
const RESUBSCRIBE_MS = 1000;

function isTradecoreEvent(r: AnyResolved): boolean {
  const e = r.event;
  return e !== undefined && !e.type.startsWith('$') && !e.streamId.startsWith('$');
}

function decode(value: unknown, isJson: boolean): unknown {
  if (isJson || !(value instanceof Uint8Array)) return value;
  const text = Buffer.from(value).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function toRecorded(r: AnyResolved): RecordedEvent {
  const e = r.event;
  if (!e) throw new Error('unresolved link event');
  const position = e.position?.commit ?? r.commitPosition;
  if (position === undefined) throw new Error(`event ${e.id} has no commit position`);
  return {
    eventId: e.id.toLowerCase(),
    stream: e.streamId,
    type: e.type,
    data: decode(e.data, e.isJson),
    metadata: decode(e.metadata, e.isJson) as EventMetadata,
    streamRevision: e.revision,
    globalPosition: position,
    recordedAt: e.created.toISOString(),
  };
}

function toReadPosition(p: bigint): ReadPosition {
  return p <= 0n ? START : ({ commit: p, prepare: p } satisfies Position);
}

function toAppendExpected(expected: ExpectedRevision): AppendExpectedRevision {
  if (typeof expected === 'bigint') return expected;
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
  }
}

function errorType(err: unknown): ErrorType | undefined {
  if (!(err instanceof Error)) return undefined;
  // some calls reject with the raw gRPC error: convert it the way the client does
  const converted = isCommandError(err) ? err : convertToCommandError(err);
  return converted instanceof Error && isCommandError(converted) ? converted.type : undefined;
}

function mapError(err: unknown): unknown {
  switch (errorType(err)) {
    case ErrorType.UNAVAILABLE:
    case ErrorType.DEADLINE_EXCEEDED:
    case ErrorType.TIMEOUT:
    case ErrorType.NOT_LEADER:
      return new EventStoreUnavailableError(
        `EventStoreDB unavailable: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    default:
      return err;
  }
}

export interface EventStoreDbEventStore extends EventStore {
  readonly client: EventStoreDBClient;
}

export function createEventStoreDbEventStore(options: EventStoreDbEventStoreOptions): EventStoreDbEventStore {
  if (!options.client && !options.connectionString) {
    throw new TypeError('createEventStoreDbEventStore: give a connectionString or a client');
  }
  const ownsClient = !options.client;
  const client = options.client ?? EventStoreDBClient.connectionString(options.connectionString ?? '');
  const subscriptions = new Set<{ close(): Promise<void> }>();

  const readStreamRaw = async (
    stream: string,
    opts: { fromRevision?: bigint; direction?: 'forwards' | 'backwards'; maxCount?: number },
  ): Promise<RecordedEvent[]> => {
    const backwards = opts.direction === 'backwards';
    const out: RecordedEvent[] = [];
    try {
      const read = client.readStream(stream, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision: opts.fromRevision ?? (backwards ? END : START),
        ...(opts.maxCount !== undefined ? { maxCount: opts.maxCount } : {}),
      });
      for await (const r of read) {
        if (r.event) out.push(toRecorded(r));
      }
    } catch (err) {
      if (errorType(err) === ErrorType.STREAM_NOT_FOUND) return [];
      throw mapError(err);
    }
    return out;
  };

  const existingInStream = async (
    stream: string,
    expected: ExpectedRevision,
    ids: readonly string[],
  ): Promise<ExistingEvent[]> => {
    const from = typeof expected === 'bigint' ? expected + 1n : 0n;
    const wanted = new Set(ids);
    const found = await readStreamRaw(stream, { fromRevision: from, maxCount: ids.length });
    return found
      .filter((e) => wanted.has(e.eventId))
      .map((e) => ({
        eventId: e.eventId,
        stream: e.stream,
        streamRevision: e.streamRevision,
        globalPosition: e.globalPosition,
      }));
  };

  const positionOfRevision = async (stream: string, revision: bigint): Promise<bigint> => {
    const [e] = await readStreamRaw(stream, { fromRevision: revision, maxCount: 1 });
    return e?.globalPosition ?? 0n;
  };

  const appendToStream = async (
    stream: string,
    events: readonly NewEvent[],
    opts?: { expectedRevision?: ExpectedRevision },
  ): Promise<AppendResult> => {
    assertStreamName(stream);
    const normalized = normalizeEvents(stream, events);
    const expected = normalizeExpected(opts?.expectedRevision);
    const ids = normalized.map((e) => e.eventId);
    const mismatch = async (actual: bigint | 'no_stream'): Promise<AppendResult> => {
      if (ids.length > 0) {
        const verdict = judgeIdempotency(stream, expected, ids, await existingInStream(stream, expected, ids));
        switch (verdict.kind) {
          case 'retry':
            return { nextExpectedRevision: verdict.nextExpectedRevision, position: verdict.position };
          case 'conflict':
            throw new IdempotencyConflictError(stream, verdict.eventId);
          case 'none':
            break;
        }
      }
      throw new WrongExpectedRevisionError(stream, expected, actual);
    };
    if (normalized.length === 0) {
      // EventStoreDB has no "append nothing": check the expected revision by reading the head.
      const [last] = await readStreamRaw(stream, { direction: 'backwards', maxCount: 1 });
      const actual = last ? last.streamRevision : 'no_stream';
      const ok =
        expected === 'any' ||
        (expected === 'no_stream' && actual === 'no_stream') ||
        (expected === 'stream_exists' && actual !== 'no_stream') ||
        expected === actual;
      if (!ok) throw new WrongExpectedRevisionError(stream, expected, actual);
      return { nextExpectedRevision: last?.streamRevision ?? -1n, position: last?.globalPosition ?? 0n };
    }
    try {
      const result = await client.appendToStream(
        stream,
        normalized.map((e) =>
          jsonEvent({ id: e.eventId, type: e.type, data: e.data as JSONType, metadata: e.metadata }),
        ),
        { expectedRevision: toAppendExpected(expected) },
      );
      if (!result.success) {
        return await mismatch(result.nextExpectedRevision < 0n ? 'no_stream' : result.nextExpectedRevision);
      }
      // An idempotent retry is answered without a position: look the original one up.
      const position =
        result.position?.commit ?? (await positionOfRevision(stream, result.nextExpectedRevision));
      return { nextExpectedRevision: result.nextExpectedRevision, position };
    } catch (err) {
      if (err instanceof Error && isCommandError(err) && err.type === ErrorType.WRONG_EXPECTED_VERSION) {
        return mismatch(err.actualVersion);
      }
      throw mapError(err);
    }
  };

  const readStream = async (stream: string, opts?: ReadStreamOptions): Promise<RecordedEvent[]> => {
    assertStreamName(stream);
    assertCount('maxCount', opts?.maxCount);
    if (opts?.maxCount === 0) return [];
    return readStreamRaw(stream, {
      ...(opts?.fromRevision !== undefined ? { fromRevision: opts.fromRevision } : {}),
      ...(opts?.direction ? { direction: opts.direction } : {}),
      ...(opts?.maxCount !== undefined ? { maxCount: opts.maxCount } : {}),
    });
  };

  const readAll = async (opts?: ReadAllOptions): Promise<RecordedEvent[]> => {
    assertCount('maxCount', opts?.maxCount);
    const from = opts?.fromPosition ?? 0n;
    const max = opts?.maxCount ?? Number.MAX_SAFE_INTEGER;
    const out: RecordedEvent[] = [];
    if (max === 0) return out;
    try {
      const read = client.readAll({ fromPosition: toReadPosition(from), direction: FORWARDS });
      for await (const r of read) {
        if (!isTradecoreEvent(r)) continue;
        const e = toRecorded(r);
        if (e.globalPosition <= from) continue; // fromPosition is exclusive
        out.push(e);
        if (out.length >= max) {
          await read.cancel();
          break;
        }
      }
    } catch (err) {
      throw mapError(err);
    }
    return out;
  };

  const headPosition = async (): Promise<bigint> => {
    try {
      const read = client.readAll({ fromPosition: END, direction: BACKWARDS });
      for await (const r of read) {
        if (isTradecoreEvent(r)) {
          const p = toRecorded(r).globalPosition;
          await read.cancel();
          return p;
        }
      }
      return 0n;
    } catch (err) {
      throw mapError(err);
    }
  };

  const subscribeToAll = (handler: SubscriptionHandler, opts?: SubscribeOptions): Subscription => {
    const batchSize = opts?.batchSize ?? 500;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
    const from = opts?.fromPosition ?? 0n;
    const escape = (t: string): string => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const regex = opts?.eventTypes
      ? `^(?:${opts.eventTypes.map(escape).join('|')})$`
      : '^[^$]'; // everything but system events
    let cursor = from;
    let stopped = false;
    let sub: AllStreamSubscription | undefined;
    const queue: RecordedEvent[] = [];
    let wake: (() => void) | undefined;
    let failure: unknown;
    let ended = false;
    const poke = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };

    const open = (): AllStreamSubscription => {
      failure = undefined;
      ended = false;
      const s = client.subscribeToAll({ fromPosition: toReadPosition(cursor), filter: eventTypeFilter({ regex }) });
      s.on('data', (r: AllStreamResolvedEvent) => {
        if (!isTradecoreEvent(r)) return;
        const e = toRecorded(r);
        if (e.globalPosition <= cursor) return; // exclusive start; never repeat
        cursor = e.globalPosition;
        queue.push(e);
        if (queue.length >= batchSize * 4) s.pause();
        poke();
      });
      s.on('error', (err: Error) => {
        failure = mapError(err);
        poke();
      });
      s.on('end', () => {
        ended = true;
        poke();
      });
      return s;
    };

    const run = async (): Promise<void> => {
      sub = open();
      while (!stopped) {
        if (queue.length === 0) {
          if (failure !== undefined) {
            // The server went away: keep the position, resubscribe after it (like the PostgreSQL
            // adapter's polling). Anything else stops the subscription.
            if (!(failure instanceof EventStoreUnavailableError)) throw failure as Error;
            await sub.unsubscribe().catch(() => undefined);
            await new Promise<void>((resolve) => {
              wake = resolve;
              setTimeout(resolve, RESUBSCRIBE_MS);
            });
            if (stopped) return;
            sub = open();
            continue;
          }
          if (ended) return;
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          continue;
        }
        const batch = queue.splice(0, batchSize);
        await handler(batch);
        if (queue.length < batchSize * 2 && sub.isPaused()) sub.resume();
      }
    };

    const done = (async () => {
      try {
        await run();
      } finally {
        await sub?.unsubscribe().catch(() => undefined);
      }
    })();
    done.catch((err: unknown) => {
      if (!stopped) console.error('[event-store] EventStoreDB subscription stopped:', err);
    });
    const handle = {
      done,
      close: async (): Promise<void> => {
        stopped = true;
        poke();
        subscriptions.delete(handle);
        await sub?.unsubscribe().catch(() => undefined);
        await done.catch(() => undefined);
      },
    };
    subscriptions.add(handle);
    return handle;
  };

  const close = async (): Promise<void> => {
    await Promise.all([...subscriptions].map((s) => s.close()));
    if (ownsClient) await client.dispose();
  };

  return { client, appendToStream, readStream, readAll, headPosition, subscribeToAll, close };
}
