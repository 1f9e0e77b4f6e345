/**
 * Replays, rebuilds and diffs of read models.
 *
 * - `replayReadModels` folds the whole log (or a prefix) into a fresh schema: an auditor's replay.
 * - `rebuildReadModels` replays into a shadow schema, then swaps it in atomically: in one
 *   transaction that holds the live projector's advisory lock it applies the events appended
 *   meanwhile, renames live → `<live>_old_<n>` and shadow → live, re-points the analytics views
 *   and notifies listeners; the old schema is dropped afterwards (unless kept).
 * - `diffReadModels` compares two schemas row by row (numerics compared by value).
 */
import type pg from 'pg';
import type { EventStore, RecordedEvent } from '@tradecore/event-store';
import { analyticsInstalled, installAnalytics } from './analytics.ts';
import { NOTIFY_CHANNEL, createProjector, type Projector, type ReadModelNotification } from './projector.ts';
import { ident, literal, lockKeySql, type Queryable } from './sql.ts';

export interface ReplayOptions {
  store: EventStore;
  pool: pg.Pool;
  /** Target schema; it is dropped and created anew. */
  schema: string;
  /** Stop after this global position (inclusive). Default: the head when the replay started. */
  toPosition?: bigint;
  /** Events per read and per transaction (default 20,000). */
  batchSize?: number;
  onProgress?: (position: bigint, events: number) => void;
}

export interface ReplayResult {
  schema: string;
  position: bigint;
  events: number;
  errors: number;
  durationMs: number;
  eventsPerSecond: number;
}

async function schemaExists(db: Queryable, schema: string): Promise<boolean> {
  const r = await db.query('select 1 from pg_namespace where nspname = $1', [schema]);
  return r.rowCount === 1;
}

/**
 * Reads pages ahead while the previous page is being applied. `first`: the first page's read,
 * when the caller started it already (while it prepared the target schema). The first pages are
 * smaller (a quarter, then half of `batchSize`), so the first write starts sooner.
 */
async function pump(
  store: EventStore,
  from: bigint,
  to: bigint | undefined,
  batchSize: number,
  apply: (page: RecordedEvent[]) => Promise<number>,
  onProgress?: (p: bigint, n: number) => void,
  first?: Promise<RecordedEvent[]>,
): Promise<{ position: bigint; events: number; errors: number }> {
  let position = from;
  let events = 0;
  let errors = 0;
  let pages = first ? 1 : 0;
  const read = (after: bigint) => {
    const size = pages === 0 ? Math.ceil(batchSize / 4) : pages === 1 ? Math.ceil(batchSize / 2) : batchSize;
    pages += 1;
    const p = store.readAll({ fromPosition: after, maxCount: size });
    p.catch(() => undefined);
    return p;
  };
  let next = first ?? read(position);
  for (;;) {
    let page = await next;
    if (to !== undefined) page = page.filter((e) => e.globalPosition <= to);
    const last = page[page.length - 1];
    if (!last) break;
    const reachedEnd = to !== undefined && last.globalPosition >= to;
    if (!reachedEnd) next = read(last.globalPosition);
    errors += await apply(page);
    position = last.globalPosition;
    events += page.length;
    onProgress?.(position, events);
    if (reachedEnd) break;
  }
  return { position, events, errors };
}

/** The first page of a replay from the start, read while the target schema is being prepared. */
function firstPage(store: EventStore, batchSize: number): Promise<RecordedEvent[]> {
  const p = store.readAll({ fromPosition: 0n, maxCount: Math.ceil(batchSize / 4) });
  p.catch(() => undefined);
  return p;
}

/**
 * A new schema for a replay, without its secondary (non-unique) indexes: a bulk load is faster
 * building them once at the end than maintaining them row by row. The projector comes at once;
 * `prepared` settles once the schema exists, with how to restore the indexes.
 */
function freshSchema(pool: pg.Pool, schema: string): { projector: Projector; prepared: Promise<{ restoreIndexes: (db: Queryable) => Promise<void> }> } {
  const projector = createProjector({ pool, schema, notify: false, cache: true, synchronousCommit: false });
  const prepared = (async () => {
    await pool.query(`drop schema if exists ${ident(schema)} cascade`);
    await projector.migrate();
    const defs = await pool.query<{ name: string; def: string }>(
      `select c.relname as name, pg_get_indexdef(x.indexrelid) as def
         from pg_index x join pg_class c on c.oid = x.indexrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 and not x.indisprimary and not x.indisunique`,
      [schema],
    );
    for (const d of defs.rows) await pool.query(`drop index ${ident(schema)}.${ident(d.name)}`);
    return {
      // Built side by side on the pool's connections (PostgreSQL builds each on its own backend).
      restoreIndexes: async (db: Queryable) => {
        await Promise.all(defs.rows.map((d) => db.query(d.def)));
      },
    };
  })();
  prepared.catch(() => undefined);
  return { projector, prepared };
}

export async function replayReadModels(options: ReplayOptions): Promise<ReplayResult> {
  const started = performance.now();
  const batchSize = options.batchSize ?? 20_000;
  const first = firstPage(options.store, batchSize);
  // The schema is created while the first pages are read and folded.
  const { projector, prepared } = freshSchema(options.pool, options.schema);
  const to = options.toPosition ?? (await options.store.headPosition());
  const pipeline = projector.replayPipeline({ emptySchema: true, ready: prepared });
  const r = await pump(options.store, 0n, to, batchSize, (page) => pipeline.push(page), options.onProgress, first);
  await pipeline.finish();
  await (await prepared).restoreIndexes(options.pool);
  const durationMs = performance.now() - started;
  return { schema: options.schema, ...r, durationMs, eventsPerSecond: r.events / Math.max(durationMs / 1000, 1e-9) };
}

export interface RebuildOptions {
  store: EventStore;
  pool: pg.Pool;
  /** The live schema to replace (default `readmodel`). */
  liveSchema?: string;
  /** Where the rebuild happens (default `<live>_rebuild`). */
  shadowSchema?: string;
  batchSize?: number;
  /** Keep the replaced schema as `<live>_old_<epoch ms>` instead of dropping it. */
  keepOldSchema?: boolean;
  /** Analytics schema whose views follow the swap (default `analytics`, re-pointed when installed). */
  analyticsSchema?: string;
  channel?: string;
  onProgress?: (position: bigint, events: number) => void;
}

export interface RebuildResult extends ReplayResult {
  /** Events applied inside the swap transaction (appended while the rebuild ran). */
  caughtUpInSwap: number;
  /** The replaced schema when kept, else null. */
  oldSchema: string | null;
}

export async function rebuildReadModels(options: RebuildOptions): Promise<RebuildResult> {
  const live = options.liveSchema ?? 'readmodel';
  const shadow = options.shadowSchema ?? `${live}_rebuild`;
  const started = performance.now();
  // One rebuild of a live schema at a time: a session lock held until the end.
  const guard = await options.pool.connect();
  const got = await guard.query<{ ok: boolean }>(`select pg_try_advisory_lock(${lockKeySql(`${live}:rebuild`)}) as ok`);
  if (!got.rows[0]?.ok) {
    guard.release();
    throw new Error(`a rebuild of ${live} is already running`);
  }
  try {
    return await rebuildLocked(options, live, shadow, started);
  } finally {
    await guard.query(`select pg_advisory_unlock(${lockKeySql(`${live}:rebuild`)})`).catch(() => undefined);
    guard.release();
  }
}

async function rebuildLocked(options: RebuildOptions, live: string, shadow: string, started: number): Promise<RebuildResult> {
  const analytics = options.analyticsSchema ?? 'analytics';
  const batchSize = options.batchSize ?? 20_000;
  const first = firstPage(options.store, batchSize);
  // The shadow schema is created while the first pages are read and folded.
  const { projector: shadowProjector, prepared } = freshSchema(options.pool, shadow);
  const pipeline = shadowProjector.replayPipeline({ emptySchema: true, ready: prepared });
  const bulk = await pump(options.store, 0n, undefined, batchSize, (page) => pipeline.push(page), options.onProgress, first);
  await pipeline.finish();
  await (await prepared).restoreIndexes(options.pool);

  const oldName = `${live}_old_${Date.now()}`;
  const client = await options.pool.connect();
  let caughtUpInSwap = 0;
  let errors = bulk.errors;
  let position = bulk.position;
  try {
    await client.query('begin');
    // The live projector takes this lock first in every apply: from here on it waits for the swap.
    await client.query(`select pg_advisory_xact_lock(${lockKeySql(live)})`);
    const tail = await pump(options.store, bulk.position, undefined, batchSize, async (page) => (await shadowProjector.applyInTransaction(client, page)).errors);
    caughtUpInSwap = tail.events;
    errors += tail.errors;
    if (tail.events > 0) position = tail.position;
    const liveExists = await schemaExists(client, live);
    if (liveExists) await client.query(`alter schema ${ident(live)} rename to ${ident(oldName)}`);
    await client.query(`alter schema ${ident(shadow)} rename to ${ident(live)}`);
    if (await analyticsInstalled(client, analytics)) await installAnalytics(client, { readModelSchema: live, analyticsSchema: analytics });
    if (liveExists && !options.keepOldSchema) await client.query(`drop schema ${ident(oldName)} cascade`);
    // A swap may change anything: listeners treat an overflow notification as "everything changed".
    const payload: ReadModelNotification = { schema: live, position: position.toString(), markets: [], users: [], overflow: true };
    await client.query('select pg_notify($1, $2)', [options.channel ?? NOTIFY_CHANNEL, JSON.stringify(payload)]);
    await client.query('commit');
    const durationMs = performance.now() - started;
    const events = bulk.events + caughtUpInSwap;
    return {
      schema: live,
      position,
      events,
      errors,
      durationMs,
      eventsPerSecond: events / Math.max(durationMs / 1000, 1e-9),
      caughtUpInSwap,
      oldSchema: liveExists && options.keepOldSchema ? oldName : null,
    };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

// ---- comparing ----

export interface ReadModelTable {
  name: string;
  key: readonly string[];
  /** Columns that legitimately differ between two builds of the same log (wall-clock stamps). */
  ignore: readonly string[];
}

export const READ_MODEL_TABLES: readonly ReadModelTable[] = [
  { name: 'projection_checkpoint', key: ['name'], ignore: ['updated_at'] },
  { name: 'projection_errors', key: ['position'], ignore: ['recorded_at'] },
  { name: 'users', key: ['user_id'], ignore: [] },
  { name: 'markets', key: ['market_id'], ignore: [] },
  { name: 'orders', key: ['order_id'], ignore: [] },
  { name: 'balances', key: ['user_id', 'asset'], ignore: [] },
  { name: 'positions', key: ['position_id'], ignore: [] },
  { name: 'trades', key: ['trade_id', 'liquidity'], ignore: [] },
  { name: 'public_trades', key: ['trade_id'], ignore: [] },
  { name: 'candles', key: ['market_id', 'interval', 'bucket_start'], ignore: [] },
  { name: 'book_levels', key: ['market_id', 'side', 'price'], ignore: [] },
  { name: 'kill_switches', key: ['switch_key'], ignore: [] },
];

export type CanonicalRow = Record<string, string | null>;

async function canonicalColumns(db: Queryable, schema: string, table: ReadModelTable, alias: string): Promise<string> {
  const cols = await db.query<{ column_name: string; data_type: string }>(
    `select column_name, data_type from information_schema.columns where table_schema = $1 and table_name = $2 order by ordinal_position`,
    [schema, table.name],
  );
  if (cols.rows.length === 0) throw new Error(`table ${schema}.${table.name} does not exist`);
  const parts = cols.rows
    .filter((c) => !table.ignore.includes(c.column_name))
    .map((c) => {
      const col = `${alias}.${ident(c.column_name)}`;
      const expr =
        c.data_type === 'numeric'
          ? `trim_scale(${col})::text`
          : c.data_type.startsWith('timestamp')
            ? `to_char(${col} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
            : `${col}::text`;
      return `${literal(c.column_name)}, ${expr}`;
    });
  return `jsonb_build_object(${parts.join(', ')})`;
}

/**
 * Every row of every read-model table in a canonical text form: numerics without trailing zeros,
 * times as ISO-8601 UTC, ordered by key. Used by tests and by the auditors' CLI.
 */
export async function snapshotReadModels(db: Queryable, schema: string, tables: readonly ReadModelTable[] = READ_MODEL_TABLES): Promise<Record<string, CanonicalRow[]>> {
  const out: Record<string, CanonicalRow[]> = {};
  for (const t of tables) {
    const obj = await canonicalColumns(db, schema, t, 'x');
    const r = await db.query<{ row: CanonicalRow }>(`select ${obj} as row from ${ident(schema)}.${ident(t.name)} x order by ${t.key.map((k) => `x.${ident(k)}`).join(', ')}`);
    out[t.name] = r.rows.map((x) => x.row);
  }
  return out;
}

export interface ReadModelDifference {
  table: string;
  key: CanonicalRow;
  /** The row in schema A (null: only in B). */
  a: CanonicalRow | null;
  /** The row in schema B (null: only in A). */
  b: CanonicalRow | null;
}

/** Row-by-row differences between two read-model schemas, at most `limit` per table (default 1000). */
export async function diffReadModels(db: Queryable, schemaA: string, schemaB: string, options: { tables?: readonly ReadModelTable[]; limit?: number } = {}): Promise<ReadModelDifference[]> {
  const out: ReadModelDifference[] = [];
  for (const t of options.tables ?? READ_MODEL_TABLES) {
    const objA = await canonicalColumns(db, schemaA, t, 'a');
    const objB = await canonicalColumns(db, schemaB, t, 'b');
    const on = t.key.map((k) => `a.${ident(k)} = b.${ident(k)}`).join(' and ');
    const r = await db.query<{ a: CanonicalRow | null; b: CanonicalRow | null }>(
      `select case when a is null then null else ${objA} end as a, case when b is null then null else ${objB} end as b
         from ${ident(schemaA)}.${ident(t.name)} a full join ${ident(schemaB)}.${ident(t.name)} b on ${on}
        where (case when a is null then null else ${objA} end) is distinct from (case when b is null then null else ${objB} end)
        limit ${Math.max(1, Math.floor(options.limit ?? 1000))}`,
    );
    for (const row of r.rows) {
      const src = row.a ?? row.b ?? {};
      const key: CanonicalRow = {};
      for (const k of t.key) key[k] = src[k] ?? null;
      out.push({ table: t.name, key, a: row.a, b: row.b });
    }
  }
  return out;
}
