/**
 * Reader checkpoints (relay, in-process engine) in a PostgreSQL table `engine_checkpoints`.
 *
 * Why a table and not an event-store stream: the relay tails the global log, so a checkpoint kept
 * as events would append to the very log it reads (every saved checkpoint becomes one more event
 * to relay, a self-feeding loop that grows the log forever and shows up in every projection). A
 * one-row-per-reader upsert is cheap, and a checkpoint never moves backwards (greatest()):
 * checkpoints may lag — redelivery is safe — but must never skip.
 */
import type pg from 'pg';

export interface CheckpointStore {
  load(name: string): Promise<bigint>;
  save(name: string, position: bigint): Promise<void>;
}

export const CHECKPOINTS_DDL = `
create table if not exists engine_checkpoints (
  name text primary key,
  position bigint not null check (position >= 0),
  updated_at timestamptz not null
)`;

export interface PostgresCheckpointOptions {
  /** Injected clock for updated_at. */
  now?: () => Date;
}

export async function createPostgresCheckpointStore(
  pool: pg.Pool,
  options: PostgresCheckpointOptions = {},
): Promise<CheckpointStore> {
  await pool.query(CHECKPOINTS_DDL);
  const now = options.now ?? (() => new Date());
  return {
    async load(name) {
      const r = await pool.query<{ position: string }>('select position::text as position from engine_checkpoints where name = $1', [name]);
      const row = r.rows[0];
      return row ? BigInt(row.position) : 0n;
    },
    async save(name, position) {
      await pool.query(
        `insert into engine_checkpoints (name, position, updated_at) values ($1, $2, $3)
         on conflict (name) do update set position = greatest(engine_checkpoints.position, excluded.position),
           updated_at = excluded.updated_at`,
        [name, position.toString(), now()],
      );
    },
  };
}
