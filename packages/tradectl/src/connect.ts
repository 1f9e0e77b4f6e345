/**
 * Connecting to the event store named by a URL: `--url`, else TRADECORE_EVENTSTORE_URL, else
 * DATABASE_URL. `postgres://` / `postgresql://` → the PostgreSQL adapter (read-only use: no
 * migrations are run, the schema must already hold an event store); `esdb://` → the EventStoreDB
 * adapter when @tradecore/event-store exports one.
 */
import pg from 'pg';
import * as eventStore from '@tradecore/event-store';
import { createPostgresEventStore, type EventStore, type PostgresEventStore } from '@tradecore/event-store';
import { CliError, ExitCode, unavailable, usage } from './errors.ts';

export interface PostgresConnection {
  kind: 'postgres';
  url: string;
  /** The URL with its password masked, for messages. */
  display: string;
  store: PostgresEventStore;
  pool: pg.Pool;
  /** Schema of the event tables (`--store-schema`, default `event_store`). */
  schema: string;
  close(): Promise<void>;
}

export interface GenericConnection {
  kind: 'esdb';
  url: string;
  display: string;
  store: EventStore;
  close(): Promise<void>;
}

export type Connection = PostgresConnection | GenericConnection;

export interface ConnectOptions {
  url?: string;
  storeSchema?: string;
  env: Readonly<Record<string, string | undefined>>;
  poolSize?: number;
}

export function resolveUrl(url: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  const u = url ?? env.TRADECORE_EVENTSTORE_URL ?? env.DATABASE_URL;
  if (u === undefined || u.trim() === '') {
    throw usage('no event store URL: pass --url, or set TRADECORE_EVENTSTORE_URL or DATABASE_URL');
  }
  return u.trim();
}

export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
  }
}

function parseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw usage(`not a URL: ${JSON.stringify(maskUrl(url))} (expected postgres://user@host:port/database or esdb://host:port)`);
  }
}

/** A pg pool whose idle-client errors do not crash the process. */
export function createPool(url: string, max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => undefined);
  return pool;
}

/** Checks the database answers; maps the usual failures to clear, exit-69 messages. */
export async function probeDatabase(pool: pg.Pool, display: string): Promise<void> {
  try {
    await pool.query('select 1');
  } catch (err) {
    const code = (err as { code?: string }).code;
    const msg = err instanceof Error ? err.message : String(err);
    const why =
      code === '3D000'
        ? 'the database does not exist'
        : code === '28P01' || code === '28000'
          ? 'authentication failed'
          : code === 'ECONNREFUSED'
            ? 'connection refused (is PostgreSQL running there?)'
            : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
              ? 'unknown host'
              : msg;
    throw unavailable(`cannot connect to ${display}: ${why}`, err);
  }
}

const ESDB_FACTORY_NAMES = ['createEventStoreDbEventStore', 'createEventStoreDBEventStore', 'createEsdbEventStore', 'createEventStoreDbStore'];

export async function connect(options: ConnectOptions): Promise<Connection> {
  const url = resolveUrl(options.url, options.env);
  const parsed = parseUrl(url);
  const display = maskUrl(url);
  const scheme = parsed.protocol.replace(/:$/, '');
  if (scheme === 'postgres' || scheme === 'postgresql') {
    const schema = options.storeSchema ?? 'event_store';
    if (!/^[a-z_][a-z0-9_]{0,40}$/.test(schema)) throw usage(`--store-schema: invalid schema name ${JSON.stringify(schema)}`);
    const pool = createPool(url, options.poolSize ?? 4);
    try {
      await probeDatabase(pool, display);
      const t = await pool.query<{ t: string | null }>('select to_regclass($1)::text as t', [`"${schema}".events`]);
      if (!t.rows[0]?.t) {
        throw unavailable(`${display} holds no Tradecore event store in schema "${schema}" (no ${schema}.events table; wrong URL or --store-schema?)`);
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    const store = createPostgresEventStore({ pool, schema, migrate: false, notify: false, pollIntervalMs: 250 });
    return {
      kind: 'postgres',
      url,
      display,
      store,
      pool,
      schema,
      async close() {
        await store.close().catch(() => undefined);
        await pool.end().catch(() => undefined);
      },
    };
  }
  if (scheme === 'esdb' || scheme === 'esdb+discover') {
    const exports = eventStore as unknown as Record<string, unknown>;
    const name = ESDB_FACTORY_NAMES.find((n) => typeof exports[n] === 'function');
    if (!name) {
      throw new CliError(
        ExitCode.UNAVAILABLE,
        `${display}: EventStoreDB URLs need the EventStoreDB adapter, which @tradecore/event-store does not export yet; use a postgres:// URL`,
      );
    }
    const factory = exports[name] as (o: { connectionString: string }) => EventStore;
    let store: EventStore;
    try {
      store = factory({ connectionString: url });
      await store.headPosition();
    } catch (err) {
      throw unavailable(`cannot connect to ${display}: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    return {
      kind: 'esdb',
      url,
      display,
      store,
      async close() {
        await store.close().catch(() => undefined);
      },
    };
  }
  throw usage(`unsupported URL scheme "${scheme}:" in ${display}: use postgres:// (or postgresql://) or esdb://`);
}

/** For commands that work on the PostgreSQL tables themselves (hashes, seals, exports). */
export function requirePostgres(conn: Connection, what: string): PostgresConnection {
  if (conn.kind !== 'postgres') {
    throw new CliError(ExitCode.UNAVAILABLE, `${what} needs the PostgreSQL event store (hash chains and seals live in its tables); ${conn.display} is EventStoreDB`);
  }
  return conn;
}
