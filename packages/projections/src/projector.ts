/**
 * The projector: `apply(batch)` folds recorded events into the read models of one schema and moves
 * the checkpoint in the same transaction. It is the single entry point for every event source
 * (the in-process subscription of single-node mode, the Kafka consumer, the rebuild).
 *
 * Guarantees:
 * - idempotent: events at or below the checkpoint are skipped, a batch is sorted and de-duplicated,
 *   so duplicates and redelivery count nothing twice;
 * - atomic: read models and checkpoint commit together or not at all (a crash in between leaves
 *   both as they were, and the batch is applied again on redelivery);
 * - never wedged by a recorded event: an event that fails its schema (`kind = 'schema'`), carries an
 *   amount the read models cannot hold exactly (`'value'`) is recorded in `projection_errors` and
 *   skipped; one that refers to an order or market the read models do not know (`'reference'`) is
 *   recorded there too, and its other effects (balances, tape, candles) are still applied.
 *   Only infrastructure failures (the database) make apply() throw; the batch can then be retried.
 * - serialised per schema by an advisory lock, which the rebuild's swap also takes.
 */
import type pg from 'pg';
import type { RecordedEvent } from '@tradecore/event-store';
import { Gauge, type Registry } from 'prom-client';
import { BatchFold, FINAL_STATUSES, UNREAD_EVENT_TYPES, fastParseRecorded, loadKeys, orderAverageFillPrice, parseRecorded, positionAveragePrice, positionId, type AmendStatus, type MarketRow, type OrderRow, type OrderStatus, type ParseOutcome, type ParsedEvent, type PositionRow } from './fold.ts';
import { CHECKPOINT_NAME, migrateSchema } from './migrations.ts';
import { fmt, fmtOrNull, signedUnits, units } from './money.ts';
import { bulkInsertSql, combineWrites, copyRows, ident, literal, lockKeySql, prepared, type Column, type Queryable, type WriteStatement } from './sql.ts';

export const NOTIFY_CHANNEL = 'tradecore_readmodel';
/** PostgreSQL rejects NOTIFY payloads of 8000 bytes or more. */
const MAX_PAYLOAD = 7900;

/**
 * Payload of `pg_notify('tradecore_readmodel', ...)` after each committed batch. `position` is a
 * decimal string (a bigint). When the id lists would not fit a NOTIFY payload they are empty and
 * `overflow` is true: listeners must then treat every market and user as changed.
 */
export interface ReadModelNotification {
  schema: string;
  position: string;
  markets: number[];
  users: number[];
  overflow?: true;
}

export interface ProjectorOptions {
  pool: pg.Pool;
  /** Read-model schema; default `readmodel`. */
  schema?: string;
  /** Send a NOTIFY after each committed batch (default true). The rebuild's shadow schema sets false. */
  notify?: boolean;
  channel?: string;
  /** Registers `projection_position{schema}`. */
  registry?: Registry;
  /**
   * Keep markets, orders and positions in memory between batches instead of loading them each
   * time. Only for a schema this projector writes alone (a replay's or rebuild's schema); bounded
   * by `cacheMaxEntries` (default 500,000: past it the cache starts afresh).
   */
  cache?: boolean;
  /**
   * Keep markets, orders and positions in memory between live batches too, for a schema that
   * other projectors may also write (taking turns under the advisory lock). A batch trusts them
   * only when the checkpoint it reads under the lock is the one this projector committed last, in
   * the same checkpoint table (a rebuild's swap puts a new one in place): otherwise someone else
   * wrote in between and they are dropped first. Any failed batch drops them too. Orders leave it
   * once final (filled, cancelled, rejected, expired): no later event changes them, and one that
   * names them anyway loads the row. So it holds the open orders, the markets and the positions,
   * and is bounded by `cacheMaxEntries` (default 100,000 here) on top of that.
   */
  liveCache?: boolean;
  cacheMaxEntries?: number;
  /**
   * `false` commits batches with `synchronous_commit = off`: a crash may lose the last batches,
   * which is fine for a replay or rebuild schema (it is rebuilt anyway), never for the live one.
   */
  synchronousCommit?: boolean;
}

export interface ApplyResult {
  /** The checkpoint after the batch. */
  position: bigint;
  /** Events folded (including those recorded as errors). */
  applied: number;
  /** Events at or below the checkpoint, or repeated within the batch. */
  skipped: number;
  /** Rows written to projection_errors. */
  errors: number;
  markets: number[];
  users: number[];
}

export interface Projector {
  readonly schema: string;
  /** Creates the schema and applies pending migrations (idempotent). */
  migrate(): Promise<void>;
  /** Applies a batch in its own transaction; see the module comment for the guarantees. */
  apply(events: readonly RecordedEvent[]): Promise<ApplyResult>;
  /** The same, inside a transaction the caller owns (the rebuild's swap uses it). */
  applyInTransaction(client: Queryable, events: readonly RecordedEvent[]): Promise<ApplyResult>;
  /** The checkpoint: the last global position applied. */
  position(): Promise<bigint>;
  /** Pipelined bulk apply for replays (needs `cache: true`); see replayPipeline in the source. */
  replayPipeline(options?: ReplayPipelineOptions): ReplayPipeline;
}

export interface ReplayPipelineOptions {
  /**
   * The schema's read-model tables were created empty for this replay and nothing else writes
   * them: a row this pipeline has not written yet is appended with COPY instead of upserted.
   */
  emptySchema?: boolean;
  /**
   * With emptySchema: the schema is still being created (empty, checkpoint 0) and is ready when
   * this settles. Batches are folded meanwhile; the first write waits for it (and fails with it).
   */
  ready?: Promise<unknown>;
}

export interface ReplayPipeline {
  /** Folds a batch and queues its write; resolves with the batch's error count once the previous write is done. */
  push(events: readonly RecordedEvent[]): Promise<number>;
  /** Waits for every queued write; the checkpoint reached. */
  finish(): Promise<bigint>;
}

/** Market, order and position rows by key: a projector's cache, or the rows a batch folded. */
interface RowCache {
  markets: Map<number, MarketRow>;
  orders: Map<string, OrderRow>;
  positions: Map<string, PositionRow>;
}

interface Folded extends RowCache {
  fold: BatchFold;
}

export function positionGauge(registry: Registry): Gauge<'schema'> {
  const existing = registry.getSingleMetric('projection_position');
  if (existing) return existing as Gauge<'schema'>;
  return new Gauge({ name: 'projection_position', help: 'Last global event position applied to the read models', labelNames: ['schema'], registers: [registry] });
}

/** The caches each registry's `projection_cached_rows` reports, by schema (the latest projector's). */
const cachesByRegistry = new WeakMap<Registry, Map<string, RowCache>>();

/** `projection_cached_rows{schema,kind}`: rows a projector's cache holds, read at each scrape. */
function registerCachedRows(registry: Registry, schema: string, cache: RowCache): void {
  let caches = cachesByRegistry.get(registry);
  if (!caches) {
    const bySchema = new Map<string, RowCache>();
    cachesByRegistry.set(registry, (caches = bySchema));
    new Gauge({
      name: 'projection_cached_rows',
      help: 'Read-model rows a projector keeps in memory between batches (markets, open orders, positions)',
      labelNames: ['schema', 'kind'],
      registers: [registry],
      collect() {
        for (const [name, c] of bySchema) {
          this.set({ schema: name, kind: 'markets' }, c.markets.size);
          this.set({ schema: name, kind: 'orders' }, c.orders.size);
          this.set({ schema: name, kind: 'positions' }, c.positions.size);
        }
      },
    });
  }
  caches.set(schema, cache);
}

export function createProjector(options: ProjectorOptions): Projector {
  const schema = options.schema ?? 'readmodel';
  const s = ident(schema);
  const notify = options.notify ?? true;
  const channel = options.channel ?? NOTIFY_CHANNEL;
  const gauge = options.registry ? positionGauge(options.registry) : undefined;
  const pool = options.pool;
  const liveCache = options.liveCache === true && options.cache !== true;
  const cache: RowCache | undefined = options.cache || liveCache ? { markets: new Map(), orders: new Map(), positions: new Map() } : undefined;
  const cacheMax = options.cacheMaxEntries ?? (liveCache ? 100_000 : 500_000);
  if (cache && options.registry) registerCachedRows(options.registry, schema, cache);
  /**
   * liveCache: `<checkpoint table oid>:<position>` that this projector committed last with the
   * cache in step with the schema; undefined while a batch is in flight or after a failure.
   */
  let cachedAt: string | undefined;
  /**
   * True while the cache holds every market, order and position row of the schema: a replay
   * pipeline into an empty schema starts so (and folds straight into the cache, loading nothing);
   * clearing the cache ends it.
   */
  let cacheComplete = false;
  const clearCache = () => {
    cacheComplete = false;
    cache?.markets.clear();
    cache?.orders.clear();
    cache?.positions.clear();
  };

  /** Sorted, de-duplicated events after `checkpoint`. */
  function freshAfter(events: readonly RecordedEvent[], checkpoint: bigint): RecordedEvent[] {
    // The usual case (a page of the log): already strictly ascending, all after the checkpoint.
    let ascending = true;
    let previous = checkpoint;
    for (const e of events) {
      if (e.globalPosition <= previous) {
        ascending = false;
        break;
      }
      previous = e.globalPosition;
    }
    if (ascending) return events.slice();
    const sorted = [...events].sort((a, b) => (a.globalPosition < b.globalPosition ? -1 : a.globalPosition > b.globalPosition ? 1 : 0));
    const fresh: RecordedEvent[] = [];
    let last = checkpoint;
    for (const e of sorted) {
      if (e.globalPosition > last) {
        fresh.push(e);
        last = e.globalPosition;
      }
    }
    return fresh;
  }

  /**
   * Parses (fastParseRecorded, core-domain's fastParseEvent, first; zod where it is unsure: it
   * accepts only what zod accepts, whatever the events' source, and the fold only reads the data it
   * shares), loads what the fold needs (cache first) and folds; `yieldEvery` lets I/O run in
   * between. `into`: fold on into an earlier batch's fold, not yet written, as if both were one batch.
   */
  async function foldEvents(db: Queryable, fresh: readonly RecordedEvent[], yieldEvery = 0, into?: Folded): Promise<Folded> {
    const complete = cache !== undefined && cacheComplete && (into === undefined || into.orders === cache.orders);
    // An event-loop turn every `yieldEvery` events (not an await per event: each costs a promise
    // and a microtask, which showed in the replay's CPU and allocation profiles).
    const every = yieldEvery > 0 ? yieldEvery : Infinity;
    const breathe = () => new Promise<void>((resolve) => setImmediate(resolve));
    const outcomes: ParseOutcome[] = [];
    let i = 0;
    for (const e of fresh) {
      if (!UNREAD_EVENT_TYPES.has(e.type)) {
        const parsed = fastParseRecorded(e);
        outcomes.push(parsed ? { ok: true, parsed } : parseRecorded(e));
      }
      if (++i % every === 0) await breathe();
    }
    if (complete) {
      // Nothing to load: a row that is not in the cache is not in the schema either.
      const fold = into?.fold ?? new BatchFold(cache.markets, cache.orders, cache.positions);
      i = 0;
      for (const o of outcomes) {
        if (o.ok) fold.apply(o.parsed);
        else fold.recordError(o.error);
        if (++i % every === 0) await breathe();
      }
      return { fold, markets: cache.markets, orders: cache.orders, positions: cache.positions };
    }
    const parsed: ParsedEvent[] = [];
    for (const o of outcomes) if (o.ok) parsed.push(o.parsed);
    const keys = loadKeys(parsed);
    const markets = into?.markets ?? new Map<number, MarketRow>();
    const orders = into?.orders ?? new Map<string, OrderRow>();
    const positions = into?.positions ?? new Map<string, PositionRow>();
    if (cache) {
      for (const id of keys.marketIds) {
        const m = cache.markets.get(id);
        if (m) {
          markets.set(id, m);
          keys.marketIds.delete(id);
        }
      }
      for (const id of keys.orderIds) {
        const o = cache.orders.get(id);
        if (o) {
          orders.set(id, o);
          keys.orderIds.delete(id);
        }
      }
      for (const [id] of keys.positionKeys) {
        const p = cache.positions.get(id);
        if (p) {
          positions.set(id, p);
          keys.positionKeys.delete(id);
        }
      }
    }
    // One connection, one query at a time.
    for (const [k, v] of await loadMarkets(db, s, [...keys.marketIds])) markets.set(k, v);
    for (const [k, v] of await loadOrders(db, s, [...keys.orderIds])) orders.set(k, v);
    for (const [k, v] of await loadPositions(db, s, [...keys.positionKeys.values()])) positions.set(k, v);
    const fold = into?.fold ?? new BatchFold(markets, orders, positions);
    i = 0;
    for (const o of outcomes) {
      if (o.ok) fold.apply(o.parsed);
      else fold.recordError(o.error);
      if (++i % every === 0) await breathe();
    }
    return { fold, markets, orders, positions };
  }

  /** `mayClear`: false in the replay pipeline, which clears the cache itself once no write is in flight. */
  function remember(f: Folded, mayClear = true): void {
    if (!cache || f.orders === cache.orders) return;
    if (mayClear && cache.orders.size + f.orders.size > cacheMax) clearCache();
    for (const [k, v] of f.markets) cache.markets.set(k, v);
    // Live: a final order is written and forgotten. Before, every order stayed until the whole
    // cache was dropped at cacheMaxEntries: the heap grew by ~0.8 KB per order placed, then fell.
    // (Not with `cache`: there a row missing from a complete cache means a row not in the schema.)
    for (const [k, v] of f.orders) {
      if (liveCache && FINAL_STATUSES.has(v.status)) cache.orders.delete(k);
      else cache.orders.set(k, v);
    }
    for (const [k, v] of f.positions) cache.positions.set(k, v);
  }

  function resultOf(fresh: readonly RecordedEvent[], skipped: number, checkpoint: bigint, fold: BatchFold): ApplyResult {
    return {
      position: checkpoint,
      applied: fresh.length,
      skipped,
      errors: fold.errors.length,
      markets: [...fold.touchedMarkets].sort((a, b) => a - b),
      users: [...fold.touchedUsers].sort((a, b) => a - b),
    };
  }

  async function applyInTransaction(db: Queryable, events: readonly RecordedEvent[]): Promise<ApplyResult> {
    return (await applyTx(db, events)).result;
  }

  const checkpointSql = (name: string, table: string): string =>
    `select pg_advisory_xact_lock(${lockKeySql(schema)}), (select position::text from ${s}.projection_checkpoint where name = ${name} for update) as position,
            to_regclass(${table})::oid::text as cp_table`;
  /**
   * apply()'s transaction opening and the checkpoint read under the lock in one round trip: simple
   * protocol (no parameters), so several statements can go in one query; the values are literals.
   */
  const openingSql = [
    'begin',
    ...(options.synchronousCommit === false ? ['set local synchronous_commit = off'] : []),
    checkpointSql(literal(CHECKPOINT_NAME), literal(`${s}.projection_checkpoint`)),
  ].join(';\n');

  /** applyInTransaction()'s: the caller's transaction is open; a named statement with parameters. */
  const checkpointText = checkpointSql('$1', '$2');

  type CheckpointRow = { position: string | null; cp_table: string | null };

  /**
   * `at`: the checkpoint (table oid and position) the batch leaves, for the live cache. `opening`:
   * the caller's transaction is not open yet, and the checkpoint read opens it (apply()).
   */
  async function applyTx(db: Queryable, events: readonly RecordedEvent[], opening = false): Promise<{ result: ApplyResult; at: string }> {
    let cp: pg.QueryResult<CheckpointRow>;
    if (opening) {
      // A query of several statements answers with one result per statement; the checkpoint is last.
      const results = (await db.query<CheckpointRow>(openingSql)) as unknown as pg.QueryResult<CheckpointRow>[];
      cp = results[results.length - 1]!;
    } else {
      cp = await db.query<CheckpointRow>(prepared(checkpointText, [CHECKPOINT_NAME, `${s}.projection_checkpoint`]));
    }
    const start = cp.rows[0]?.position;
    if (start === undefined || start === null) throw new Error(`schema ${schema} has no projection checkpoint: run migrate() first`);
    const at = `${cp.rows[0]?.cp_table ?? ''}:${start}`;
    if (liveCache) {
      // Trusted only if nobody wrote since this projector's last commit (apply() sets it again).
      if (cachedAt !== at) clearCache();
      cachedAt = undefined;
    }
    const fresh = freshAfter(events, BigInt(start));
    const skipped = events.length - fresh.length;
    const last = fresh[fresh.length - 1];
    if (!last) return { result: { position: BigInt(start), applied: 0, skipped, errors: 0, markets: [], users: [] }, at };
    const folded = await foldEvents(db, fresh);
    const result = resultOf(fresh, skipped, last.globalPosition, folded.fold);
    // The read models, the checkpoint and the NOTIFY in two or three statements (combineWrites): a
    // statement per table was a round trip per table, each adding to the read models' lag.
    const writes: WriteStatement[] = [];
    for (const st of writeStatements(s, folded.fold)) {
      if ('copy' in st) throw new Error('a live batch has no COPY');
      writes.push(st);
    }
    writes.push({
      text: `update ${s}.projection_checkpoint set position = $2, updated_at = now() where name = $1`,
      values: [CHECKPOINT_NAME, last.globalPosition.toString()],
      writes: `${s}.projection_checkpoint`,
    });
    const notification = notify ? { text: 'select pg_notify($1, $2)', values: [channel, notificationPayload(schema, result)] } : undefined;
    try {
      for (const st of combineWrites(writes, notification)) await db.query(prepared(st.text, st.values));
    } catch (err) {
      clearCache();
      throw err;
    }
    remember(folded);
    return { result, at: `${cp.rows[0]?.cp_table ?? ''}:${last.globalPosition}` };
  }

  /**
   * Replays only (a schema this projector writes alone, with the cache): batches are folded while
   * the previous write is in flight, one transaction per write, in order. Batches that arrive while
   * a write is in flight are folded into one (as a single larger batch would be), so rows that
   * change in each of them — balances, positions, orders — are written once for all of them; a
   * write starts as soon as the previous one is done and `MIN_WRITE` events are waiting (looked at
   * every `FOLD_SLICE` events, also within a batch), and folding waits for the write in flight
   * past `MAX_UNWRITTEN` events.
   * The cache holds every row that has a write in flight or pending, so loads never see a stale
   * row; it is only cleared once everything is written.
   * Events are checked by fastParseRecorded first (zod when it is unsure); into an empty schema, rows
   * appear with COPY the first time and are upserted after that.
   */
  function replayPipeline(pipelineOptions: ReplayPipelineOptions = {}): ReplayPipeline {
    if (!cache) throw new Error('replayPipeline needs a projector created with cache: true');
    const MAX_UNWRITTEN = 200_000;
    /** Events folded between chances to start a write. */
    const FOLD_SLICE = 2_500;
    /** A write waits for this many events (or finish()): fewer, larger transactions. */
    const MIN_WRITE = 10_000;
    const ready = pipelineOptions.emptySchema ? pipelineOptions.ready : undefined;
    let checkpoint: bigint | undefined = ready ? 0n : undefined;
    let pending: Promise<void> = ready ? ready.then(() => undefined) : Promise.resolve();
    // A failure to create the schema surfaces through the first write (or finish()).
    pending.catch(() => undefined);
    let writing = false;
    let failure: unknown;
    let failed = false;
    const plan: CopyPlan | undefined = pipelineOptions.emptySchema ? new Map() : undefined;
    if (plan && cache.markets.size === 0 && cache.orders.size === 0 && cache.positions.size === 0) cacheComplete = true;
    /** Folded, not yet handed to a write. */
    let unwritten: { folded: Folded; events: number } | undefined;

    /** Hands the unwritten fold to a write (after the one in flight). Its values are captured now. */
    const write = (): void => {
      if (!unwritten || checkpoint === undefined) return;
      const statements = writeStatements(s, unwritten.folded.fold, plan);
      unwritten = undefined;
      const at = checkpoint.toString();
      const previous = pending;
      writing = true;
      pending = (async () => {
        await previous;
        const client = await pool.connect();
        try {
          await client.query('begin');
          if (options.synchronousCommit === false) await client.query('set local synchronous_commit = off');
          await client.query(`select pg_advisory_xact_lock(${lockKeySql(schema)})`);
          await runStatements(client, statements, client);
          await client.query(`update ${s}.projection_checkpoint set position = $2, updated_at = now() where name = $1`, [CHECKPOINT_NAME, at]);
          await client.query('commit');
          gauge?.set({ schema }, Number(at));
        } catch (err) {
          await client.query('rollback').catch(() => undefined);
          throw err;
        } finally {
          client.release();
        }
      })();
      const mine = pending;
      pending.then(
        () => {
          if (pending === mine) writing = false;
        },
        (err: unknown) => {
          failed = true;
          failure = err;
          writing = false;
          clearCache();
        },
      );
    };
    const drain = async (): Promise<void> => {
      write();
      await pending;
      if (failed) throw failure;
    };

    return {
      async push(events) {
        if (failed) throw failure;
        checkpoint ??= await readPosition();
        const fresh = freshAfter(events, checkpoint);
        const last = fresh[fresh.length - 1];
        if (!last) return 0;
        if (cache.orders.size > cacheMax) {
          await drain();
          clearCache();
        }
        // Folded in slices, and a write handed over between slices as soon as the previous one is
        // done: PostgreSQL starts sooner, and the last write (node waiting) is smaller than a page.
        let errors = 0;
        for (let at = 0; at < fresh.length; at += FOLD_SLICE) {
          const part = fresh.length <= FOLD_SLICE ? fresh : fresh.slice(at, at + FOLD_SLICE);
          const partLast = part[part.length - 1];
          if (!partLast) break;
          const errorsBefore = unwritten?.folded.fold.errors.length ?? 0;
          // Short event-loop turns: each statement of the write in flight needs one to be sent.
          const folded = await foldEvents(pool, part, 500, unwritten?.folded);
          remember(folded, false);
          checkpoint = partLast.globalPosition;
          unwritten = { folded, events: (unwritten?.events ?? 0) + part.length };
          errors += folded.fold.errors.length - errorsBefore;
          if (writing && unwritten.events >= MAX_UNWRITTEN) await pending.catch(() => undefined);
          if (failed) throw failure;
          if (!writing && unwritten.events >= MIN_WRITE) write();
        }
        return errors;
      },
      async finish() {
        await drain();
        return checkpoint ?? (await readPosition());
      },
    };
  }

  async function readPosition(): Promise<bigint> {
    const r = await pool.query<{ position: string }>(`select position::text as position from ${s}.projection_checkpoint where name = $1`, [CHECKPOINT_NAME]);
    return BigInt(r.rows[0]?.position ?? '0');
  }

  return {
    schema,
    async migrate() {
      await migrateSchema(pool, schema);
    },
    applyInTransaction,
    async apply(events) {
      const client = await pool.connect();
      try {
        const { result, at } = await applyTx(client, events, true);
        await client.query('commit');
        // Only a batch this projector committed itself puts the live cache in step again.
        if (liveCache) cachedAt = at;
        gauge?.set({ schema }, Number(result.position));
        return result;
      } catch (err) {
        clearCache();
        await client.query('rollback').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    position: readPosition,
    replayPipeline,
  };
}

export function notificationPayload(schema: string, r: { position: bigint; markets: number[]; users: number[] }): string {
  const full: ReadModelNotification = { schema, position: r.position.toString(), markets: r.markets, users: r.users };
  const text = JSON.stringify(full);
  if (Buffer.byteLength(text) <= MAX_PAYLOAD) return text;
  return JSON.stringify({ schema, position: r.position.toString(), markets: [], users: [], overflow: true } satisfies ReadModelNotification);
}

// ---- loading ----

interface MarketDbRow {
  market_id: number;
  market_name: string;
  symbol: string;
  base_asset: string;
  quote_asset: string;
  tick_size: string;
  lot_size: string;
  reference_price: string | null;
  maker_fee_bps: number;
  taker_fee_bps: number;
  status: 'open' | 'halted';
  current_price: string | null;
  last_trade_time: string | null;
  listed_at: string;
  updated_at: string;
  last_position: string;
}

const ISO_SQL = (col: string) => `to_char(${col} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

async function loadMarkets(db: Queryable, s: string, ids: number[]): Promise<Map<number, MarketRow>> {
  const map = new Map<number, MarketRow>();
  if (ids.length === 0) return map;
  const r = await db.query<MarketDbRow>(
    prepared(
      `select market_id, market_name, symbol, base_asset, quote_asset, tick_size::text, lot_size::text, reference_price::text, maker_fee_bps, taker_fee_bps,
              status, current_price::text, ${ISO_SQL('last_trade_time')} as last_trade_time, ${ISO_SQL('listed_at')} as listed_at,
              ${ISO_SQL('updated_at')} as updated_at, last_position::text
         from ${s}.markets where market_id = any($1::int[])`,
      [ids],
    ),
  );
  for (const m of r.rows) {
    map.set(m.market_id, {
      marketId: m.market_id,
      marketName: m.market_name,
      symbol: m.symbol,
      baseAsset: m.base_asset,
      quoteAsset: m.quote_asset,
      tickSize: m.tick_size,
      lotSize: m.lot_size,
      referencePrice: m.reference_price === null ? null : units(m.reference_price, 'reference_price'),
      makerFeeBps: m.maker_fee_bps,
      takerFeeBps: m.taker_fee_bps,
      status: m.status,
      currentPrice: m.current_price === null ? null : units(m.current_price, 'current_price'),
      lastTradeTime: m.last_trade_time,
      listedAt: m.listed_at,
      updatedAt: m.updated_at,
      lastPosition: BigInt(m.last_position),
    });
  }
  return map;
}

interface OrderDbRow {
  order_id: string;
  user_id: number;
  market_id: number;
  client_order_id: string | null;
  side: 'buy' | 'sell';
  type: 'limit' | 'market';
  time_in_force: string;
  post_only: boolean;
  price: string | null;
  quantity: string;
  filled_quantity: string;
  filled_notional: string;
  status: OrderStatus;
  reject_reason: string | null;
  cancel_reason: string | null;
  reserved_asset: string | null;
  book_price: string | null;
  book_quantity: string;
  amend_request_id: string | null;
  amend_status: AmendStatus | null;
  amend_reject_reason: string | null;
  amend_price: string | null;
  amend_quantity: string | null;
  created_at: string;
  updated_at: string;
  created_position: string;
  last_position: string;
}

async function loadOrders(db: Queryable, s: string, ids: string[]): Promise<Map<string, OrderRow>> {
  const map = new Map<string, OrderRow>();
  if (ids.length === 0) return map;
  const r = await db.query<OrderDbRow>(
    prepared(
      `select order_id, user_id, market_id, client_order_id, side, type, time_in_force, post_only, price::text, quantity::text,
              filled_quantity::text, filled_notional::text, status, reject_reason, cancel_reason, reserved_asset, book_price::text,
              book_quantity::text, amend_request_id, amend_status, amend_reject_reason, amend_price::text, amend_quantity::text,
              ${ISO_SQL('created_at')} as created_at, ${ISO_SQL('updated_at')} as updated_at,
              created_position::text, last_position::text
         from ${s}.orders where order_id = any($1::text[])`,
      [ids],
    ),
  );
  for (const o of r.rows) {
    map.set(o.order_id, {
      orderId: o.order_id,
      userId: o.user_id,
      marketId: o.market_id,
      clientOrderId: o.client_order_id,
      side: o.side,
      type: o.type,
      timeInForce: o.time_in_force,
      postOnly: o.post_only,
      price: o.price === null ? null : units(o.price, 'price'),
      quantity: units(o.quantity, 'quantity'),
      filledQuantity: units(o.filled_quantity, 'filled_quantity'),
      filledNotional: units(o.filled_notional, 'filled_notional'),
      status: o.status,
      rejectReason: o.reject_reason,
      cancelReason: o.cancel_reason,
      reservedAsset: o.reserved_asset,
      bookPrice: o.book_price === null ? null : units(o.book_price, 'book_price'),
      bookQuantity: units(o.book_quantity, 'book_quantity'),
      amendRequestId: o.amend_request_id,
      amendStatus: o.amend_status,
      amendRejectReason: o.amend_reject_reason,
      amendPrice: o.amend_price === null ? null : units(o.amend_price, 'amend_price'),
      amendQuantity: o.amend_quantity === null ? null : units(o.amend_quantity, 'amend_quantity'),
      createdAt: o.created_at,
      updatedAt: o.updated_at,
      createdPosition: BigInt(o.created_position),
      lastPosition: BigInt(o.last_position),
    });
  }
  return map;
}

async function loadPositions(db: Queryable, s: string, keys: { userId: number; marketId: number }[]): Promise<Map<string, PositionRow>> {
  const map = new Map<string, PositionRow>();
  if (keys.length === 0) return map;
  const r = await db.query<{ user_id: number; market_id: number; quantity: string; cost_basis: string; realized_pnl: string; updated_at: string; last_position: string }>(
    prepared(
      `select user_id, market_id, quantity::text, cost_basis::text, realized_pnl::text, ${ISO_SQL('updated_at')} as updated_at, last_position::text
         from ${s}.positions where position_id = any($1::text[])`,
      [keys.map((k) => positionId(k.userId, k.marketId))],
    ),
  );
  for (const p of r.rows) {
    map.set(positionId(p.user_id, p.market_id), {
      userId: p.user_id,
      marketId: p.market_id,
      quantity: signedUnits(p.quantity, 'quantity'),
      costBasis: signedUnits(p.cost_basis, 'cost_basis'),
      realizedPnl: signedUnits(p.realized_pnl, 'realized_pnl'),
      updatedAt: p.updated_at,
      lastPosition: BigInt(p.last_position),
    });
  }
  return map;
}

// ---- writing ----

function upsertSet(columns: readonly string[]): string {
  return columns.map((c) => `${c} = excluded.${c}`).join(', ');
}

/** A query, or rows to append with COPY (replays only, see CopyPlan). */
type Statement = WriteStatement | { copy: string; columns: readonly string[]; rows: unknown[][] };

async function runStatements(db: Queryable, statements: readonly Statement[], client?: pg.ClientBase): Promise<void> {
  for (const st of statements) {
    if ('copy' in st) {
      if (!client) throw new Error('a COPY statement needs a client');
      await copyRows(client, st.copy, st.columns, st.rows);
    } else {
      await db.query(prepared(st.text, st.values));
    }
  }
}

/**
 * A replay's record of every key it has queued a write for, per table. A key that is not in it
 * was never written to the replay's fresh schema, so its row can be appended with COPY instead of
 * an upsert; every other row still goes through the upsert (correct whether or not the row exists).
 */
export type CopyPlan = Map<string, Set<string>>;

/** Every write of a batch, with its values captured now (synchronously). */
function writeStatements(s: string, f: BatchFold, plan?: CopyPlan): Statement[] {
  const out: Statement[] = [];
  const db = { query: (text: string, values: unknown[], writes: string, reads?: readonly string[]) => void out.push({ text, values, writes, reads }) };
  /** `keyColumns`: how many leading columns are the table's key (0: never COPY, always upsert). */
  const bulk = (_db: unknown, table: string, columns: readonly Column[], rows: unknown[][], onConflict: string, alias?: string, keyColumns = 0) => {
    let upserts = rows;
    if (plan && keyColumns > 0) {
      let written = plan.get(table);
      if (!written) plan.set(table, (written = new Set()));
      const fresh: unknown[][] = [];
      upserts = [];
      for (const row of rows) {
        const key = keyColumns === 1 ? String(row[0]) : keyColumns === 2 ? `${String(row[0])}\u0000${String(row[1])}` : row.slice(0, keyColumns).map(String).join('\u0000');
        if (written.has(key)) {
          upserts.push(row);
        } else {
          // A repeated key within the batch (the tape's do-nothing rule) sees the first row COPYed.
          written.add(key);
          fresh.push(row);
        }
      }
      if (fresh.length > 0) out.push({ copy: table, columns: columns.map((c) => c.name), rows: fresh });
    }
    const st = bulkInsertSql(table, columns, upserts, onConflict, alias);
    if (st) out.push({ ...st, writes: table });
  };
  if (f.users.size > 0) {
    const rows = [...f.users.values()];
    db.query(
      `insert into ${s}.users (user_id, username, roles, registered_at, last_position)
       select u, n, string_to_array(r, ','), t, p from unnest($1::int[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[]) as x(u, n, r, t, p)
       on conflict (user_id) do update set ${upsertSet(['username', 'roles', 'registered_at', 'last_position'])}`,
      [rows.map((u) => u.userId), rows.map((u) => u.username), rows.map((u) => u.roles.join(',')), rows.map((u) => u.registeredAt), rows.map((u) => u.lastPosition.toString())],
      `${s}.users`,
    );
  }

  const marketCols = [
    { name: 'market_id', type: 'int' },
    { name: 'market_name', type: 'text' },
    { name: 'symbol', type: 'text' },
    { name: 'base_asset', type: 'text' },
    { name: 'quote_asset', type: 'text' },
    { name: 'tick_size', type: 'numeric' },
    { name: 'lot_size', type: 'numeric' },
    { name: 'reference_price', type: 'numeric' },
    { name: 'maker_fee_bps', type: 'int' },
    { name: 'taker_fee_bps', type: 'int' },
    { name: 'status', type: 'text' },
    { name: 'current_price', type: 'numeric' },
    { name: 'last_trade_time', type: 'timestamptz' },
    { name: 'listed_at', type: 'timestamptz' },
    { name: 'updated_at', type: 'timestamptz' },
    { name: 'last_position', type: 'bigint' },
  ];
  const markets = [...f.dirtyMarkets].map((id) => f.markets.get(id)).filter((m): m is MarketRow => m !== undefined);
  bulk(
    db,
    `${s}.markets`,
    marketCols,
    markets.map((m) => [
      m.marketId,
      m.marketName,
      m.symbol,
      m.baseAsset,
      m.quoteAsset,
      m.tickSize,
      m.lotSize,
      fmtOrNull(m.referencePrice),
      m.makerFeeBps,
      m.takerFeeBps,
      m.status,
      fmtOrNull(m.currentPrice),
      m.lastTradeTime,
      m.listedAt,
      m.updatedAt,
      m.lastPosition.toString(),
    ]),
    `on conflict (market_id) do update set ${upsertSet(marketCols.slice(1).map((c) => c.name))}`,
  );

  const orderCols = [
    { name: 'order_id', type: 'text' },
    { name: 'user_id', type: 'int' },
    { name: 'market_id', type: 'int' },
    { name: 'client_order_id', type: 'text' },
    { name: 'side', type: 'text' },
    { name: 'type', type: 'text' },
    { name: 'time_in_force', type: 'text' },
    { name: 'post_only', type: 'boolean' },
    { name: 'price', type: 'numeric' },
    { name: 'quantity', type: 'numeric' },
    { name: 'filled_quantity', type: 'numeric' },
    { name: 'filled_notional', type: 'numeric' },
    { name: 'average_fill_price', type: 'numeric' },
    { name: 'status', type: 'text' },
    { name: 'reject_reason', type: 'text' },
    { name: 'cancel_reason', type: 'text' },
    { name: 'reserved_asset', type: 'text' },
    { name: 'book_price', type: 'numeric' },
    { name: 'book_quantity', type: 'numeric' },
    { name: 'amend_request_id', type: 'text' },
    { name: 'amend_status', type: 'text' },
    { name: 'amend_reject_reason', type: 'text' },
    { name: 'amend_price', type: 'numeric' },
    { name: 'amend_quantity', type: 'numeric' },
    { name: 'created_at', type: 'timestamptz' },
    { name: 'updated_at', type: 'timestamptz' },
    { name: 'created_position', type: 'bigint' },
    { name: 'last_position', type: 'bigint' },
  ];
  const orders = [...f.dirtyOrders].map((id) => f.orders.get(id)).filter((o): o is OrderRow => o !== undefined);
  bulk(
    db,
    `${s}.orders`,
    orderCols,
    orders.map((o) => [
      o.orderId,
      o.userId,
      o.marketId,
      o.clientOrderId,
      o.side,
      o.type,
      o.timeInForce,
      o.postOnly,
      fmtOrNull(o.price),
      fmt(o.quantity),
      fmt(o.filledQuantity),
      fmt(o.filledNotional),
      fmtOrNull(orderAverageFillPrice(o)),
      o.status,
      o.rejectReason,
      o.cancelReason,
      o.reservedAsset,
      fmtOrNull(o.bookPrice),
      fmt(o.bookQuantity),
      o.amendRequestId,
      o.amendStatus,
      o.amendRejectReason,
      fmtOrNull(o.amendPrice),
      fmtOrNull(o.amendQuantity),
      o.createdAt,
      o.updatedAt,
      o.createdPosition.toString(),
      o.lastPosition.toString(),
    ]),
    `on conflict (order_id) do update set ${upsertSet(orderCols.slice(1).map((c) => c.name))}`,
    undefined,
    1,
  );

  const balances = [...f.balances.values()];
  bulk(
    db,
    `${s}.balances`,
    [
      { name: 'user_id', type: 'int' },
      { name: 'asset', type: 'text' },
      { name: 'available', type: 'numeric' },
      { name: 'reserved', type: 'numeric' },
      { name: 'updated_at', type: 'timestamptz' },
      { name: 'last_position', type: 'bigint' },
    ],
    balances.map((b) => [b.userId, b.asset, fmt(b.available), fmt(b.reserved), b.updatedAt, b.lastPosition.toString()]),
    `on conflict (user_id, asset) do update set available = t.available + excluded.available, reserved = t.reserved + excluded.reserved,
       updated_at = excluded.updated_at, last_position = excluded.last_position`,
    't',
    2,
  );

  const positions = [...f.dirtyPositions].map((k) => f.positions.get(k)).filter((p): p is PositionRow => p !== undefined);
  const positionCols = [
    { name: 'position_id', type: 'text' },
    { name: 'user_id', type: 'int' },
    { name: 'market_id', type: 'int' },
    { name: 'quantity', type: 'numeric' },
    { name: 'cost_basis', type: 'numeric' },
    { name: 'average_price', type: 'numeric' },
    { name: 'realized_pnl', type: 'numeric' },
    { name: 'updated_at', type: 'timestamptz' },
    { name: 'last_position', type: 'bigint' },
  ];
  bulk(
    db,
    `${s}.positions`,
    positionCols,
    positions.map((p) => [
      positionId(p.userId, p.marketId),
      p.userId,
      p.marketId,
      fmt(p.quantity),
      fmt(p.costBasis),
      fmt(positionAveragePrice(p)),
      fmt(p.realizedPnl),
      p.updatedAt,
      p.lastPosition.toString(),
    ]),
    `on conflict (position_id) do update set ${upsertSet(positionCols.slice(1).map((c) => c.name))}`,
    undefined,
    1,
  );

  const trades = [...f.trades.values()];
  bulk(
    db,
    `${s}.trades`,
    [
      { name: 'trade_id', type: 'text' },
      { name: 'liquidity', type: 'text' },
      { name: 'user_id', type: 'int' },
      { name: 'order_id', type: 'text' },
      { name: 'market_id', type: 'int' },
      { name: 'side', type: 'text' },
      { name: 'trade_price', type: 'numeric' },
      { name: 'quantity', type: 'numeric' },
      { name: 'notional', type: 'numeric' },
      { name: 'fee', type: 'numeric' },
      { name: 'fee_asset', type: 'text' },
      { name: 'executed', type: 'boolean' },
      { name: 'settled', type: 'boolean' },
      { name: 'trade_time', type: 'timestamptz' },
      { name: 'position', type: 'bigint' },
    ],
    trades.map((t) => [
      t.tradeId,
      t.liquidity,
      t.userId,
      t.orderId,
      t.marketId,
      t.side,
      fmt(t.price),
      fmt(t.quantity),
      fmt(t.notional),
      fmt(t.fee),
      t.feeAsset,
      t.executed,
      t.settled,
      t.tradeTime,
      t.position.toString(),
    ]),
    // The same rules as mergeTrade() in fold.ts: time/position from TradeExecuted, money from FillSettled.
    `on conflict (trade_id, liquidity) do update set
       user_id = case when excluded.executed then excluded.user_id else t.user_id end,
       order_id = case when excluded.executed then excluded.order_id else t.order_id end,
       market_id = case when excluded.executed then excluded.market_id else t.market_id end,
       side = case when excluded.executed then excluded.side else t.side end,
       trade_price = case when excluded.executed then excluded.trade_price else t.trade_price end,
       quantity = case when excluded.executed then excluded.quantity else t.quantity end,
       trade_time = case when excluded.executed then excluded.trade_time else t.trade_time end,
       position = case when excluded.executed then excluded.position when t.executed then t.position else least(t.position, excluded.position) end,
       notional = case when excluded.settled then excluded.notional else t.notional end,
       fee = case when excluded.settled then excluded.fee else t.fee end,
       fee_asset = case when excluded.settled then excluded.fee_asset else t.fee_asset end,
       executed = t.executed or excluded.executed,
       settled = t.settled or excluded.settled`,
    't',
    2,
  );

  bulk(
    db,
    `${s}.public_trades`,
    [
      { name: 'trade_id', type: 'text' },
      { name: 'market_id', type: 'int' },
      { name: 'price', type: 'numeric' },
      { name: 'quantity', type: 'numeric' },
      { name: 'taker_side', type: 'text' },
      { name: 'trade_time', type: 'timestamptz' },
      { name: 'position', type: 'bigint' },
    ],
    f.tape.map((t) => [t.tradeId, t.marketId, fmt(t.price), fmt(t.quantity), t.takerSide, t.tradeTime, t.position.toString()]),
    'on conflict (trade_id) do nothing',
    undefined,
    1,
  );

  const candles = [...f.candles.values()];
  bulk(
    db,
    `${s}.candles`,
    [
      { name: 'market_id', type: 'int' },
      { name: 'interval', type: 'text' },
      { name: 'bucket_start', type: 'timestamptz' },
      { name: 'open', type: 'numeric' },
      { name: 'high', type: 'numeric' },
      { name: 'low', type: 'numeric' },
      { name: 'close', type: 'numeric' },
      { name: 'volume', type: 'numeric' },
      { name: 'quote_volume', type: 'numeric' },
      { name: 'trade_count', type: 'int' },
    ],
    candles.map((c) => [c.marketId, c.interval, new Date(c.bucketStart).toISOString(), fmt(c.open), fmt(c.high), fmt(c.low), fmt(c.close), fmt(c.volume), fmt(c.quoteVolume), c.tradeCount]),
    `on conflict (market_id, interval, bucket_start) do update set
       high = greatest(c.high, excluded.high), low = least(c.low, excluded.low), close = excluded.close,
       volume = c.volume + excluded.volume, quote_volume = c.quote_volume + excluded.quote_volume, trade_count = c.trade_count + excluded.trade_count`,
    'c',
    3,
  );

  const levels = [...f.levels.values()].filter((l) => l.quantity !== 0n || l.orderCount !== 0);
  bulk(
    db,
    `${s}.book_levels`,
    [
      { name: 'market_id', type: 'int' },
      { name: 'side', type: 'text' },
      { name: 'price', type: 'numeric' },
      { name: 'quantity', type: 'numeric' },
      { name: 'order_count', type: 'int' },
    ],
    levels.map((l) => [l.marketId, l.side, fmt(l.price), fmt(l.quantity), l.orderCount]),
    `on conflict (market_id, side, price) do update set quantity = b.quantity + excluded.quantity, order_count = b.order_count + excluded.order_count`,
    'b',
    3,
  );
  if (levels.length > 0) {
    db.query(
      `delete from ${s}.book_levels b using unnest($1::int[], $2::text[], $3::numeric[]) as k(m, sd, p)
        where b.market_id = k.m and b.side = k.sd and b.price = k.p and b.quantity = 0 and b.order_count = 0`,
      [levels.map((l) => l.marketId), levels.map((l) => l.side), levels.map((l) => fmt(l.price))],
      // After the upsert above: the levels it brought to zero.
      `${s}.book_levels`,
      [`${s}.book_levels`],
    );
  }

  const switches = [...f.killSwitches.values()];
  const switchCols = [
    { name: 'switch_key', type: 'text' },
    { name: 'scope', type: 'text' },
    { name: 'market_id', type: 'int' },
    { name: 'user_id', type: 'int' },
    { name: 'engaged', type: 'boolean' },
    { name: 'reason', type: 'text' },
    { name: 'changed_by', type: 'int' },
    { name: 'changed_at', type: 'timestamptz' },
    { name: 'last_position', type: 'bigint' },
  ];
  bulk(
    db,
    `${s}.kill_switches`,
    switchCols,
    switches.map((k) => [k.key, k.scope, k.marketId, k.userId, k.engaged, k.reason, k.changedBy, k.changedAt, k.lastPosition.toString()]),
    `on conflict (switch_key) do update set ${upsertSet(switchCols.slice(1).map((c) => c.name))}`,
  );

  bulk(
    db,
    `${s}.projection_errors`,
    [
      { name: 'position', type: 'bigint' },
      { name: 'event_id', type: 'text' },
      { name: 'stream', type: 'text' },
      { name: 'event_type', type: 'text' },
      { name: 'schema_version', type: 'int' },
      { name: 'kind', type: 'text' },
      { name: 'error', type: 'text' },
    ],
    f.errors.map((e) => [e.position.toString(), e.eventId, e.stream, e.eventType, e.schemaVersion, e.kind, e.error]),
    'on conflict (position) do nothing',
  );

  if (f.tradedMarkets.size > 0) {
    // Trailing 24 h statistics as of each market's last trade: the 1440 one-minute buckets ending
    // with the bucket of the last trade (volume in base units, open of the earliest bucket).
    db.query(
      `update ${s}.markets m set volume_24h = coalesce(w.volume, 0), open_24h = w.open
         from (select mk.market_id,
                      (select sum(c.volume) from ${s}.candles c
                        where c.market_id = mk.market_id and c.interval = '1m'
                          and c.bucket_start > date_trunc('minute', mk.last_trade_time) - interval '1 day'
                          and c.bucket_start <= date_trunc('minute', mk.last_trade_time)) as volume,
                      (select c.open from ${s}.candles c
                        where c.market_id = mk.market_id and c.interval = '1m'
                          and c.bucket_start > date_trunc('minute', mk.last_trade_time) - interval '1 day'
                          and c.bucket_start <= date_trunc('minute', mk.last_trade_time)
                        order by c.bucket_start asc limit 1) as open
                 from ${s}.markets mk where mk.market_id = any($1::int[]) and mk.last_trade_time is not null) w
        where m.market_id = w.market_id`,
      [[...f.tradedMarkets]],
      // After the candles and markets of this batch are written: it reads both.
      `${s}.markets`,
      [`${s}.candles`, `${s}.markets`],
    );
  }
  return out;
}
