/**
 * Snapshots of single-writer stream states (the execution handler's order books), so an owner
 * that takes over a market reads a snapshot plus the stream's tail instead of the whole stream.
 * Kept in a PostgreSQL table `engine_snapshots`, outside the event log (a snapshot is a cache:
 * deleting the table only makes rebuilds slower). bigints are tagged in the JSON.
 */
import type pg from 'pg';

export interface StoredSnapshot {
  revision: bigint;
  state: unknown;
}

export interface SnapshotStore {
  load(stream: string): Promise<StoredSnapshot | null>;
  save(stream: string, revision: bigint, state: unknown): Promise<void>;
}

export const SNAPSHOTS_DDL = `
create table if not exists engine_snapshots (
  stream text primary key,
  revision bigint not null,
  state jsonb not null,
  taken_at timestamptz not null
)`;

export function toTaggedJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));
}

export function fromTaggedJson(text: string): unknown {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      if (keys.length === 1 && keys[0] === '$bigint' && typeof o.$bigint === 'string') return BigInt(o.$bigint);
    }
    return v;
  });
}

export async function createPostgresSnapshotStore(pool: pg.Pool, now: () => Date = () => new Date()): Promise<SnapshotStore> {
  await pool.query(SNAPSHOTS_DDL);
  return {
    async load(stream) {
      const r = await pool.query<{ revision: string; state: string }>('select revision::text as revision, state::text as state from engine_snapshots where stream = $1', [stream]);
      const row = r.rows[0];
      return row ? { revision: BigInt(row.revision), state: fromTaggedJson(row.state) } : null;
    },
    async save(stream, revision, state) {
      await pool.query(
        `insert into engine_snapshots (stream, revision, state, taken_at) values ($1, $2, $3::jsonb, $4)
         on conflict (stream) do update set revision = excluded.revision, state = excluded.state, taken_at = excluded.taken_at
         where engine_snapshots.revision < excluded.revision`,
        [stream, revision.toString(), toTaggedJson(state), now()],
      );
    },
  };
}
