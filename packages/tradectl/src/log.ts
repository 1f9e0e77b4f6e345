/**
 * Bounded-memory reads of the global log in position order. For the PostgreSQL store the filter is
 * pushed down into keyset-paginated SQL (below the visible bound, like the store's own reads);
 * for any other adapter `readAllStream` (when it has one) or paged `readAll` is filtered in
 * TypeScript.
 */
import { parseEvent, recordedSchemaVersion, type TradecoreEvent } from '@tradecore/core-domain';
import type { EventMetadata, RecordedEvent } from '@tradecore/event-store';
import { POSITIONS_PER_TRANSACTION } from '@tradecore/event-store';
import type { Connection, PostgresConnection } from './connect.ts';
import { badData } from './errors.ts';
import { eventTimeMs, filterSql, matchesFilter, type EventFilter } from './filter.ts';

/** The typed event of a recorded one; one the event catalogue cannot read is bad data (exit 65). */
export function parseLogged(e: RecordedEvent): TradecoreEvent {
  try {
    return parseEvent(e.type, recordedSchemaVersion(e.metadata), e.data);
  } catch (err) {
    throw badData(`event ${e.stream}@${e.streamRevision} (position ${e.globalPosition}) cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export const VISIBLE_BOUND_SQL = `(pg_snapshot_xmin(pg_current_snapshot())::text::bigint * ${POSITIONS_PER_TRANSACTION})`;

export interface ScanOptions {
  /** Rows per query; default 2000. */
  batchSize?: number;
  /** Called after each page with the last position read (matching or not, when known). */
  onPage?: (lastPosition: bigint, rows: number) => void;
}

interface Row {
  position: string;
  stream: string;
  revision: string;
  event_id: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  recorded_at: Date;
}

export function rowToEvent(r: Row): RecordedEvent {
  return {
    eventId: r.event_id,
    stream: r.stream,
    type: r.type,
    data: r.data,
    metadata: r.metadata,
    streamRevision: BigInt(r.revision),
    globalPosition: BigInt(r.position),
    recordedAt: r.recorded_at.toISOString(),
  };
}

export const EVENT_SELECT = `e.position::text as position, e.stream, e.revision::text as revision, e.event_id::text as event_id,
  e.type, e.data, e.metadata, e.recorded_at`;

async function* scanPostgres(conn: PostgresConnection, f: EventFilter, options: ScanOptions): AsyncGenerator<RecordedEvent> {
  const batch = options.batchSize ?? 2000;
  const values: unknown[] = [];
  const conds = filterSql(f, values);
  const cursorParam = values.length + 1;
  const toParam = values.length + 2;
  const limitParam = values.length + 3;
  const text = `select ${EVENT_SELECT} from "${conn.schema}".events e
     where e.position > $${cursorParam}::bigint and e.position <= $${toParam}::bigint and e.position < ${VISIBLE_BOUND_SQL}
     ${conds.map((c) => `and ${c}`).join(' ')}
     order by e.position limit $${limitParam}::bigint`;
  let cursor = f.fromPosition !== undefined && f.fromPosition > 0n ? f.fromPosition - 1n : 0n;
  const to = f.toPosition ?? 9223372036854775807n;
  for (;;) {
    const r = await conn.pool.query<Row>(text, [...values, cursor.toString(), to.toString(), String(batch)]);
    for (const row of r.rows) {
      const e = rowToEvent(row);
      if (matchesFilter(f, e)) yield e;
    }
    const last = r.rows[r.rows.length - 1];
    if (last) options.onPage?.(BigInt(last.position), r.rows.length);
    if (!last || r.rows.length < batch) return;
    cursor = BigInt(last.position);
  }
}

async function* scanGeneric(conn: Connection, f: EventFilter, options: ScanOptions): AsyncGenerator<RecordedEvent> {
  const batch = options.batchSize ?? 2000;
  let cursor = f.fromPosition !== undefined && f.fromPosition > 0n ? f.fromPosition - 1n : 0n;
  const withStream = conn.store as { readAllStream?: (o: { fromPosition?: bigint; toPosition?: bigint; batchSize?: number }) => AsyncIterable<RecordedEvent> };
  if (typeof withStream.readAllStream === 'function') {
    let n = 0;
    for await (const e of withStream.readAllStream({ fromPosition: cursor, toPosition: f.toPosition, batchSize: batch })) {
      if (f.toPosition !== undefined && e.globalPosition > f.toPosition) return;
      if (++n % batch === 0) options.onPage?.(e.globalPosition, batch);
      if (matchesFilter(f, e)) yield e;
    }
    return;
  }
  for (;;) {
    const page = await conn.store.readAll({ fromPosition: cursor, maxCount: batch });
    for (const e of page) {
      if (f.toPosition !== undefined && e.globalPosition > f.toPosition) return;
      if (matchesFilter(f, e)) yield e;
    }
    const last = page[page.length - 1];
    if (last) options.onPage?.(last.globalPosition, page.length);
    if (!last || page.length < batch) return;
    cursor = last.globalPosition;
  }
}

/** Matching events in global position order, read page by page. */
export function scan(conn: Connection, f: EventFilter, options: ScanOptions = {}): AsyncGenerator<RecordedEvent> {
  return conn.kind === 'postgres' ? scanPostgres(conn, f, options) : scanGeneric(conn, f, options);
}

/** Events in [from, to] positions (inclusive) — how many, for progress bars; undefined when unknown. */
export async function countEvents(conn: Connection, from?: bigint, to?: bigint): Promise<number | undefined> {
  if (conn.kind !== 'postgres') return undefined;
  const r = await conn.pool.query<{ n: string }>(
    `select count(*)::text as n from "${conn.schema}".events where position >= $1::bigint and position <= $2::bigint and position < ${VISIBLE_BOUND_SQL}`,
    [(from ?? 0n).toString(), (to ?? 9223372036854775807n).toString()],
  );
  return Number(r.rows[0]?.n ?? '0');
}

/** The first event (lowest position) of a stream, or undefined. */
export async function firstOfStream(conn: Connection, stream: string): Promise<RecordedEvent | undefined> {
  const events = await conn.store.readStream(stream, { maxCount: 1 });
  return events[0];
}

/** All events of a stream in revision order, page by page. */
export async function* readStreamPaged(conn: Connection, stream: string, pageSize = 1000): AsyncGenerator<RecordedEvent> {
  let from = 0n;
  for (;;) {
    const page = await conn.store.readStream(stream, { fromRevision: from, maxCount: pageSize });
    for (const e of page) yield e;
    const last = page[page.length - 1];
    if (!last || page.length < pageSize) return;
    from = last.streamRevision + 1n;
  }
}

/**
 * The position of the state "as of" a time: the last event before the first one whose time
 * (metadata.occurredAt, else recordedAt) is after `ms`. 0n when the log starts after `ms`.
 */
export async function positionAtTime(conn: Connection, ms: number, options: ScanOptions = {}): Promise<{ position: bigint; nextPosition: bigint | null }> {
  let last = 0n;
  if (conn.kind === 'postgres') {
    const batch = options.batchSize ?? 20_000;
    let cursor = 0n;
    for (;;) {
      const r = await conn.pool.query<{ position: string; occurred: string | null; recorded_at: Date }>(
        `select e.position::text as position, e.metadata->>'occurredAt' as occurred, e.recorded_at from "${conn.schema}".events e
          where e.position > $1::bigint and e.position < ${VISIBLE_BOUND_SQL} order by e.position limit $2::bigint`,
        [cursor.toString(), String(batch)],
      );
      for (const row of r.rows) {
        let t = row.occurred === null ? Number.NaN : Date.parse(row.occurred);
        if (Number.isNaN(t)) t = row.recorded_at.getTime();
        const p = BigInt(row.position);
        if (t > ms) return { position: last, nextPosition: p };
        last = p;
      }
      const tail = r.rows[r.rows.length - 1];
      if (tail) options.onPage?.(BigInt(tail.position), r.rows.length);
      if (!tail || r.rows.length < batch) return { position: last, nextPosition: null };
      cursor = BigInt(tail.position);
    }
  }
  for await (const e of scan(conn, {}, options)) {
    if (eventTimeMs(e) > ms) return { position: last, nextPosition: e.globalPosition };
    last = e.globalPosition;
  }
  return { position: last, nextPosition: null };
}
