/**
 * PostgreSQL adapter of the EventStore port (the single-node default). See docs/event-store.md.
 *
 * - One statement per append: `append_events(...)` checks the expected revision against the
 *   stream head (row lock), extends the stream's hash chain and inserts all events at once.
 * - Global position = transaction id × 1,000,000 + index in the transaction. Readers only read
 *   positions below `pg_snapshot_xmin(pg_current_snapshot()) × 1,000,000`: every transaction
 *   below that has finished, so no lower position can ever appear later (no skipped events).
 * - Subscribers wake on LISTEN/NOTIFY (and in-process signals), with a polling fallback.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { canonicalize } from '../canonical-json.ts';
import {
  EventStoreUnavailableError,
  IdempotencyConflictError,
  WrongExpectedRevisionError,
  type AppendResult,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type RawRecordedEvent,
  type RawSubscribeOptions,
  type RawSubscriptionHandler,
  type ReadAllOptions,
  type ReadStreamOptions,
  type StreamRead,
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
import { isUniqueViolation, mapPgError, pgErrorCode } from './errors.ts';
import { migrateEventStore } from './migrate.ts';
import { assertSchemaName, notifyChannel, POSITIONS_PER_TRANSACTION, quoteIdent } from './schema.ts';

export interface PostgresEventStoreOptions {
  /** Either a connection string (the store owns its pool) or a pool (the caller owns it). */
  connectionString?: string;
  pool?: pg.Pool;
  /** PostgreSQL schema of the event tables. Default `event_store`. */
  schema?: string;
  /** Size of the store's own pool (with connectionString). Default 10. */
  poolSize?: number;
  /** Run migrations on start. Default true. */
  migrate?: boolean;
  /** Subscriptions poll at least this often even without notifications. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Send NOTIFY after appends so subscribers in other processes wake up. Default true. */
  notify?: boolean;
  /**
   * NOTIFYs are throttled: at most one per this delay (plus a round trip), carrying the highest
   * position appended meanwhile. Subscribers in this process are woken at once regardless.
   * Default 5 ms.
   */
  notifyDelayMs?: number;
  /**
   * Signs this store's NOTIFYs (payload `<position>/<instanceId>`), so that its own LISTEN skips
   * them: its subscribers were already woken in-process at the append, and the echo would only
   * make each of them read the log once more for nothing. Default: 16 random hex digits.
   */
  instanceId?: string;
  /**
   * Group commit (default on): appends that arrive while earlier ones are being written are sent
   * together, as one `append_batch` call in one transaction: one round trip, one commit, one WAL
   * flush for all of them. Each keeps its own expected-revision check and its own result. `false`
   * sends every append on its own.
   */
  groupCommit?: boolean | GroupCommitOptions;
}

export interface GroupCommitOptions {
  /**
   * Batches written at the same time, each on its own connection. Default 2: while one waits for
   * its WAL flush the next one is already being written.
   */
  maxInFlight?: number;
  /** Appends per batch at most. Default 256. */
  maxAppends?: number;
  /** Events per batch at most (an append larger than this is written alone). Default 10,000. */
  maxEvents?: number;
}

export interface ReadAllStreamOptions {
  /** Exclusive. Default 0n. */
  fromPosition?: bigint;
  /** Inclusive upper bound. Default: the visible head when the stream gets there. */
  toPosition?: bigint;
  /** Rows fetched per query (memory bound). Default 1000. */
  batchSize?: number;
}

export interface PostgresEventStore extends EventStore {
  readonly schema: string;
  readonly pool: pg.Pool;
  /** Resolves once migrations have run (every method waits for it anyway). */
  ready(): Promise<void>;
  /** What close() is waiting for, with the pool's and the append queue's state (reports of a slow close). */
  describeClose(): string;
  readStreams(reads: readonly StreamRead[]): Promise<RecordedEvent[][]>;
  /** Streaming, bounded-memory read of the global log in position order (auditors, exports). */
  readAllStream(options?: ReadAllStreamOptions): AsyncGenerator<RecordedEvent, void, undefined>;
  /**
   * Appends inside the caller's transaction (the caller commits). Subscribers in this process are
   * not signalled on commit: they pick the events up by polling or with the next notification,
   * or call `wakeSubscribers()` after committing.
   */
  appendToStreamInTransaction(
    client: pg.ClientBase,
    stream: string,
    events: readonly NewEvent[],
    options?: { expectedRevision?: ExpectedRevision },
  ): Promise<AppendResult>;
  /** Wakes this store's subscriptions and (with notify) the other processes' ones. */
  wakeSubscribers(position?: bigint): void;
  subscribeToAllRaw(handler: RawSubscriptionHandler, options?: RawSubscribeOptions): Subscription;
}

/**
 * An event row as read: an array in EVENT_COLUMNS order (`rowMode: 'array'`), because pg's
 * object rows cost a spread of a prebuilt object per row and named-key stores that show up in
 * the read path's CPU profile.
 */
type EventRow = [
  position: string,
  stream: string,
  revision: string,
  eventId: string,
  type: string,
  data: unknown,
  metadata: EventMetadata,
  recordedAt: string,
];

/**
 * `recorded_at` leaves PostgreSQL already in Date#toISOString() form (UTC, milliseconds truncated
 * like a JS Date truncates the microseconds, 'Z'), so node does not run pg's regex date parser and
 * build a Date per event only to format it again. to_char cannot produce toISOString's form
 * outside years 1–9999 (toISOString writes ±YYYYYY there; to_char drops the era), so those rows
 * come as plain timestamptz text and take the old parse-then-format path (isoFromRow).
 */
const RECORDED_AT_ISO = `case when recorded_at >= timestamptz '0001-01-01 00:00:00+00'
       and recorded_at < timestamptz '10000-01-01 00:00:00+00'
  then to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  else recorded_at::text end`;

const EVENT_COLUMNS = `position, stream, revision, event_id,
  type, data, metadata, ${RECORDED_AT_ISO} as recorded_at`;

/** pg's own timestamptz parser, for the rare out-of-range recorded_at (see RECORDED_AT_ISO). */
const parseTimestamptz = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ) as (text: string) => Date;

/**
 * Per-query type parsers for event rows. pg's defaults run a regex over every int8 (to decide
 * whether to keep the string, which for an int8 it always does) and call JSON.parse through a
 * bound function; the event columns need none of that: int8/text/uuid text is the value itself
 * (positions and revisions become BigInt once, in toRecorded), jsonb is JSON.parse. Anything else
 * keeps pg's parser.
 */
const keepText = (text: string): string => text;
const parseJson = (text: string): unknown => JSON.parse(text);
const TEXT_AS_IS = new Set<number>([pg.types.builtins.INT8, pg.types.builtins.TEXT, pg.types.builtins.UUID]);
const JSONB_OID: number = pg.types.builtins.JSONB;
const EVENT_ROW_TYPES = {
  getTypeParser(oid: number, format: 'text' | 'binary' = 'text'): (text: string) => unknown {
    if (format === 'text' && TEXT_AS_IS.has(oid)) return keepText;
    if (format === 'text' && oid === JSONB_OID) return parseJson;
    return pg.types.getTypeParser(oid, format) as (text: string) => unknown;
  },
};

function isoFromRow(text: string): string {
  // 'T' at index 10 only in the to_char form; timestamptz text has a space or a 5th+ year digit there.
  return text.charCodeAt(10) === 84 ? text : parseTimestamptz(text).toISOString();
}

function toRecorded(r: EventRow): RecordedEvent {
  return {
    eventId: r[3],
    stream: r[1],
    type: r[4],
    data: r[5],
    metadata: r[6],
    streamRevision: BigInt(r[2]),
    globalPosition: BigInt(r[0]),
    recordedAt: isoFromRow(r[7]),
  };
}

function modeOf(expected: ExpectedRevision): { mode: number; expected: string | null } {
  if (typeof expected === 'bigint') return { mode: 0, expected: expected.toString() };
  switch (expected) {
    case 'no_stream':
      return { mode: 1, expected: null };
    case 'any':
      return { mode: 2, expected: null };
    case 'stream_exists':
      return { mode: 3, expected: null };
  }
}

/**
 * What a NOTIFY on the store's channel says (`<position>/<instanceId>`): 'own' for one this store
 * sent (its subscribers were signalled in-process at the append), else the position, or undefined
 * where there is none to read (an older sender's bare position is still read; anything else still
 * wakes the subscribers).
 */
export function readNotification(payload: string | undefined, instanceId: string): bigint | undefined | 'own' {
  const text = payload ?? '';
  const slash = text.indexOf('/');
  if (slash >= 0 && text.slice(slash + 1) === instanceId) return 'own';
  const position = slash >= 0 ? text.slice(0, slash) : text;
  return /^\d{1,19}$/.test(position) ? BigInt(position) : undefined;
}

/** Wake-ups for subscriptions: a version counter (no lost wake-ups) plus the highest position heard of. */
class Signal {
  version = 0;
  hint = 0n;
  private waiters = new Set<() => void>();

  fire(position?: bigint): void {
    this.version++;
    if (position !== undefined && position > this.hint) this.hint = position;
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  /** Resolves after `ms`, or as soon as the signal fires after `since`. */
  wait(since: number, ms: number): Promise<void> {
    if (this.version !== since) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }
}

/**
 * Positions come from transaction ids, so they only grow while the cluster's transaction counter
 * does. A logical restore (pg_dump → a new cluster) restarts that counter below the positions
 * already stored; appending then would put new events *before* old ones. Refuse to start instead.
 */
async function assertTransactionIdsAhead(pool: pg.Pool, s: string): Promise<void> {
  const r = await pool.query<{ max_position: string | null; next_xid: string }>(
    `select (select max(position) from ${s}.events) as max_position,
            pg_snapshot_xmax(pg_current_snapshot())::text as next_xid`,
  );
  const row = r.rows[0];
  if (!row?.max_position) return;
  const highest = BigInt(row.max_position) / POSITIONS_PER_TRANSACTION;
  if (highest >= BigInt(row.next_xid)) {
    throw new Error(
      `event store ${s}: stored positions come from transaction id ${highest}, but this server's next ` +
        `transaction id is ${row.next_xid} (restored into a new cluster?). Advance the transaction id ` +
        `counter past ${highest} (pg_resetwal -x) before appending, or new events would sort before old ones.`,
    );
  }
}

export function createPostgresEventStore(options: PostgresEventStoreOptions): PostgresEventStore {
  const schema = options.schema ?? 'event_store';
  assertSchemaName(schema);
  if (!options.pool && !options.connectionString) {
    throw new TypeError('createPostgresEventStore: give a connectionString or a pool');
  }
  const ownsPool = !options.pool;
  const pool =
    options.pool ??
    new pg.Pool({ connectionString: options.connectionString, max: options.poolSize ?? 10, idleTimeoutMillis: 30_000 });
  if (ownsPool) pool.on('error', () => undefined); // idle-client errors: the next query reports them
  const s = quoteIdent(schema);
  const channel = notifyChannel(schema);
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const sendNotify = options.notify ?? true;
  const notifyDelayMs = options.notifyDelayMs ?? 5;
  const instanceId = options.instanceId ?? randomBytes(8).toString('hex');
  if (!/^[\w-]{1,64}$/.test(instanceId)) throw new RangeError('instanceId must be 1-64 letters, digits, _ or -');
  const bound = `(pg_snapshot_xmin(pg_current_snapshot())::text::bigint * ${POSITIONS_PER_TRANSACTION})`;

  // Pages of the global log pick their rows first (`select *`, ordered, limited) and compute the
  // columns (jsonb to text, timestamps, field lookups) only for the rows of the page. When the
  // planner misjudges how many rows lie past the cursor (no statistics yet: a new store, or the
  // first minute of a backlog), it reads them all with a bitmap scan and sorts for the limit; with
  // the columns computed in that scan, a 1,000-row page of a 14,000-row backlog took 24 ms instead
  // of 6 (2.4 with an index scan), and the relay's reads were the largest cost of a drain.
  const pageOfLog = (columns: string, where: string, limit: string): string =>
    `select ${columns} from (select * from ${s}.events where ${where} order by position limit ${limit}) e order by e.position`;

  // A page of the global log after $1 for subscriptions, `columns` per event; a left join, so that
  // with nothing to read one row of nulls still carries the reader's bound (its last column).
  const subscribeSql = (columns: string): string => `select ${columns}, b.bound::text as bound from (select ${bound} as bound) b
                  left join lateral (
                    select * from ${s}.events
                     where position > $1::bigint and position < b.bound
                       and ($3::text[] is null or type = any($3::text[]))
                     order by position limit $2::bigint) e on true
                  order by e.position`;

  const sql = {
    append: `select status, revision, last_position
               from ${s}.append_events($1::text, $2::smallint, $3::bigint, $4::text, $5::text, $6::json, $7::json, $8::json)`,
    appendBatch: `select k, status, revision::text as revision, last_position::text as last_position
                    from ${s}.append_batch($1::json)`,
    existing: `select event_id, stream, revision, position
                 from ${s}.events where event_id = any($1::uuid[])`,
    readAll: pageOfLog(EVENT_COLUMNS, `position > $1::bigint and position < ${bound}`, '$2::bigint'),
    readRange: pageOfLog(EVENT_COLUMNS, `position > $1::bigint and position <= $2::bigint and position < ${bound}`, '$3::bigint'),
    subscribe: subscribeSql(EVENT_COLUMNS),
    head: `select coalesce(max(position), 0)::text as head from ${s}.events where position < ${bound}`,
    streamForwards: `select ${EVENT_COLUMNS} from ${s}.events where stream = $1 and revision >= $2::bigint
                       order by revision limit $3::bigint`,
    // One lateral index scan per requested stream; the request's index comes last so the row's
    // first columns stay in EVENT_COLUMNS order.
    streamsForwards: `select e.*, r.i from unnest($1::text[], $2::bigint[], $3::bigint[]) with ordinality as r(req_stream, req_from, req_max, i)
                        cross join lateral (select ${EVENT_COLUMNS} from ${s}.events ev
                                             where ev.stream = r.req_stream and ev.revision >= r.req_from
                                             order by ev.revision limit r.req_max) e
                       order by r.i, e.revision`,
    streamBackwards: `select ${EVENT_COLUMNS} from ${s}.events where stream = $1 and revision <= $2::bigint
                        order by revision desc limit $3::bigint`,
  };
  const stmt = (name: string): string => `tc_es_${schema}_${name}`;

  let closed = false;
  let readyPromise: Promise<void> | undefined;
  const ready = (): Promise<void> => {
    if (closed) return Promise.reject(new Error('event store is closed'));
    readyPromise ??= (async () => {
      if (options.migrate !== false) await migrateEventStore(pool, schema);
      await assertTransactionIdsAhead(pool, s);
    })().then(
      () => undefined,
      (err: unknown) => {
        readyPromise = undefined; // retry on the next call
        throw mapPgError(err);
      },
    );
    return readyPromise;
  };
  // migrations run on start; failures surface on the first call
  ready().catch(() => undefined);

  const signal = new Signal();

  // ---- NOTIFY (throttled: at most one per notifyDelayMs + round trip, carrying the highest position) ----
  let pendingNotify: bigint | undefined;
  let notifyTimer: NodeJS.Timeout | undefined;
  let notifying: Promise<void> | undefined;
  const sendPendingNotify = async (): Promise<void> => {
    const p = pendingNotify;
    if (p === undefined) return;
    pendingNotify = undefined;
    try {
      // NOTIFY gives its transaction an xid, hence a commit record: don't wait for its WAL flush.
      // Named: parsed and planned once per connection (it runs up to every notifyDelayMs).
      await pool.query({ name: stmt('notify'), text: "select set_config('synchronous_commit', 'off', true), pg_notify($1, $2)", values: [channel, `${p}/${instanceId}`] });
    } catch {
      // subscribers still poll
    }
  };
  const scheduleNotify = (): void => {
    if (notifyTimer || notifying || closed || pendingNotify === undefined) return;
    notifyTimer = setTimeout(() => {
      notifyTimer = undefined;
      notifying = sendPendingNotify().finally(() => {
        notifying = undefined;
        scheduleNotify();
      });
    }, notifyDelayMs);
    notifyTimer.unref();
  };
  const wakeSubscribers = (position?: bigint): void => {
    signal.fire(position);
    // Once closing, the timer is not armed (scheduleNotify): close() sends the last position itself.
    if (!sendNotify) return;
    if (position !== undefined && (pendingNotify === undefined || position > pendingNotify)) pendingNotify = position;
    pendingNotify ??= 0n;
    scheduleNotify();
  };

  // ---- LISTEN (one connection per store, while subscriptions are active) ----
  /**
   * One checkout of the LISTEN connection. The pool hands the same client object out again after
   * a release, so "released already" belongs to the checkout, never to the client: a flag kept per
   * client once skipped the release of its second checkout, leaking a pool slot and hanging
   * pool.end() (test: postgres.test.ts, subscriptions that stop and start again).
   */
  interface ListenCheckout {
    client: pg.PoolClient;
    release(err?: Error): void;
  }
  let listener: ListenCheckout | undefined;
  let listening: Promise<void> | undefined;
  let activeSubscriptions = 0;
  let relistenTimer: NodeJS.Timeout | undefined;
  const onNotification = (msg: pg.Notification): void => {
    if (msg.channel !== channel) return;
    const heard = readNotification(msg.payload, instanceId);
    if (heard !== 'own') signal.fire(heard);
  };
  const scheduleRelisten = (): void => {
    relistenTimer ??= setTimeout(() => {
      relistenTimer = undefined;
      startListening();
    }, 1000);
  };
  const checkOut = (c: pg.PoolClient): ListenCheckout => {
    let released = false;
    const checkout: ListenCheckout = {
      client: c,
      release(err?: Error) {
        if (released) return;
        released = true;
        c.removeListener('notification', onNotification);
        c.removeListener('error', onError);
        c.release(err);
      },
    };
    function onError(err: Error): void {
      if (listener === checkout) listener = undefined;
      checkout.release(err);
      scheduleRelisten();
      signal.fire();
    }
    c.on('notification', onNotification);
    c.on('error', onError);
    return checkout;
  };
  const stopListening = (): void => {
    if (relistenTimer) clearTimeout(relistenTimer);
    relistenTimer = undefined;
    const l = listener;
    listener = undefined;
    if (l) {
      l.client.removeListener('notification', onNotification);
      l.client.query(`unlisten ${quoteIdent(channel)}`).then(
        () => l.release(),
        (err: Error) => l.release(err),
      );
    }
  };
  const startListening = (): void => {
    if (listener || listening || closed || activeSubscriptions === 0) return;
    listening = (async () => {
      let checkout: ListenCheckout | undefined;
      try {
        checkout = checkOut(await pool.connect());
        await checkout.client.query(`listen ${quoteIdent(channel)}`);
        if (closed || activeSubscriptions === 0) {
          checkout.client.removeListener('notification', onNotification);
          await checkout.client.query(`unlisten ${quoteIdent(channel)}`);
          checkout.release();
          return;
        }
        listener = checkout;
      } catch (err) {
        checkout?.release(err instanceof Error ? err : undefined);
        scheduleRelisten();
      } finally {
        listening = undefined;
      }
    })();
  };

  // ---- appends ----
  /**
   * Append arguments: ids comma-separated; types as a JSON array; data and metadata as JSON
   * arrays of RFC 8785 texts (joined, not re-escaped: the function hashes each element's text).
   */
  interface Prepared {
    ids: string[];
    idList: string;
    typeList: string;
    dataList: string;
    metadataList: string;
  }
  const prepare = (events: readonly NewEvent[]): Prepared => {
    const ids: string[] = [];
    const types: string[] = [];
    const data: string[] = [];
    const metadata: string[] = [];
    // The events one input decides share one metadata object: serialise it once per run of them
    // (normalizeEvents has checked every metadata is an object, so the first one always differs).
    let lastMetadata: unknown;
    let lastMetadataText = '';
    for (const e of events) {
      ids.push(e.eventId);
      types.push(e.type);
      data.push(canonicalize(e.data));
      if (e.metadata !== lastMetadata) {
        lastMetadata = e.metadata;
        lastMetadataText = canonicalize(e.metadata);
      }
      metadata.push(lastMetadataText);
    }
    return {
      ids,
      idList: ids.join(','),
      typeList: JSON.stringify(types),
      dataList: `[${data.join(',')}]`,
      metadataList: `[${metadata.join(',')}]`,
    };
  };

  const findExisting = async (q: pg.Pool | pg.ClientBase, ids: readonly string[]): Promise<ExistingEvent[]> => {
    const r = await q.query<{ event_id: string; stream: string; revision: string; position: string }>({
      name: stmt('existing'),
      text: sql.existing,
      values: [ids],
    });
    return r.rows.map((row) => ({
      eventId: row.event_id,
      stream: row.stream,
      streamRevision: BigInt(row.revision),
      globalPosition: BigInt(row.position),
    }));
  };

  const resolveConflict = async (
    q: pg.Pool | pg.ClientBase,
    stream: string,
    expected: ExpectedRevision,
    ids: readonly string[],
    actual: bigint | undefined,
  ): Promise<AppendResult | undefined> => {
    const verdict = judgeIdempotency(stream, expected, ids, await findExisting(q, ids));
    switch (verdict.kind) {
      case 'retry':
        return { nextExpectedRevision: verdict.nextExpectedRevision, position: verdict.position };
      case 'conflict':
        throw new IdempotencyConflictError(stream, verdict.eventId);
      case 'none':
        if (actual !== undefined) {
          throw new WrongExpectedRevisionError(stream, expected, actual < 0n ? 'no_stream' : actual);
        }
        return undefined;
    }
  };

  const callAppend = async (
    q: pg.Pool | pg.ClientBase,
    stream: string,
    expected: ExpectedRevision,
    p: Prepared,
  ): Promise<{ ok: true; result: AppendResult } | { ok: false; actual: bigint }> => {
    const { mode, expected: exp } = modeOf(expected);
    const r = await q.query<{ status: number; revision: string; last_position: string | null }>({
      name: stmt('append'),
      text: sql.append,
      values: [stream, mode, exp, JSON.stringify(stream), p.idList, p.typeList, p.dataList, p.metadataList],
    });
    const row = r.rows[0];
    if (!row) throw new Error('append_events returned no row');
    if (row.status === 0) {
      return {
        ok: true,
        result: { nextExpectedRevision: BigInt(row.revision), position: BigInt(row.last_position ?? '0') },
      };
    }
    return { ok: false, actual: BigInt(row.revision) };
  };

  /** One append in its own statement (and transaction): the path of every append without group commit. */
  const appendAlone = async (
    stream: string,
    expected: ExpectedRevision,
    p: Prepared,
    eventCount: number,
  ): Promise<AppendResult> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await callAppend(pool, stream, expected, p);
        if (r.ok) {
          if (eventCount > 0) wakeSubscribers(r.result.position);
          return r.result;
        }
        if (p.ids.length === 0) {
          throw new WrongExpectedRevisionError(stream, expected, r.actual < 0n ? 'no_stream' : r.actual);
        }
        const resolved = await resolveConflict(pool, stream, expected, p.ids, r.actual);
        if (resolved) return resolved;
      } catch (err) {
        if (isUniqueViolation(err, 'events_event_id_key') && attempt < 3) {
          const resolved = await resolveConflict(pool, stream, expected, p.ids, undefined);
          if (resolved) return resolved;
          continue; // the clashing event vanished (its transaction rolled back): try again
        }
        throw mapPgError(err);
      }
    }
  };

  // ---- group commit ----
  interface Queued {
    /** Arrival order. */
    seq: number;
    stream: string;
    expected: ExpectedRevision;
    p: Prepared;
    eventCount: number;
    resolve: (r: AppendResult) => void;
    reject: (err: unknown) => void;
  }
  const gc = options.groupCommit ?? true;
  let batching = gc !== false;
  const gcOptions: GroupCommitOptions = typeof gc === 'object' ? gc : {};
  const maxInFlight = Math.max(1, gcOptions.maxInFlight ?? 2);
  const maxAppends = Math.max(1, gcOptions.maxAppends ?? 256);
  const maxEvents = Math.max(1, gcOptions.maxEvents ?? 10_000);
  const queue: Queued[] = [];
  let inFlight = 0;
  let arrivals = 0;
  let flushScheduled = false;
  // Appends not settled yet (in their prologue, queued or being written): close() waits for them
  // before it ends the pool.
  let unsettled = 0;
  const settledWaiters: (() => void)[] = [];

  /** The batch argument: one JSON array, built by concatenation so that canonical texts stay byte-exact. */
  const batchJson = (batch: readonly Queued[]): string => {
    const parts: string[] = [];
    batch.forEach((q, k) => {
      const { mode, expected } = modeOf(q.expected);
      const streamJson = JSON.stringify(q.stream);
      parts.push(
        `{"k":${k},"s":${streamJson},"sj":${streamJson},"m":${mode},"e":${expected ?? 'null'},` +
          `"i":"${q.p.idList}","t":${q.p.typeList},"d":${q.p.dataList},"md":${q.p.metadataList}}`,
      );
    });
    return `[${parts.join(',')}]`;
  };

  /** Settles one batched append from its status row, after the batch committed. */
  const settle = async (q: Queued, row: { status: number; revision: string | null; last_position: string | null }): Promise<AppendResult> => {
    switch (row.status) {
      case 0:
        return { nextExpectedRevision: BigInt(row.revision ?? '-1'), position: BigInt(row.last_position ?? '0') };
      case 1: {
        const actual = BigInt(row.revision ?? '-1');
        if (q.p.ids.length === 0) throw new WrongExpectedRevisionError(q.stream, q.expected, actual < 0n ? 'no_stream' : actual);
        const resolved = await resolveConflict(pool, q.stream, q.expected, q.p.ids, actual);
        return resolved ?? appendAlone(q.stream, q.expected, q.p, q.eventCount);
      }
      case 2: {
        const resolved = await resolveConflict(pool, q.stream, q.expected, q.p.ids, undefined);
        return resolved ?? appendAlone(q.stream, q.expected, q.p, q.eventCount);
      }
      default:
        // status 3: its stream was written by a newer transaction; alone, it gets a newer one.
        return appendAlone(q.stream, q.expected, q.p, q.eventCount);
    }
  };

  const writeBatch = async (batch: Queued[]): Promise<void> => {
    let rows: { k: number; status: number; revision: string | null; last_position: string | null }[];
    try {
      const r = await pool.query<{ k: number; status: number; revision: string | null; last_position: string | null }>({
        name: stmt('append_batch'),
        text: sql.appendBatch,
        values: [batchJson(batch)],
      });
      rows = r.rows;
    } catch (err) {
      const mapped = mapPgError(err);
      if (mapped instanceof EventStoreUnavailableError) {
        // Committed or not, nobody knows; every append reports it (a retry with the same ids is safe).
        for (const q of batch) q.reject(mapped);
        return;
      }
      // Nothing of the batch was committed. One append's problem (an event id inserted by a
      // concurrent transaction, a deadlock, too many events) must not fail the others: each
      // append now runs alone and meets only its own outcome.
      // They go one after the other in arrival order, as if never batched (appends to one stream
      // that depend on each other keep succeeding).
      if (pgErrorCode(err) === '42883') batching = false; // no append_batch (store not migrated): stop batching
      for (const q of [...batch].sort((a, b) => a.seq - b.seq)) {
        await appendAlone(q.stream, q.expected, q.p, q.eventCount).then(q.resolve, q.reject);
      }
      return;
    }
    let highest: bigint | undefined;
    for (const row of rows) {
      const q = batch[row.k];
      if (!q) continue;
      if (row.status === 0 && q.eventCount > 0) {
        const position = BigInt(row.last_position ?? '0');
        if (highest === undefined || position > highest) highest = position;
      }
      settle(q, row).then(q.resolve, (e: unknown) => q.reject(mapPgError(e)));
    }
    if (highest !== undefined) wakeSubscribers(highest);
    if (rows.length !== batch.length) {
      const answered = new Set(rows.map((r) => r.k));
      batch.forEach((q, k) => {
        if (!answered.has(k)) q.reject(new Error('append_batch returned no row for an append'));
      });
    }
  };

  const flush = (): void => {
    flushScheduled = false;
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch: Queued[] = [];
      let events = 0;
      while (queue.length > 0 && batch.length < maxAppends) {
        const next = queue[0];
        if (!next || (batch.length > 0 && events + next.eventCount > maxEvents)) break;
        queue.shift();
        batch.push(next);
        events += next.eventCount;
      }
      // Heads are locked in stream order, so two batches in flight never wait on each other in a
      // cycle; appends to one stream keep their arrival order (the sort is stable).
      batch.sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
      inFlight++;
      void writeBatch(batch)
        .catch((err: unknown) => {
          // writeBatch settles every append itself; this only keeps a bug from leaving one hanging.
          for (const q of batch) q.reject(err);
        })
        .finally(() => {
          inFlight--;
          scheduleFlush();
        });
    }
  };
  const scheduleFlush = (): void => {
    if (flushScheduled || queue.length === 0 || inFlight >= maxInFlight) return;
    flushScheduled = true;
    // After the current I/O phase: the requests read in it join the same batch.
    setImmediate(flush);
  };

  /** Both append paths: validate the stream and events, encode them once, wait for migrations. */
  const prepareAppend = async (
    stream: string,
    events: readonly NewEvent[],
    opts: { expectedRevision?: ExpectedRevision } | undefined,
  ): Promise<{ expected: ReturnType<typeof normalizeExpected>; p: Prepared; eventCount: number }> => {
    assertStreamName(stream);
    const normalized = normalizeEvents(stream, events);
    const expected = normalizeExpected(opts?.expectedRevision);
    const p = prepare(normalized);
    await ready();
    return { expected, p, eventCount: normalized.length };
  };

  const appendToStream = async (
    stream: string,
    events: readonly NewEvent[],
    opts?: { expectedRevision?: ExpectedRevision },
  ): Promise<AppendResult> => {
    // Counted from the first synchronous step: close() must wait for an append that is still in
    // its prologue (validation, migrations) as much as for one already queued or being written.
    unsettled++;
    try {
      const { expected, p, eventCount } = await prepareAppend(stream, events, opts);
      // While close() waits, appends still join batches: the flush runs until the pool ends.
      if (!batching || eventCount === 0 || eventCount > maxEvents) {
        return await appendAlone(stream, expected, p, eventCount);
      }
      return await new Promise<AppendResult>((resolve, reject) => {
        queue.push({ seq: arrivals++, stream, expected, p, eventCount, resolve, reject });
        scheduleFlush();
      });
    } finally {
      unsettled--;
      if (unsettled === 0) for (const wake of settledWaiters.splice(0)) wake();
    }
  };

  const appendToStreamInTransaction = async (
    client: pg.ClientBase,
    stream: string,
    events: readonly NewEvent[],
    opts?: { expectedRevision?: ExpectedRevision },
  ): Promise<AppendResult> => {
    const { expected, p } = await prepareAppend(stream, events, opts);
    try {
      // Check ids first: a unique violation would abort the caller's transaction.
      if (p.ids.length > 0) {
        const resolved = await resolveConflict(client, stream, expected, p.ids, undefined);
        if (resolved) return resolved;
      }
      const r = await callAppend(client, stream, expected, p);
      if (r.ok) return r.result;
      throw new WrongExpectedRevisionError(stream, expected, r.actual < 0n ? 'no_stream' : r.actual);
    } catch (err) {
      throw mapPgError(err);
    }
  };

  // ---- reads ----
  const query = async <R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]): Promise<R[]> => {
    await ready();
    try {
      const r = await pool.query<R>({ name: stmt(name), text, values });
      return r.rows;
    } catch (err) {
      throw mapPgError(err);
    }
  };

  /** Event rows as arrays (see EventRow); extra columns follow the event columns. */
  const queryEvents = async <R extends unknown[] = EventRow>(name: string, text: string, values: unknown[]): Promise<R[]> => {
    await ready();
    try {
      const r = await pool.query<R>({ name: stmt(name), text, values, rowMode: 'array', types: EVENT_ROW_TYPES });
      return r.rows;
    } catch (err) {
      throw mapPgError(err);
    }
  };

  const readStream = async (stream: string, opts?: ReadStreamOptions): Promise<RecordedEvent[]> => {
    assertStreamName(stream);
    assertCount('maxCount', opts?.maxCount);
    const backwards = opts?.direction === 'backwards';
    const from = opts?.fromRevision ?? (backwards ? 9223372036854775807n : 0n);
    const limit = opts?.maxCount === undefined ? null : String(opts.maxCount);
    const rows = await queryEvents(
      backwards ? 'stream_bwd' : 'stream_fwd',
      backwards ? sql.streamBackwards : sql.streamForwards,
      [stream, from.toString(), limit],
    );
    return rows.map(toRecorded);
  };

  const readStreams = async (reads: readonly StreamRead[]): Promise<RecordedEvent[][]> => {
    for (const r of reads) {
      assertStreamName(r.stream);
      assertCount('maxCount', r.maxCount);
    }
    const out: RecordedEvent[][] = reads.map(() => []);
    if (reads.length === 0) return out;
    const rows = await queryEvents<[...EventRow, string]>('streams_fwd', sql.streamsForwards, [
      reads.map((r) => r.stream),
      reads.map((r) => r.fromRevision.toString()),
      reads.map((r) => (r.maxCount === undefined ? null : String(r.maxCount))),
    ]);
    for (const row of rows) out[Number(row[8]) - 1]!.push(toRecorded(row as unknown as EventRow));
    return out;
  };

  const readAll = async (opts?: ReadAllOptions): Promise<RecordedEvent[]> => {
    assertCount('maxCount', opts?.maxCount);
    const from = opts?.fromPosition ?? 0n;
    const limit = opts?.maxCount === undefined ? null : String(opts.maxCount);
    const rows = await queryEvents('read_all', sql.readAll, [from.toString(), limit]);
    return rows.map(toRecorded);
  };

  async function* readAllStream(opts?: ReadAllStreamOptions): AsyncGenerator<RecordedEvent, void, undefined> {
    const batchSize = opts?.batchSize ?? 1000;
    assertCount('batchSize', batchSize);
    if (batchSize < 1) throw new RangeError('batchSize must be at least 1');
    const to = (opts?.toPosition ?? 9223372036854775807n).toString();
    const limit = String(batchSize);
    const page = (after: string): Promise<EventRow[]> => {
      const p = queryEvents('read_range', sql.readRange, [after, to, limit]);
      // A prefetched page the consumer never asks for (it stopped early) must not become an
      // unhandled rejection; a page that is awaited still throws below.
      p.catch(() => undefined);
      return p;
    };
    let pending = page((opts?.fromPosition ?? 0n).toString());
    for (;;) {
      const rows = await pending;
      const last = rows[rows.length - 1];
      const more = last !== undefined && rows.length === batchSize;
      // Prefetch: PostgreSQL reads the next page on another connection while the consumer works
      // through this one, so the two overlap instead of taking turns. At most two pages are held.
      if (more) pending = page(last[0]);
      for (const row of rows) yield toRecorded(row);
      if (!more) return;
    }
  }

  const headPosition = async (): Promise<bigint> => {
    const rows = await query<{ head: string }>('head', sql.head, []);
    return BigInt(rows[0]?.head ?? '0');
  };

  // ---- subscriptions ----
  const subscriptions = new Set<{ close(): Promise<void> }>();

  /**
   * The catch-up loop shared by subscribeToAll and subscribeToAllRaw: `read(cursor)` returns one
   * page of subscribeSql's rows as arrays (the reader's bound last); `toEvent` turns an event row
   * into what the handler gets.
   */
  const subscribeRows = <E extends { globalPosition: bigint }>(
    read: (cursor: bigint, batchSize: number, types: string[] | null) => Promise<unknown[][]>,
    toEvent: (row: unknown[]) => E,
    handler: (events: E[]) => Promise<void>,
    opts: SubscribeOptions | undefined,
  ): Subscription => {
    const batchSize = opts?.batchSize ?? 500;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
    const types = opts?.eventTypes ? [...opts.eventTypes] : null;
    let cursor = opts?.fromPosition ?? 0n;
    let stopped = false;

    const run = async (): Promise<void> => {
      let backoff = 0;
      while (!stopped) {
        const since = signal.version;
        let rows: unknown[][];
        try {
          rows = await read(cursor, batchSize, types);
        } catch (err) {
          // The database is away: keep the position and try again; anything else stops us.
          if (!(err instanceof EventStoreUnavailableError) || stopped || closed) throw err;
          await signal.wait(since, pollIntervalMs);
          continue;
        }
        if (stopped) return;
        const first = rows[0];
        const boundary = BigInt((first?.[first.length - 1] as string | null | undefined) ?? '0') - 1n;
        const events: E[] = [];
        for (const r of rows) if ((r[0] as string | null) !== null) events.push(toEvent(r));
        if (events.length > 0) {
          await handler(events);
          const last = events[events.length - 1];
          if (last) cursor = last.globalPosition;
        }
        if (events.length >= batchSize) continue;
        // Everything below the boundary has been read: no lower position can appear any more.
        if (boundary > cursor) cursor = boundary;
        if (stopped) return;
        if (signal.hint > cursor) {
          // Committed events we cannot see yet: an older transaction is still open. Re-poll soon.
          backoff = backoff === 0 ? 2 : Math.min(backoff * 2, pollIntervalMs);
          await signal.wait(since, backoff);
          continue;
        }
        backoff = 0;
        await signal.wait(since, pollIntervalMs);
      }
    };

    activeSubscriptions++;
    startListening();
    const done = (async () => {
      try {
        await run();
      } finally {
        activeSubscriptions--;
        if (activeSubscriptions === 0) stopListening();
      }
    })();
    done.catch((err: unknown) => {
      if (!stopped) console.error('[event-store] subscription stopped:', err);
    });
    const sub = {
      done,
      close: async (): Promise<void> => {
        stopped = true;
        signal.fire();
        subscriptions.delete(sub);
        await done.catch(() => undefined);
      },
    };
    subscriptions.add(sub);
    return sub;
  };

  const subscribeToAll = (handler: SubscriptionHandler, opts?: SubscribeOptions): Subscription =>
    subscribeRows(
      (cursor, batchSize, types) => queryEvents<unknown[]>('subscribe', sql.subscribe, [cursor.toString(), String(batchSize), types]),
      (r) => toRecorded(r as unknown as EventRow),
      handler,
      opts,
    );

  // One statement per field list (the fields are columns of the query), named after its index here.
  const rawStatements = new Map<string, { name: string; text: string }>();
  const rawStatement = (fields: readonly string[]): { name: string; text: string } => {
    const key = fields.join(',');
    let st = rawStatements.get(key);
    if (!st) {
      for (const f of fields) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(f)) throw new TypeError(`invalid data field name ${JSON.stringify(f)}`);
      const picked = fields.map((f, i) => `, data -> '${f}' as f${i}`).join('');
      st = {
        name: `subscribe_raw_${rawStatements.size}`,
        text: subscribeSql(
          `position, stream, revision, event_id, type, data::text as data_json, metadata::text as metadata_json, ${RECORDED_AT_ISO} as recorded_at${picked}`,
        ),
      };
      rawStatements.set(key, st);
    }
    return st;
  };

  const subscribeToAllRaw = (handler: RawSubscriptionHandler, opts?: RawSubscribeOptions): Subscription => {
    const fields = opts?.fields ? [...opts.fields] : [];
    const st = rawStatement(fields);
    return subscribeRows(
      (cursor, batchSize, types) => queryEvents<unknown[]>(st.name, st.text, [cursor.toString(), String(batchSize), types]),
      (r): RawRecordedEvent => {
        // A field's column is jsonb (parsed); null: the data has no such field, or it is null there.
        const picked: Record<string, unknown> = {};
        for (let i = 0; i < fields.length; i++) {
          const v = r[8 + i];
          if (v !== null) picked[fields[i]!] = v;
        }
        return {
          globalPosition: BigInt(r[0] as string),
          stream: r[1] as string,
          streamRevision: BigInt(r[2] as string),
          eventId: r[3] as string,
          type: r[4] as string,
          dataJson: r[5] as string,
          metadataJson: r[6] as string,
          recordedAt: isoFromRow(r[7] as string),
          fields: picked,
        };
      },
      handler,
      opts,
    );
  };

  // Where close() is, for a report when it takes long (describeClose()).
  let closeStage = 'open';
  let closing: Promise<void> | undefined;
  const closeOnce = async (): Promise<void> => {
    closeStage = `waiting for ${subscriptions.size} subscription handler(s) to return`;
    await Promise.all([...subscriptions].map((sub) => sub.close()));
    closed = true;
    if (unsettled > 0) {
      closeStage = `waiting for ${unsettled} unsettled append(s)`;
      await new Promise<void>((resolve) => settledWaiters.push(resolve));
    }
    if (notifyTimer) clearTimeout(notifyTimer);
    notifyTimer = undefined;
    closeStage = 'sending the last NOTIFY';
    await notifying?.catch(() => undefined);
    await sendPendingNotify(); // the last appends' wake-up for other processes
    closeStage = 'stopping LISTEN';
    await listening?.catch(() => undefined);
    stopListening();
    if (ownsPool) {
      closeStage = 'ending the pool (waits for every checked-out client to be released)';
      await pool.end();
    }
    closeStage = 'closed';
  };
  // Idempotent: a second caller (a signal handler beside a test's teardown) shares the first close.
  const close = (): Promise<void> => (closing ??= closeOnce());
  const describeClose = (): string =>
    `${closeStage}; pool ${pool.totalCount} clients, ${pool.idleCount} idle, ${pool.waitingCount} waiting; ` +
    `${subscriptions.size} subscriptions, ${unsettled} unsettled appends, ${queue.length} queued, ${inFlight} batches in flight`;

  return {
    schema,
    pool,
    ready,
    appendToStream,
    appendToStreamInTransaction,
    readStream,
    readStreams,
    readAll,
    readAllStream,
    headPosition,
    subscribeToAll,
    subscribeToAllRaw,
    wakeSubscribers,
    close,
    describeClose,
  };
}
