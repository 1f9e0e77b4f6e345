/**
 * `--pg-socket`: the URL the server gets reaches the database through PostgreSQL's Unix-domain
 * socket (proved against the machine's own cluster, whose socket is in /var/run/postgresql), and
 * the option is refused without a private cluster (a shared database's socket is not the run's).
 */
import { existsSync } from 'node:fs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parseOptions, UsageError } from './main.ts';
import { socketUrlOf } from './private-postgres.ts';

const SOCKET_DIR = '/var/run/postgresql';
const socketHere = existsSync(`${SOCKET_DIR}/.s.PGSQL.5432`);
if (!socketHere) console.log(`private-postgres.test: no PostgreSQL socket at ${SOCKET_DIR}/.s.PGSQL.5432 on this machine: the connection test is skipped`);

describe('--pg-socket', () => {
  it.skipIf(!socketHere)('connects to the same database through the Unix-domain socket, not TCP', async () => {
    const url = socketUrlOf('postgres://postgres@127.0.0.1:5432/test', SOCKET_DIR, 5432);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ addr: string | null; db: string }>('select inet_server_addr()::text as addr, current_database() as db');
      // inet_server_addr() is null on a Unix-domain socket connection.
      expect(rows[0]).toEqual({ addr: null, db: 'test' });
    } finally {
      await client.end();
    }
  });

  it('needs a private cluster', () => {
    expect(() => parseOptions(['--mode', 'full', '--soak', '10', '--rate', '10', '--pg-socket'])).toThrow(UsageError);
    expect(parseOptions(['--mode', 'full', '--soak', '10', '--rate', '10', '--postgres', 'private', '--pg-socket']).pgSocket).toBe(true);
    expect(parseOptions(['--mode', 'full', '--soak', '10', '--rate', '10', '--postgres', 'private']).pgSocket).toBe(false);
  });
});
