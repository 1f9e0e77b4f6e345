import type pg from 'pg';
import { createHash } from 'node:crypto';
import { assertSchemaName, migrations, quoteIdent, type Migration } from './schema.ts';

export interface MigrationReport {
  schema: string;
  applied: number[];
  current: number;
}

/** A stable 64-bit advisory lock key for "migrating this schema". */
export function migrationLockKey(schema: string): bigint {
  return createHash('sha256').update(`tradecore.event-store.migrate:${schema}`).digest().readBigInt64BE(0);
}

/**
 * Applies the missing migrations, each recorded in `<schema>.schema_migrations`. Idempotent and
 * safe when several processes start at once: everything runs in one transaction that first takes
 * a transaction-scoped advisory lock, so a second process waits, then finds nothing to do.
 */
export async function migrateEventStore(
  pool: pg.Pool,
  schema: string,
  list: readonly Migration[] = migrations,
): Promise<MigrationReport> {
  assertSchemaName(schema);
  const s = quoteIdent(schema);
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query('select pg_advisory_xact_lock($1::bigint)', [migrationLockKey(schema).toString()]);
    await client.query(`create schema if not exists ${s}`);
    await client.query(
      `create table if not exists ${s}.schema_migrations (
         version integer primary key,
         name text not null,
         applied_at timestamptz not null default now())`,
    );
    const done = await client.query<{ version: number }>(`select version from ${s}.schema_migrations`);
    const have = new Set(done.rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of [...list].sort((a, b) => a.version - b.version)) {
      if (have.has(m.version)) continue;
      await client.query(m.sql(schema));
      await client.query(`insert into ${s}.schema_migrations (version, name) values ($1, $2)`, [m.version, m.name]);
      applied.push(m.version);
    }
    await client.query('commit');
    const current = Math.max(0, ...have, ...applied);
    return { schema, applied, current };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
