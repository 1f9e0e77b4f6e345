/**
 * `tradectl rebuild`: the live read models rebuilt from the log and swapped in, with the projections
 * package's `rebuildReadModels` (a replay into a shadow schema, then, in one transaction holding the
 * live projector's advisory lock, the events appended meanwhile, the swap, the analytics views
 * re-pointed and listeners notified). For after a read-model migration whose new columns only a
 * fold of the whole log fills, or when `tradectl diff` finds a difference.
 */
import { CHECKPOINT_NAME, rebuildReadModels, type RebuildResult } from '@tradecore/projections';
import { createPool, maskUrl, probeDatabase, type Connection } from '../connect.ts';
import { notFound, unavailable, usage } from '../errors.ts';
import type { Output } from '../io.ts';
import { countEvents } from '../log.ts';
import type { Progress } from '../progress.ts';
import { assertReadModelSchema, checkSchemaName } from './replay.ts';

/**
 * rebuildReadModels names the replaced schema `<live>_old_<epoch ms>` (18 characters more) and
 * PostgreSQL silently truncates names past 63: a longer live name would be renamed to something
 * else than the summary says.
 */
const MAX_LIVE_SCHEMA_LENGTH = 63 - '_old_'.length - 13;

export interface RebuildCommandOptions {
  schema: string;
  readModelUrl?: string;
  keepOld: boolean;
  batchSize?: number;
  format: 'text' | 'json';
  progress?: Progress;
}

export interface RebuildSummary {
  schema: string;
  database: string;
  /** The live schema's checkpoint before the rebuild (null: it had none yet). */
  previousPosition: string | null;
  position: string;
  events: number;
  caughtUpInSwap: number;
  errors: number;
  seconds: number;
  eventsPerSecond: number;
  oldSchema: string | null;
}

export async function rebuildCommand(conn: Connection, out: Output, opts: RebuildCommandOptions): Promise<RebuildSummary> {
  checkSchemaName(opts.schema, '--schema');
  if (opts.schema.length > MAX_LIVE_SCHEMA_LENGTH) throw usage(`--schema ${opts.schema}: at most ${MAX_LIVE_SCHEMA_LENGTH} characters (the replaced schema is kept as <schema>_old_<epoch ms>)`);
  if (conn.kind !== 'postgres' && opts.readModelUrl === undefined) throw usage('the event store is EventStoreDB: name the PostgreSQL database of the read models with --readmodel-url');
  const url = opts.readModelUrl ?? conn.url;
  const shadow = `${opts.schema}_rebuild`;
  // One connection is held by the rebuild's own lock for the whole run, one by the swap; the rest
  // build the shadow's indexes side by side.
  const pool = createPool(url, 5);
  try {
    await probeDatabase(pool, maskUrl(url));
    const { exists } = await assertReadModelSchema(pool, opts.schema, conn);
    // A rebuild replaces live read models; with a mistyped name it would create a second set.
    if (!exists) throw notFound(`no read models in schema "${opts.schema}" of ${maskUrl(url)} (wrong --schema or --readmodel-url?); replay creates new read models`);
    // The shadow schema is dropped and created anew by the rebuild.
    await assertReadModelSchema(pool, shadow, conn, 'the shadow schema');
    const cp = await pool.query<{ position: string }>(`select position::text as position from "${opts.schema}".projection_checkpoint where name = $1`, [CHECKPOINT_NAME]);
    const previousPosition = cp.rows[0]?.position ?? null;

    opts.progress?.update(0, true);
    if (opts.progress?.enabled) opts.progress.setTotal(await countEvents(conn, 0n, await conn.store.headPosition()));
    let result: RebuildResult;
    try {
      result = await rebuildReadModels({
        store: conn.store,
        pool,
        liveSchema: opts.schema,
        shadowSchema: shadow,
        keepOldSchema: opts.keepOld,
        batchSize: opts.batchSize,
        onProgress: (_p, n) => opts.progress?.update(n, true),
      });
    } catch (err) {
      if (err instanceof Error && err.message === `a rebuild of ${opts.schema} is already running`) {
        throw unavailable(`a rebuild of ${opts.schema} is already running (another session holds its lock): wait for it to finish`, err);
      }
      throw err;
    }
    opts.progress?.finish();

    const summary: RebuildSummary = {
      schema: opts.schema,
      database: maskUrl(url),
      previousPosition,
      position: result.position.toString(),
      events: result.events,
      caughtUpInSwap: result.caughtUpInSwap,
      errors: result.errors,
      seconds: result.durationMs / 1000,
      eventsPerSecond: Math.round(result.eventsPerSecond),
      oldSchema: result.oldSchema,
    };
    if (opts.format === 'json') {
      out.line(JSON.stringify(summary));
      return summary;
    }
    out.line(`Rebuilt the read models of schema "${opts.schema}" of ${summary.database} from the log and swapped them in.`);
    out.line(`  events replayed:                ${result.events.toLocaleString('en-US')}`);
    out.line(`  position swapped in:            ${summary.position} (was ${previousPosition ?? 'none'})`);
    out.line(`  events applied during the swap: ${result.caughtUpInSwap.toLocaleString('en-US')} (appended while the rebuild ran)`);
    out.line(`  time:                           ${summary.seconds.toFixed(2)}s (${summary.eventsPerSecond.toLocaleString('en-US')} events/s)`);
    out.line(`  projection errors:              ${result.errors}${result.errors > 0 ? ` (see "${opts.schema}".projection_errors)` : ''}`);
    out.line(result.oldSchema !== null ? `  kept the previous read models in schema "${result.oldSchema}" (drop it when done)` : '  the previous read models were dropped');
    return summary;
  } finally {
    await pool.end().catch(() => undefined);
  }
}
