import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjector, diffReadModels } from '@tradecore/projections';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { allEvents, eventRows, seed, tradectl, waitVisible, type Seeded } from '../testing/fixture.ts';

let f: Seeded;
let env: Record<string, string>;
beforeAll(async () => {
  f = await seed('tctl_replay');
  env = { DATABASE_URL: f.url };
});
afterAll(async () => {
  await f.close();
});

/** A reference replay: the projector fed the events up to `to`, in pages, straight from the store. */
async function referenceReplay(schema: string, to: bigint): Promise<void> {
  await f.pool.query(`drop schema if exists "${schema}" cascade`);
  const projector = createProjector({ pool: f.pool, schema, notify: false });
  await projector.migrate();
  const events = (await allEvents(f.store)).filter((e) => e.globalPosition <= to);
  for (let i = 0; i < events.length; i += 7) await projector.apply(events.slice(i, i + 7));
}

interface ReplayJson {
  position: string;
  events: number;
  errors: number;
  rows: Record<string, number>;
  user?: { balances: { asset: string; available: string; reserved: string }[]; positions: { market_id: string; quantity: string; average_price: string }[]; openOrders: { order_id: string; status: string }[] };
  market?: { market: { symbol: string; last_price: string | null } | null; bids: { price: string; quantity: string }[]; asks: { price: string; quantity: string }[] };
}

describe('tradectl replay', () => {
  it('rebuilds every read model from the whole log and prints a summary', async () => {
    const r = await tradectl(['replay', '--schema', 'audit_full', '--user', String(f.s.alice), '--market', String(f.s.btc)], env);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Replayed ${f.s.events} events into schema "audit_full"`);
    expect(r.out).toMatch(/orders\s+\d+/);
    const j = JSON.parse((await tradectl(['replay', '--schema', 'audit_full', '--format', 'json', '--user', String(f.s.alice), '--market', String(f.s.btc)], env)).out) as ReplayJson;
    expect(j.events).toBe(f.s.events);
    expect(j.errors).toBe(0);
    expect(j.rows.users).toBe(5);
    expect(j.rows.markets).toBe(2);
    expect(j.rows.orders).toBe(f.sim.orders.size);
    const btc = j.user?.balances.find((b) => b.asset === 'BTC');
    expect(btc).toMatchObject({ available: '1.5', reserved: '0' });
    expect(j.user?.positions).toEqual([
      expect.objectContaining({ market_id: '1', quantity: '1.5', average_price: '101' }),
      expect.objectContaining({ market_id: '2', quantity: '2', average_price: '50' }),
    ]);
    expect(j.user?.openOrders).toEqual([]);
    expect(j.market?.market).toMatchObject({ symbol: 'BTC-USD', last_price: '100.5' });
    expect(j.market?.asks).toEqual([
      { price: '101', quantity: '0.5', orders: '1' },
      { price: '102', quantity: '1', orders: '1' },
    ]);
    expect(j.market?.bids).toEqual([]);
    // the replay equals the reference fold of the same events
    await referenceReplay('ref_full', BigInt(j.position));
    expect(await diffReadModels(f.pool, 'audit_full', 'ref_full')).toEqual([]);
  });

  it('--until <position> gives the state a replay stopped at that position gives', async () => {
    const rows = await eventRows(f.pool);
    for (const idx of [10, 27, 44]) {
      const p = rows[idx]?.position ?? '';
      const r = await tradectl(['replay', '--until', p, '--schema', 'asof_pos', '--format', 'json'], env);
      expect(r.code).toBe(0);
      const j = JSON.parse(r.out) as ReplayJson;
      expect(j.position).toBe(p);
      expect(j.events).toBe(idx + 1);
      await referenceReplay('ref_pos', BigInt(p));
      expect(await diffReadModels(f.pool, 'asof_pos', 'ref_pos'), `at ${p}`).toEqual([]);
    }
  });

  it('--until <time> answers what a user held then (state before and after a fill)', async () => {
    const { time, position } = f.s.afterFill;
    const at = JSON.parse((await tradectl(['replay', '--until', time, '--schema', 'asof_time', '--user', String(f.s.alice), '--format', 'json'], env)).out) as ReplayJson;
    expect(at.position).toBe(position.toString());
    expect(at.user?.balances.find((b) => b.asset === 'BTC')).toMatchObject({ available: '1.5' });
    expect(at.user?.positions).toEqual([expect.objectContaining({ market_id: '1', quantity: '1.5' })]);
    await referenceReplay('ref_time', position);
    expect(await diffReadModels(f.pool, 'asof_time', 'ref_time')).toEqual([]);

    // a second before alice placed her order: no BTC, no position, bob's two asks on the book
    const before = new Date(Date.parse(time) - 1000).toISOString();
    const b = JSON.parse((await tradectl(['replay', '--until', before, '--schema', 'asof_time', '--user', String(f.s.alice), '--market', String(f.s.btc), '--format', 'json'], env)).out) as ReplayJson;
    expect(b.user?.balances.map((x) => x.asset)).toEqual(['USD']);
    expect(b.user?.balances[0]).toMatchObject({ available: '100000', reserved: '0' });
    expect(b.user?.positions).toEqual([]);
    expect(b.market?.asks).toEqual([
      { price: '101', quantity: '2', orders: '1' },
      { price: '102', quantity: '1', orders: '1' },
    ]);

    const text = await tradectl(['replay', '--until', time, '--schema', 'asof_time', '--user', String(f.s.alice)], env);
    expect(text.out).toContain(`User ${f.s.alice} as of ${time}`);
    expect(text.out).toMatch(/BTC\s+1\.5\s+0\s+1\.5/);
  });

  it('replays into another database with --target-url', async () => {
    const other: TestDatabase = await createTestDatabase('tctl_target');
    try {
      const r = await tradectl(['replay', '--target-url', other.url, '--schema', 'audit', '--format', 'json'], env);
      expect(r.code).toBe(0);
      const pool = new pg.Pool({ connectionString: other.url, max: 1 });
      try {
        const n = await pool.query<{ n: string }>('select count(*)::text as n from audit.orders');
        expect(Number(n.rows[0]?.n)).toBe(f.sim.orders.size);
        const es = await pool.query<{ t: string | null }>("select to_regclass('event_store.events')::text as t");
        expect(es.rows[0]?.t).toBeNull();
      } finally {
        await pool.end();
      }
    } finally {
      await other.drop();
    }
  });

  it('refuses to replace the event store, the live read models (without --force) or a foreign schema', async () => {
    const a = await tradectl(['replay', '--schema', 'event_store'], env);
    expect(a.code).toBe(64);
    expect(a.err).toContain("event store's schema");
    await createProjector({ pool: f.pool, schema: 'readmodel' }).migrate();
    const b = await tradectl(['replay', '--schema', 'readmodel'], env);
    expect(b.code).toBe(64);
    expect(b.err).toContain('--force');
    await f.pool.query('create schema if not exists accounting; create table if not exists accounting.ledger (x int)');
    const c = await tradectl(['replay', '--schema', 'accounting'], env);
    expect(c.code).toBe(64);
    expect(c.err).toContain('is not a read-model schema');
    const n = await f.pool.query<{ n: string }>("select count(*)::text as n from pg_tables where schemaname = 'accounting'");
    expect(n.rows[0]?.n).toBe('1');
    const d = await tradectl(['replay', '--until', '99999999999999999'], env);
    expect(d.code).toBe(64);
    expect(d.err).toContain('beyond the head');
    const e = await tradectl(['replay', '--until', 'noon'], env);
    expect(e.code).toBe(64);
    const g = await tradectl(['replay', '--schema', 'Bad-Name'], env);
    expect(g.code).toBe(64);
  });
});

describe('tradectl diff', () => {
  it('finds no difference between live read models and a replay, even when live lags the head', async () => {
    await f.pool.query('drop schema if exists readmodel cascade');
    const live = createProjector({ pool: f.pool, schema: 'readmodel', notify: false });
    await live.migrate();
    await live.apply(await allEvents(f.store));
    // events appended after the live checkpoint are not a difference
    await f.sim.deposit(f.s.carol, 'USD', '3', f.s.admin);
    await waitVisible(f.store, f.pool);
    const r = await tradectl(['diff'], env);
    expect(r.code).toBe(0);
    expect(r.out).toContain('No differences');
    const left = await f.pool.query<{ n: string }>("select count(*)::text as n from pg_namespace where nspname like 'tradectl_diff_%'");
    expect(left.rows[0]?.n).toBe('0');
  });

  it('finds a row changed by hand, a row deleted and a row added, and exits 1 listing them', async () => {
    await f.pool.query("update readmodel.balances set available = available + 1000 where user_id = $1 and asset = 'USD'", [f.s.alice]);
    await f.pool.query('delete from readmodel.orders where order_id = $1', [f.s.daveRejected.orderId]);
    await f.pool.query(
      "insert into readmodel.users (user_id, username, roles, registered_at, last_position) values (99, 'mallory', '{trader}', now(), 1)",
    );
    const r = await tradectl(['diff'], env);
    expect(r.code).toBe(1);
    expect(r.out).toContain('3 difference(s)');
    expect(r.out).toMatch(new RegExp(`balances \\{user_id=${f.s.alice}, asset=USD\\}:\\n\\s+available: live [\\d.]+, replay [\\d.]+`));
    expect(r.out).toContain(`orders {order_id=${f.s.daveRejected.orderId}}: only in the replay`);
    expect(r.out).toContain('users {user_id=99}: only in live');
    const j = JSON.parse((await tradectl(['diff', '--format', 'json'], env)).out) as { ok: boolean; differences: { table: string; change: string; columns: { column: string; live: string; replay: string }[] }[] };
    expect(j.ok).toBe(false);
    const bal = j.differences.find((d) => d.table === 'balances');
    expect(bal?.change).toBe('changed');
    expect(bal?.columns.map((c) => c.column)).toEqual(['available']);
    expect(Number(bal?.columns[0]?.live) - Number(bal?.columns[0]?.replay)).toBe(1000);
  });

  it('exits 66 when the live schema does not exist, 64 for an existing scratch schema (never dropped)', async () => {
    const r = await tradectl(['diff', '--live-schema', 'nothing_here'], env);
    expect(r.code).toBe(66);
    expect(r.err).toContain('no read models in schema "nothing_here"');
    const existing = await tradectl(['diff', '--schema', 'audit_full'], env);
    expect(existing.code).toBe(64);
    expect(existing.err).toContain('already exists');
    const n = await f.pool.query<{ n: string }>('select count(*)::text as n from audit_full.orders');
    expect(Number(n.rows[0]?.n)).toBeGreaterThan(0);
  });
});
