/**
 * Seals over global position ranges. A seal covers (fromPosition, toPosition], starts where the
 * previous seal ended, and stores the manifest (ordered globalPosition ‖ eventHash of every event
 * in the range) and sealHash = SHA-256(domain ‖ sealId ‖ from ‖ to ‖ previous seal hash ‖ manifest).
 * Only positions below the visible bound are sealed, so no event can later appear inside a sealed
 * range except by tampering.
 */
import type pg from 'pg';
import { createHash } from 'node:crypto';
import { GENESIS_HASH, sealHash } from '../hash.ts';
import { mapPgError } from './errors.ts';
import { migrateEventStore } from './migrate.ts';
import { assertSchemaName, POSITIONS_PER_TRANSACTION, quoteIdent } from './schema.ts';

export interface Seal {
  sealId: bigint;
  /** Exclusive. */
  fromPosition: bigint;
  /** Inclusive: the position of the last sealed event. */
  toPosition: bigint;
  eventCount: number;
  /** Hex SHA-256. Export it (print it, send it elsewhere): an external copy anchors the log. */
  hash: string;
  previousHash: string;
  sealedAt: string;
}

export interface SealerOptions {
  /** Background sealing interval. Default 5000 ms. */
  intervalMs?: number;
  /** Upper bound of events per seal (the manifest holds 40 bytes per event). Default 10,000. */
  maxEventsPerSeal?: number;
  onSeal?: (seal: Seal) => void;
  /** Background errors (the sealer keeps running). Default: console.error. */
  onError?: (err: unknown) => void;
}

export interface Sealer {
  /** Seals everything visible now (in chunks of maxEventsPerSeal); returns the seals written. */
  sealNow(): Promise<Seal[]>;
  /** Starts background sealing every intervalMs. */
  start(): void;
  /** Stops background sealing; resolves once no seal is being written. */
  stop(): Promise<void>;
}

/** Anything with a pool and (optionally) a schema: a PostgresEventStore fits. */
export interface PostgresLogSource {
  pool: pg.Pool;
  schema?: string;
  ready?: () => Promise<void>;
}

export function sealLockKey(schema: string): bigint {
  return createHash('sha256').update(`tradecore.event-store.seal:${schema}`).digest().readBigInt64BE(0);
}

interface SealRow {
  seal_id: string;
  from_position: string;
  to_position: string;
  event_count: number;
  previous_hash: Buffer;
  hash: Buffer;
  sealed_at: Date;
}

export function toSeal(r: SealRow): Seal {
  return {
    sealId: BigInt(r.seal_id),
    fromPosition: BigInt(r.from_position),
    toPosition: BigInt(r.to_position),
    eventCount: r.event_count,
    hash: r.hash.toString('hex'),
    previousHash: r.previous_hash.toString('hex'),
    sealedAt: r.sealed_at.toISOString(),
  };
}

export function createSealer(source: PostgresLogSource, options: SealerOptions = {}): Sealer {
  const schema = source.schema ?? 'event_store';
  assertSchemaName(schema);
  const s = quoteIdent(schema);
  const intervalMs = options.intervalMs ?? 5000;
  const maxEvents = options.maxEventsPerSeal ?? 10_000;
  if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) throw new RangeError('maxEventsPerSeal must be positive');
  const onError = options.onError ?? ((err: unknown) => console.error('[event-store] sealer:', err));
  const bound = `(pg_snapshot_xmin(pg_current_snapshot())::text::bigint * ${POSITIONS_PER_TRANSACTION})`;

  const ready = async (): Promise<void> => {
    if (source.ready) await source.ready();
    else await migrateEventStore(source.pool, schema);
  };

  /** Writes one seal; undefined when there is nothing new to seal. */
  const sealOnce = async (): Promise<Seal | undefined> => {
    const client = await source.pool.connect();
    try {
      await client.query('begin');
      await client.query('select pg_advisory_xact_lock($1::bigint)', [sealLockKey(schema).toString()]);
      const prev = await client.query<{ seal_id: string; to_position: string; hash: Buffer }>(
        `select seal_id, to_position, hash from ${s}.seals order by seal_id desc limit 1`,
      );
      const last = prev.rows[0];
      const sealId = last ? BigInt(last.seal_id) + 1n : 1n;
      const from = last ? BigInt(last.to_position) : 0n;
      const previousHash = last ? last.hash : GENESIS_HASH;
      const range = await client.query<{ n: number; to_position: string | null; manifest: Buffer }>(
        `with r as (select position, hash from ${s}.events
                     where position > $1::bigint and position < ${bound}
                     order by position limit $2::bigint)
         select count(*)::int as n, max(position)::text as to_position,
                coalesce(string_agg(int8send(position) || hash, ''::bytea order by position), ''::bytea) as manifest
           from r`,
        [from.toString(), String(maxEvents)],
      );
      const row = range.rows[0];
      if (!row || row.n === 0 || row.to_position === null) {
        await client.query('commit');
        return undefined;
      }
      const to = BigInt(row.to_position);
      const hash = sealHash(sealId, from, to, previousHash, row.manifest);
      const inserted = await client.query<SealRow>(
        `insert into ${s}.seals (seal_id, from_position, to_position, event_count, manifest, previous_hash, hash)
         values ($1::bigint, $2::bigint, $3::bigint, $4::int, $5::bytea, $6::bytea, $7::bytea)
         returning seal_id, from_position, to_position,
                   event_count, previous_hash, hash, sealed_at`,
        [sealId.toString(), from.toString(), to.toString(), row.n, row.manifest, previousHash, hash],
      );
      await client.query('commit');
      const sealRow = inserted.rows[0];
      if (!sealRow) throw new Error('seal insert returned no row');
      return toSeal(sealRow);
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw mapPgError(err);
    } finally {
      client.release();
    }
  };

  let running: Promise<Seal[]> | undefined;
  const sealNow = (): Promise<Seal[]> => {
    // one sealing pass at a time per sealer (the advisory lock covers other processes)
    running ??= (async () => {
      try {
        await ready();
        const out: Seal[] = [];
        for (;;) {
          const seal = await sealOnce();
          if (!seal) return out;
          out.push(seal);
          options.onSeal?.(seal);
        }
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  let timer: NodeJS.Timeout | undefined;
  let active = false;
  const tick = (): void => {
    timer = undefined;
    void sealNow()
      .catch(onError)
      .finally(() => {
        if (active) timer = setTimeout(tick, intervalMs);
      });
  };

  return {
    sealNow,
    start(): void {
      if (active) return;
      active = true;
      timer = setTimeout(tick, 0);
    },
    async stop(): Promise<void> {
      active = false;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running?.catch(() => undefined);
    },
  };
}

/** All seals, oldest first (without manifests). */
export async function listSeals(source: PostgresLogSource): Promise<Seal[]> {
  const schema = source.schema ?? 'event_store';
  assertSchemaName(schema);
  const r = await source.pool.query<SealRow>(
    `select seal_id, from_position, to_position,
            event_count, previous_hash, hash, sealed_at from ${quoteIdent(schema)}.seals order by seal_id`,
  );
  return r.rows.map(toSeal);
}
