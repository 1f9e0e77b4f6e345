/** Small SQL helpers shared by the projector, the rebuild and the analytics installer. */
import type pg from 'pg';

/** Anything that runs a query: a pool or a checked-out client (inside a transaction). */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/** A schema, role or table name as a quoted identifier; only lower-case identifiers are accepted. */
export function ident(name: string): string {
  if (!IDENT.test(name)) throw new Error(`invalid SQL identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/** A string literal (for DDL statements that take no parameters, e.g. COMMENT ON, ALTER ROLE). */
export function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** 64-bit advisory lock key for a projection schema: serialises apply() and the rebuild swap. */
export function lockKeySql(schema: string): string {
  return `hashtextextended(${literal(`tradecore.projection:${schema}`)}, 0)`;
}

export interface Column {
  name: string;
  /** PostgreSQL type of the array element, e.g. `text`, `numeric`, `int`, `timestamptz`. */
  type: string;
}

/**
 * `insert ... select * from unnest($1::t1[], $2::t2[], ...)`: one statement for many rows.
 * `onConflict` is the tail (`on conflict (...) do update set ...`), or '' for plain inserts.
 */
export function bulkInsertSql(table: string, columns: readonly Column[], rows: readonly unknown[][], onConflict: string, alias?: string): { text: string; values: unknown[] } | null {
  if (rows.length === 0) return null;
  const arrays = columns.map((_, i) => rows.map((r) => r[i]));
  const params = columns.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ');
  const names = columns.map((c) => c.name).join(', ');
  return { text: `insert into ${table}${alias ? ` as ${alias}` : ''} (${names}) select * from unnest(${params}) ${onConflict}`, values: arrays };
}

export async function bulkInsert(db: Queryable, table: string, columns: readonly Column[], rows: readonly unknown[][], onConflict: string, alias?: string): Promise<void> {
  const st = bulkInsertSql(table, columns, rows, onConflict, alias);
  if (st) await db.query(st.text, st.values);
}
