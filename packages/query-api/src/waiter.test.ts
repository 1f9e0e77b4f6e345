import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPositionWaiter } from './waiter.ts';

async function until(check: () => Promise<boolean> | boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('position waiter: the LISTEN connection', () => {
  let db: TestDatabase;
  let admin: pg.Client;
  beforeAll(async () => {
    db = await createTestDatabase('qa_waiter');
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await db?.drop();
  });

  const listeners = async (channel: string): Promise<number[]> =>
    (
      await admin.query<{ pid: number }>(
        "select pid from pg_stat_activity where datname = current_database() and query = $1 and pid <> pg_backend_pid()",
        [`listen "${channel}"`],
      )
    ).rows.map((r) => r.pid);

  it('comes back after its backend is killed, with one listener (not two), and still hears notifications; close() ends the pool', async () => {
    const channel = 'waiter_test_channel';
    const pool = new pg.Pool({ connectionString: db.url, max: 4 });
    pool.on('error', () => undefined); // the killed backend's client reports here once released
    const waiter = createPositionWaiter({ pool, schema: 'readmodel_waiter_test', channel, pollMs: 60_000 });
    try {
      await waiter.ready();
      expect(waiter.connected()).toBe(true);
      const [first] = await listeners(channel);
      expect(first).toBeDefined();

      await admin.query('select pg_terminate_backend($1)', [first]);
      await until(async () => {
        const now = await listeners(channel);
        return waiter.connected() && now.length === 1 && now[0] !== first;
      }, 'the waiter to listen again on a new connection');
      // Stays at one listener: no second reconnect loop opens another.
      await new Promise((r) => setTimeout(r, 1_200));
      expect(await listeners(channel)).toHaveLength(1);

      await admin.query('select pg_notify($1, $2)', [channel, JSON.stringify({ schema: 'readmodel_waiter_test', position: '42', markets: [], users: [] })]);
      await until(() => waiter.current() === 42n, 'the notification after the reconnect');
    } finally {
      await waiter.close();
      await pool.end();
    }
    expect(pool.totalCount).toBe(0);
  });
});
