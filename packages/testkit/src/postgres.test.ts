import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, postgresAdminUrl, type TestDatabase } from './postgres.ts';

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

describe('createTestDatabase', () => {
  const created: TestDatabase[] = [];
  afterAll(async () => {
    await Promise.all(created.map((d) => d.drop()));
  });

  it('gives each caller an empty database of its own', async () => {
    const [a, b] = await Promise.all([createTestDatabase('kit_iso'), createTestDatabase('kit_iso')]);
    created.push(a, b);
    expect(a.name).not.toBe(b.name);
    expect(a.name).toMatch(/^kit_iso_[0-9a-f]{12}$/);

    await query(a.url, 'create table t (v int)');
    await query(a.url, 'insert into t values (1)');
    expect(await query(a.url, 'select v from t')).toEqual([{ v: 1 }]);
    const inB = await query<{ n: string }>(b.url, "select count(*) as n from information_schema.tables where table_name = 't'");
    expect(inB).toEqual([{ n: '0' }]);
    expect(await query<{ db: string }>(a.url, 'select current_database() as db')).toEqual([{ db: a.name }]);
  });

  it('drop() removes the database even with connections still open', async () => {
    const db = await createTestDatabase('kit_drop');
    const open = new pg.Client({ connectionString: db.url });
    await open.connect();
    open.on('error', () => undefined); // its connection is terminated by the drop
    await db.drop();
    await open.end().catch(() => undefined);
    const left = await query(await postgresAdminUrl(), 'select 1 from pg_database where datname = $1', [db.name]);
    expect(left).toEqual([]);
    await db.drop(); // idempotent
  });

  it('sanitises and shortens prefixes into valid names', async () => {
    const db = await createTestDatabase(`Weird-Prefix.${'x'.repeat(80)}`);
    created.push(db);
    expect(db.name.length).toBeLessThanOrEqual(63);
    expect(db.name).toMatch(/^weird_prefix_x+_[0-9a-f]{12}$/);
    expect(await query(db.url, 'select 1 as one')).toEqual([{ one: 1 }]);
  });
});
