/**
 * The event-store port. Every write in Tradecore is an append through it; every read model and
 * every audit reads through it. Implemented by the PostgreSQL adapter (single-node default) and
 * the EventStoreDB adapter; both pass the same contract suite (contract.suite.ts).
 */

export type ExpectedRevision = bigint | 'no_stream' | 'stream_exists' | 'any';

export interface EventMetadata {
  correlationId: string;
  causationId: string | null;
  userId: number | null;
  /** When the fact happened, from the injected clock (ISO-8601 UTC). */
  occurredAt: string;
  schemaVersion: number;
  /**
   * Global position of the input event a handler was processing when it appended this event.
   * Handlers use it to skip inputs they have already turned into events (exactly-once effects).
   */
  inputPosition?: string;
  [key: string]: unknown;
}

export interface NewEvent {
  /** UUID; handlers derive it from the source event id so that a redelivery appends nothing. */
  eventId: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
}

export interface RecordedEvent {
  eventId: string;
  stream: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  /** 0-based revision of this event within its stream. */
  streamRevision: bigint;
  /**
   * Position in the global log; strictly increasing in the order readAll / subscribeToAll deliver.
   * Sparse in both adapters (PostgreSQL: transaction id × 1,000,000 + index; EventStoreDB: commit
   * position, a byte offset): compare positions, never count with them.
   */
  globalPosition: bigint;
  recordedAt: string;
}

export interface AppendResult {
  /** Revision of the last event now in the stream. */
  nextExpectedRevision: bigint;
  /** Global position of the last event written (or found, for an idempotent retry). */
  position: bigint;
}

export interface ReadStreamOptions {
  fromRevision?: bigint;
  direction?: 'forwards' | 'backwards';
  maxCount?: number;
}

/** One stream of a readStreams call: its events from fromRevision on, forwards, at most maxCount (default: all). */
export interface StreamRead {
  stream: string;
  fromRevision: bigint;
  maxCount?: number;
}

/** readAll returns at most maxCount events (default: all of them; page with fromPosition). */
export interface ReadAllOptions {
  /** Exclusive: events with globalPosition > fromPosition. Default 0n (from the start). */
  fromPosition?: bigint;
  maxCount?: number;
}

export interface SubscribeOptions {
  /** Exclusive checkpoint: delivery starts after this position. */
  fromPosition?: bigint;
  /** Only events of these types are delivered (checkpointing still advances past others). */
  eventTypes?: readonly string[];
  batchSize?: number;
}

export interface Subscription {
  /** Stops the subscription; resolves when the handler is no longer running. */
  close(): Promise<void>;
  /** Resolves when the subscription stopped; rejects with the handler's error if it threw. */
  readonly done: Promise<void>;
}

export type SubscriptionHandler = (events: readonly RecordedEvent[]) => Promise<void>;

/**
 * A recorded event whose data and metadata stay JSON texts, for a reader that only passes them on
 * (the relay splices them into its Kafka messages): nothing is parsed or serialised again.
 */
export interface RawRecordedEvent {
  eventId: string;
  stream: string;
  type: string;
  streamRevision: bigint;
  globalPosition: bigint;
  recordedAt: string;
  /** `data` as JSON text. The formatting (whitespace, key order) is the store's; the value is the event's. */
  dataJson: string;
  /** `metadata` as JSON text, formatted like dataJson. */
  metadataJson: string;
  /** The top-level `data` fields named in RawSubscribeOptions.fields, parsed; a field the data lacks, or whose value is null, is absent. */
  fields: Readonly<Record<string, unknown>>;
}

export interface RawSubscribeOptions extends SubscribeOptions {
  /** Top-level `data` fields to deliver parsed in RawRecordedEvent.fields (names: [A-Za-z_][A-Za-z0-9_]*). */
  fields?: readonly string[];
}

export type RawSubscriptionHandler = (events: readonly RawRecordedEvent[]) => Promise<void>;

export interface EventStore {
  /**
   * Appends atomically, all or nothing. expectedRevision defaults to 'any'; -1n is accepted as
   * 'no_stream'. Re-appending the same event ids at the same expected revision is a no-op that
   * returns the original result; an append whose ids only partly match stored ones is an
   * IdempotencyConflictError. Stream names and event types must not start with `$`.
   */
  appendToStream(
    stream: string,
    events: readonly NewEvent[],
    options?: { expectedRevision?: ExpectedRevision },
  ): Promise<AppendResult>;
  /** A stream's events (read-your-writes: includes everything committed). Unknown stream: []. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /**
   * Optional: several forward readStream calls in one round trip: result[i] holds reads[i]'s
   * events in revision order. A store offers it where one query can serve them all (PostgreSQL,
   * which then also reads them in one snapshot); callers use readStreamsForwards, which falls
   * back to one readStream per stream.
   */
  readStreams?(reads: readonly StreamRead[]): Promise<RecordedEvent[][]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** The highest global position readers can currently see. */
  headPosition(): Promise<bigint>;
  /**
   * Catch-up subscription to all events after a checkpoint: never skips, never repeats within
   * one run, keeps global order. The handler is awaited before the next batch is delivered.
   */
  subscribeToAll(handler: SubscriptionHandler, options?: SubscribeOptions): Subscription;
  /**
   * Optional: subscribeToAll with the same guarantees, delivering RawRecordedEvents. A store
   * offers it where it can hand out the stored JSON without parsing it (PostgreSQL); callers fall
   * back to subscribeToAll where it is missing.
   */
  subscribeToAllRaw?(handler: RawSubscriptionHandler, options?: RawSubscribeOptions): Subscription;
  close(): Promise<void>;
}

export class WrongExpectedRevisionError extends Error {
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    readonly actual: bigint | 'no_stream',
  ) {
    super(`stream ${stream}: expected revision ${String(expected)}, actual ${String(actual)}`);
    this.name = 'WrongExpectedRevisionError';
  }
}

/** Ids of an append partly match events already in the stream: neither a retry nor a new write. */
export class IdempotencyConflictError extends Error {
  constructor(
    readonly stream: string,
    readonly eventId: string,
  ) {
    super(`stream ${stream}: event ${eventId} conflicts with an earlier append`);
    this.name = 'IdempotencyConflictError';
  }
}

export class EventStoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EventStoreUnavailableError';
  }
}

/**
 * Each stream's events from its fromRevision on (at most its maxCount): one round trip where the
 * store offers readStreams, one readStream per stream (concurrently) otherwise.
 */
export function readStreamsForwards(store: EventStore, reads: readonly StreamRead[]): Promise<RecordedEvent[][]> {
  if (reads.length === 0) return Promise.resolve([]);
  if (store.readStreams) return store.readStreams(reads);
  return Promise.all(
    reads.map((r) => store.readStream(r.stream, { fromRevision: r.fromRevision, ...(r.maxCount !== undefined ? { maxCount: r.maxCount } : {}) })),
  );
}
