/**
 * `tradectl replay` and `tradectl diff`: the read models rebuilt from the log with the projections
 * package, into a schema of their own (optionally in another database), up to a position or time.
 */
import type pg from 'pg';
import { CHECKPOINT_NAME, diffReadModels, READ_MODEL_TABLES, replayReadModels, type CanonicalRow, type ReadModelDifference } from '@tradecore/projections';
import { parsePoint, type PointInLog } from '../args.ts';
import { createPool, maskUrl, probeDatabase, type Connection } from '../connect.ts';
import { notFound, usage } from '../errors.ts';
import { textTable } from '../format.ts';
import type { Output } from '../io.ts';
import { countEvents, positionAtTime } from '../log.ts';
import type { Progress } from '../progress.ts';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkSchemaName(name: string, option: string): string {
  if (!SCHEMA_NAME.test(name)) throw usage(`${option}: ${JSON.stringify(name)} is not a schema name (lower case letters, digits, _)`);
  return name;
}

/**
 * Refuses to drop or replace `schema` (named by `option`) when it is the event store, a system
 * schema, or an existing schema that is not a read-model schema; tells whether it exists.
 */
export async function assertReadModelSchema(pool: pg.Pool, schema: string, conn: Connection, option = '--schema'): Promise<{ exists: boolean }> {
  if (conn.kind === 'postgres' && schema === conn.schema) throw usage(`${option} ${schema} is the event store's schema: refusing to replace it`);
  if (['public', 'pg_catalog', 'information_schema', 'event_store'].includes(schema)) throw usage(`${option} ${schema}: refusing to replace a system or event-store schema`);
  const r = await pool.query<{ exists: boolean; readmodel: boolean }>(
    `select exists(select 1 from pg_namespace where nspname = $1) as exists,
            to_regclass(quote_ident($1) || '.projection_checkpoint') is not null as readmodel`,
    [schema],
  );
  const row = r.rows[0];
  if (row?.exists && !row.readmodel) throw usage(`${option} ${schema} exists and is not a read-model schema: refusing to replace it`);
  return { exists: row?.exists === true };
}

/** Refuses to drop a schema that is not a read-model schema, the event store, or the live read models. */
async function assertReplayableSchema(pool: pg.Pool, schema: string, conn: Connection, force: boolean): Promise<void> {
  const { exists } = await assertReadModelSchema(pool, schema, conn);
  if (exists && schema === 'readmodel' && !force) {
    throw usage(`--schema readmodel is the live read-model schema: replaying into it replaces it; pass --force if that is what you want`);
  }
}

export interface ResolvedPoint {
  position: bigint;
  /** The first event after the point (for --until <time>), when there is one. */
  description: string;
}

export async function resolveUntil(conn: Connection, value: string | undefined, head: bigint, progress?: Progress): Promise<ResolvedPoint> {
  if (value === undefined) return { position: head, description: `the head (position ${head})` };
  const point: PointInLog = parsePoint(value, '--until');
  if (point.kind === 'position') {
    if (point.position > head) throw usage(`bad range: --until ${point.position} is beyond the head of the log (${head})`);
    return { position: point.position, description: `position ${point.position}` };
  }
  const at = await positionAtTime(conn, point.ms, { onPage: (_p, n) => progress?.update(n) });
  return {
    position: at.position,
    description: `${point.iso} (position ${at.position}${at.nextPosition !== null ? `; the next event, at ${at.nextPosition}, is later` : ', the end of the log'})`,
  };
}

export interface ReplayCommandOptions {
  schema: string;
  targetUrl?: string;
  until?: string;
  user?: number;
  market?: number;
  batchSize?: number;
  force: boolean;
  format: 'text' | 'json';
  progress?: Progress;
}

async function tableCounts(pool: pg.Pool, schema: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of READ_MODEL_TABLES) {
    const r = await pool.query<{ n: string }>(`select count(*)::text as n from "${schema}"."${t.name}"`);
    out[t.name] = Number(r.rows[0]?.n ?? '0');
  }
  return out;
}

type Rows = Record<string, string | null>[];

async function userState(pool: pg.Pool, schema: string, userId: number): Promise<{ balances: Rows; positions: Rows; openOrders: Rows }> {
  const s = `"${schema}"`;
  const balances = await pool.query<Record<string, string | null>>(
    `select asset, trim_scale(available)::text as available, trim_scale(reserved)::text as reserved, trim_scale(available + reserved)::text as total
       from ${s}.balances where user_id = $1 order by asset`,
    [userId],
  );
  const positions = await pool.query<Record<string, string | null>>(
    `select market_id::text as market_id, trim_scale(quantity)::text as quantity, trim_scale(average_price)::text as average_price,
            trim_scale(cost_basis)::text as cost_basis, trim_scale(realized_pnl)::text as realized_pnl
       from ${s}.positions where user_id = $1 order by market_id`,
    [userId],
  );
  const openOrders = await pool.query<Record<string, string | null>>(
    `select order_id, market_id::text as market_id, side, type, trim_scale(price)::text as price, trim_scale(quantity)::text as quantity,
            trim_scale(filled_quantity)::text as filled, status
       from ${s}.orders where user_id = $1 and status in ('pending', 'open', 'partially_filled') order by created_position`,
    [userId],
  );
  return { balances: balances.rows, positions: positions.rows, openOrders: openOrders.rows };
}

async function marketState(pool: pg.Pool, schema: string, marketId: number): Promise<{ market: Record<string, string | null> | null; bids: Rows; asks: Rows }> {
  const s = `"${schema}"`;
  const m = await pool.query<Record<string, string | null>>(
    `select market_id::text as market_id, symbol, status, trim_scale(current_price)::text as last_price from ${s}.markets where market_id = $1`,
    [marketId],
  );
  const level = (side: 'buy' | 'sell', order: 'asc' | 'desc') =>
    pool.query<Record<string, string | null>>(
      `select trim_scale(price)::text as price, trim_scale(quantity)::text as quantity, order_count::text as orders
         from ${s}.book_levels where market_id = $1 and side = $2 and quantity > 0 order by price ${order}`,
      [marketId, side],
    );
  const [bids, asks] = await Promise.all([level('buy', 'desc'), level('sell', 'asc')]);
  return { market: m.rows[0] ?? null, bids: bids.rows, asks: asks.rows };
}

function rowsTable(rows: Rows, columns: string[], indent = '  '): string {
  if (rows.length === 0) return `${indent}(none)\n`;
  return textTable(
    columns.map((c) => c.toUpperCase()),
    rows.map((r) => columns.map((c) => r[c] ?? '-')),
    indent,
  );
}

export async function replayCommand(conn: Connection, out: Output, opts: ReplayCommandOptions): Promise<void> {
  checkSchemaName(opts.schema, '--schema');
  if (conn.kind !== 'postgres' && opts.targetUrl === undefined) throw usage('the event store is EventStoreDB: name the PostgreSQL database for the read models with --target-url');
  const targetUrl = opts.targetUrl ?? conn.url;
  const pool = createPool(targetUrl, 4);
  try {
    await probeDatabase(pool, maskUrl(targetUrl));
    await assertReplayableSchema(pool, opts.schema, conn, opts.force);
    const head = await conn.store.headPosition();
    const until = await resolveUntil(conn, opts.until, head, opts.progress);
    opts.progress?.update(0, true);
    if (opts.progress?.enabled) opts.progress.setTotal(await countEvents(conn, 0n, until.position));
    const result = await replayReadModels({
      store: conn.store,
      pool,
      schema: opts.schema,
      toPosition: until.position,
      batchSize: opts.batchSize,
      onProgress: (_p, n) => opts.progress?.update(n, true),
    });
    opts.progress?.finish();
    const counts = await tableCounts(pool, opts.schema);
    const user = opts.user !== undefined ? await userState(pool, opts.schema, opts.user) : undefined;
    const market = opts.market !== undefined ? await marketState(pool, opts.schema, opts.market) : undefined;
    if (opts.format === 'json') {
      out.line(
        JSON.stringify({
          schema: opts.schema,
          target: maskUrl(targetUrl),
          until: until.description,
          position: result.position.toString(),
          events: result.events,
          errors: result.errors,
          seconds: result.durationMs / 1000,
          eventsPerSecond: Math.round(result.eventsPerSecond),
          rows: counts,
          ...(user ? { user: { userId: opts.user, ...user } } : {}),
          ...(market ? { market: { marketId: opts.market, ...market } } : {}),
        }),
      );
      return;
    }
    out.line(`Replayed ${result.events.toLocaleString('en-US')} events into schema "${opts.schema}" of ${maskUrl(targetUrl)}`);
    out.line(`  as of:       ${until.description}`);
    out.line(`  last event:  position ${result.position}`);
    out.line(`  time:        ${(result.durationMs / 1000).toFixed(2)}s (${Math.round(result.eventsPerSecond).toLocaleString('en-US')} events/s)`);
    out.line(`  errors:      ${result.errors}${result.errors > 0 ? ` (see "${opts.schema}".projection_errors)` : ''}`);
    out.line('  rows:');
    out.write(textTable(['TABLE', 'ROWS'], Object.entries(counts).map(([k, v]) => [k, String(v)]), '    '));
    if (user) {
      out.line();
      out.line(`User ${opts.user} as of ${until.description}:`);
      out.line(' balances:');
      out.write(rowsTable(user.balances, ['asset', 'available', 'reserved', 'total']));
      out.line(' positions:');
      out.write(rowsTable(user.positions, ['market_id', 'quantity', 'average_price', 'cost_basis', 'realized_pnl']));
      out.line(' open orders:');
      out.write(rowsTable(user.openOrders, ['order_id', 'market_id', 'side', 'type', 'price', 'quantity', 'filled', 'status']));
    }
    if (market) {
      out.line();
      if (!market.market) out.line(`Market ${opts.market} is not listed as of ${until.description}.`);
      else {
        const m = market.market;
        out.line(`Market ${m.market_id} ${m.symbol ?? ''} (${m.status ?? '?'}, last price ${m.last_price ?? '-'}) as of ${until.description}:`);
        out.line(' bids:');
        out.write(rowsTable(market.bids, ['price', 'quantity', 'orders']));
        out.line(' asks:');
        out.write(rowsTable(market.asks, ['price', 'quantity', 'orders']));
      }
    }
  } finally {
    await pool.end().catch(() => undefined);
  }
}

// ---------------- diff ----------------

export interface DiffCommandOptions {
  liveSchema: string;
  readModelUrl?: string;
  schema?: string;
  keep: boolean;
  limit: number;
  batchSize?: number;
  format: 'text' | 'json';
  progress?: Progress;
}

export interface ColumnChange {
  column: string;
  live: string | null;
  replay: string | null;
}

export function columnChanges(d: ReadModelDifference): ColumnChange[] {
  const cols = new Set([...Object.keys(d.a ?? {}), ...Object.keys(d.b ?? {})]);
  const out: ColumnChange[] = [];
  for (const c of cols) {
    const a = d.a?.[c] ?? null;
    const b = d.b?.[c] ?? null;
    if (a !== b) out.push({ column: c, live: a, replay: b });
  }
  return out;
}

function keyText(key: CanonicalRow): string {
  return Object.entries(key)
    .map(([k, v]) => `${k}=${v ?? 'null'}`)
    .join(', ');
}

/** Returns the number of differences. */
export async function diffCommand(conn: Connection, out: Output, opts: DiffCommandOptions): Promise<number> {
  checkSchemaName(opts.liveSchema, '--live-schema');
  if (conn.kind !== 'postgres' && opts.readModelUrl === undefined) throw usage('the event store is EventStoreDB: name the PostgreSQL database of the read models with --readmodel-url');
  const url = opts.readModelUrl ?? conn.url;
  const pool = createPool(url, 4);
  const schema = checkSchemaName(opts.schema ?? `tradectl_diff_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`, '--schema');
  if (schema === opts.liveSchema) throw usage('--schema must differ from --live-schema');
  let created = false;
  try {
    await probeDatabase(pool, maskUrl(url));
    const cp = await pool.query<{ t: string | null }>(`select to_regclass(quote_ident($1) || '.projection_checkpoint')::text as t`, [opts.liveSchema]);
    if (!cp.rows[0]?.t) throw notFound(`no read models in schema "${opts.liveSchema}" of ${maskUrl(url)} (wrong --live-schema or --readmodel-url?)`);
    const pos = await pool.query<{ position: string }>(`select position::text as position from "${opts.liveSchema}".projection_checkpoint where name = $1`, [CHECKPOINT_NAME]);
    const livePosition = BigInt(pos.rows[0]?.position ?? '0');
    if (opts.schema !== undefined) {
      const exists = await pool.query('select 1 from pg_namespace where nspname = $1', [schema]);
      if (exists.rowCount === 1) throw usage(`--schema ${schema} already exists: diff replays into a new scratch schema (and drops it afterwards)`);
    }
    await assertReplayableSchema(pool, schema, conn, false);
    if (opts.progress?.enabled) opts.progress.setTotal(await countEvents(conn, 0n, livePosition));
    created = true;
    const result = await replayReadModels({
      store: conn.store,
      pool,
      schema,
      toPosition: livePosition,
      batchSize: opts.batchSize,
      onProgress: (_p, n) => opts.progress?.update(n, true),
    });
    opts.progress?.finish();
    const diffs = await diffReadModels(pool, opts.liveSchema, schema, { limit: opts.limit });
    if (opts.format === 'json') {
      out.line(
        JSON.stringify({
          ok: diffs.length === 0,
          liveSchema: opts.liveSchema,
          replaySchema: opts.keep ? schema : null,
          position: livePosition.toString(),
          eventsReplayed: result.events,
          differences: diffs.map((d) => ({ table: d.table, key: d.key, change: d.a === null ? 'only_in_replay' : d.b === null ? 'only_in_live' : 'changed', columns: columnChanges(d), live: d.a, replay: d.b })),
        }),
      );
    } else {
      out.line(`Compared live schema "${opts.liveSchema}" (checkpoint ${livePosition}) with a fresh replay of ${result.events.toLocaleString('en-US')} events up to the same position.`);
      if (diffs.length === 0) out.line('No differences: the live read models are what the log says.');
      else {
        out.line(`${diffs.length} difference(s)${diffs.length >= opts.limit ? ` (at most ${opts.limit} per table shown)` : ''}:`);
        for (const d of diffs) {
          if (d.a === null) out.line(`  ${d.table} {${keyText(d.key)}}: only in the replay (missing from live): ${JSON.stringify(d.b)}`);
          else if (d.b === null) out.line(`  ${d.table} {${keyText(d.key)}}: only in live (the log does not produce it): ${JSON.stringify(d.a)}`);
          else {
            out.line(`  ${d.table} {${keyText(d.key)}}:`);
            for (const c of columnChanges(d)) out.line(`      ${c.column}: live ${c.live ?? 'null'}, replay ${c.replay ?? 'null'}`);
          }
        }
      }
      if (opts.keep) out.line(`The replay is kept in schema "${schema}".`);
    }
    return diffs.length;
  } finally {
    if (created && !opts.keep) await pool.query(`drop schema if exists "${schema}" cascade`).catch(() => undefined);
    await pool.end().catch(() => undefined);
  }
}
