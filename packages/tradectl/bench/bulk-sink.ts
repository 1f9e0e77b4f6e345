/**
 * A Sink for the simulator that writes straight into the PostgreSQL event tables — the bench's way
 * of making a million events quickly. It does what `append_events` does, in bulk: per-stream hash
 * chains (computed here with the event store's own hash functions), positions = transaction id ×
 * 10^6 + index (taken in short transactions, so other readers' visibility bound keeps moving), one
 * multi-row `insert ... select from unnest(...)` per 5,000 events, and the stream heads at the end.
 */
import type pg from 'pg';
import { canonicalEventJsonFromParts, canonicalize, eventHash, GENESIS_HASH, POSITIONS_PER_TRANSACTION, type NewEvent } from '@tradecore/event-store';
import type { Sink, SinkResult } from '../src/testing/simulator.ts';

interface Head {
  revision: bigint;
  hash: Buffer;
  position: bigint;
}

export class BulkSink implements Sink {
  private client: pg.PoolClient | undefined;
  /** Inserts and commits in flight (not awaited: generation goes on meanwhile), oldest first. */
  private inflight: Promise<unknown>[] = [];
  private failure: unknown;
  private base = 0n;
  private offset = 0;
  private readonly heads = new Map<string, Head>();
  private rows: { position: string[]; stream: string[]; revision: string[]; id: string[]; type: string[]; data: string[]; metadata: string[]; hash: Buffer[]; recordedAt: string[] } = BulkSink.empty();
  written = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly now: () => string,
    private readonly schema = 'event_store',
    private readonly perTransaction = 5_000,
    private readonly perStatement = 5_000,
  ) {}

  private static empty() {
    return { position: [], stream: [], revision: [], id: [], type: [], data: [], metadata: [], hash: [], recordedAt: [] };
  }

  /** Queues a statement on the current transaction's connection without waiting for it. */
  private enqueue(p: Promise<unknown>): void {
    const tracked = p.catch((err: unknown) => {
      this.failure ??= err;
    });
    this.inflight.push(tracked);
  }

  private async throttle(max: number): Promise<void> {
    while (this.inflight.length > max) await this.inflight.shift();
    if (this.failure) throw this.failure instanceof Error ? this.failure : new Error('bulk insert failed', { cause: this.failure });
  }

  private async rotate(): Promise<void> {
    this.flush();
    const old = this.client;
    if (old) this.enqueue(old.query('commit').finally(() => old.release()));
    await this.throttle(8);
    this.client = await this.pool.connect();
    await this.client.query('begin');
    const r = await this.client.query<{ x: string }>('select pg_current_xact_id()::text as x');
    this.base = BigInt(r.rows[0]?.x ?? '0') * POSITIONS_PER_TRANSACTION;
    this.offset = 0;
  }

  async append(stream: string, events: NewEvent[]): Promise<SinkResult> {
    if (!this.client || this.offset + events.length > this.perTransaction) await this.rotate();
    const recordedAt = this.now();
    const positions: bigint[] = [];
    const streamJson = JSON.stringify(stream);
    let head = this.heads.get(stream);
    for (const e of events) {
      const revision = (head?.revision ?? -1n) + 1n;
      const data = canonicalize(e.data);
      const metadata = canonicalize(e.metadata);
      const hash = eventHash(head?.hash ?? GENESIS_HASH, canonicalEventJsonFromParts(data, e.eventId, metadata, streamJson, revision, JSON.stringify(e.type)));
      const position = this.base + BigInt(this.offset++);
      positions.push(position);
      const r = this.rows;
      r.position.push(position.toString());
      r.stream.push(stream);
      r.revision.push(revision.toString());
      r.id.push(e.eventId);
      r.type.push(e.type);
      r.data.push(data);
      r.metadata.push(metadata);
      r.hash.push(hash);
      r.recordedAt.push(recordedAt);
      head = { revision, hash, position };
    }
    if (head) this.heads.set(stream, head);
    this.written += events.length;
    if (this.rows.id.length >= this.perStatement) {
      this.flush();
      await this.throttle(8);
    }
    return { positions, recordedAt };
  }

  private flush(): void {
    const r = this.rows;
    if (r.id.length === 0 || !this.client) return;
    this.rows = BulkSink.empty();
    // pg runs a connection's queries in order: the transaction's inserts stay ordered.
    this.enqueue(this.client.query(
      `insert into "${this.schema}".events (position, stream, revision, event_id, type, data, metadata, hash, recorded_at)
       select * from unnest($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::jsonb[], $7::jsonb[], $8::bytea[], $9::timestamptz[])`,
      [r.position, r.stream, r.revision, r.id, r.type, r.data, r.metadata, r.hash, r.recordedAt],
    ));
  }

  /** Commits the last transaction and writes every stream head. */
  async finish(): Promise<void> {
    this.flush();
    const last = this.client;
    this.client = undefined;
    if (last) this.enqueue(last.query('commit').finally(() => last.release()));
    await this.throttle(0);
    const entries = [...this.heads.entries()];
    for (let i = 0; i < entries.length; i += 20_000) {
      const chunk = entries.slice(i, i + 20_000);
      await this.pool.query(
        `insert into "${this.schema}".streams (stream, revision, last_position, last_hash)
         select * from unnest($1::text[], $2::bigint[], $3::bigint[], $4::bytea[])
         on conflict (stream) do update set revision = excluded.revision, last_position = excluded.last_position, last_hash = excluded.last_hash`,
        [chunk.map(([s]) => s), chunk.map(([, h]) => h.revision.toString()), chunk.map(([, h]) => h.position.toString()), chunk.map(([, h]) => h.hash)],
      );
    }
  }
}
