import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjector, diffReadModels, replayReadModels } from '@tradecore/projections';
import type { RecordedEvent } from '@tradecore/event-store';
import { allEvents, seed, tradectl, waitVisible, type Seeded } from '../testing/fixture.ts';

let f: Seeded;
let env: Record<string, string>;
beforeAll(async () => {
  f = await seed('tctl_rebuild');
  env = { DATABASE_URL: f.url };
});
afterAll(async () => {
  await f.close();
});

/** The live read models as the running projector builds them: migrated, then fed the log in small pages. */
async function projectLive(schema: string): Promise<RecordedEvent[]> {
  await f.pool.query(`drop schema if exists "${schema}" cascade`);
  const projector = createProjector({ pool: f.pool, schema, notify: false });
  await projector.migrate();
  const events = await allEvents(f.store);
  for (let i = 0; i < events.length; i += 7) await projector.apply(events.slice(i, i + 7));
  return events;
}

async function schemas(like: string): Promise<string[]> {
  const r = await f.pool.query<{ nspname: string }>('select nspname from pg_namespace where nspname like $1 order by nspname', [like]);
  return r.rows.map((x) => x.nspname);
}

interface RebuildJson {
  schema: string;
  previousPosition: string | null;
  position: string;
  events: number;
  caughtUpInSwap: number;
  errors: number;
  seconds: number;
  oldSchema: string | null;
}

describe('tradectl rebuild', () => {
  it('replaces live read models that miss migration 2 amend outcomes with what the log says', async () => {
    const events = await projectLive('readmodel');
    const head = events[events.length - 1]?.globalPosition ?? 0n;
    // What a schema migrated to 2 holds for amends folded before the migration: no outcome at all.
    const nulled = await f.pool.query(
      `update readmodel.orders set amend_request_id = null, amend_status = null, amend_reject_reason = null, amend_price = null, amend_quantity = null
        where amend_status is not null`,
    );
    expect(nulled.rowCount).toBeGreaterThan(0);
    const before = await tradectl(['diff', '--format', 'json'], env);
    expect(before.code).toBe(1);

    const r = await tradectl(['rebuild', '--format', 'json', '--no-progress'], env);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as RebuildJson;
    expect(j).toMatchObject({
      schema: 'readmodel',
      previousPosition: head.toString(),
      position: head.toString(),
      events: events.length,
      // nothing was appended while it ran
      caughtUpInSwap: 0,
      errors: 0,
      oldSchema: null,
    });
    expect(j.seconds).toBeGreaterThan(0);

    // carol's amended bid has its outcome back
    const carol = await f.pool.query<{ amend_status: string | null }>('select amend_status from readmodel.orders where order_id = $1', [f.s.carolBid.orderId]);
    expect(carol.rows[0]?.amend_status).toBe('rejected');
    // the live schema equals a fresh replay of the log, by the library and by `tradectl diff`
    await replayReadModels({ store: f.store, pool: f.pool, schema: 'ref_rebuild' });
    expect(await diffReadModels(f.pool, 'readmodel', 'ref_rebuild')).toEqual([]);
    const after = await tradectl(['diff', '--format', 'json'], env);
    expect(after.code).toBe(0);
    expect((JSON.parse(after.out) as { ok: boolean }).ok).toBe(true);
    // the replaced schema and the shadow are gone
    expect(await schemas('readmodel%')).toEqual(['readmodel']);
  });

  it('keeps the replaced schema with --keep-old and says so in text', async () => {
    await projectLive('readmodel');
    await f.pool.query(`update readmodel.orders set amend_status = null where amend_status is not null`);
    const r = await tradectl(['rebuild', '--keep-old', '--no-progress'], env);
    expect(r.code).toBe(0);
    const m = /kept the previous read models in schema "(readmodel_old_\d+)"/.exec(r.out);
    expect(m, r.out).not.toBeNull();
    const old = m?.[1] ?? '';
    expect(r.out).toContain(`Rebuilt the read models of schema "readmodel"`);
    expect(r.out).toMatch(/events applied during the swap: +0/);
    expect(r.out).toMatch(/projection errors: +0/);
    expect(await schemas('readmodel%')).toEqual(['readmodel', old]);
    // the old schema is the one the rebuild replaced (still without the outcomes), the live one is whole
    const stale = await f.pool.query<{ n: string }>(`select count(*)::text as n from "${old}".orders where amend_status is not null`);
    expect(stale.rows[0]?.n).toBe('0');
    expect(await diffReadModels(f.pool, 'readmodel', 'ref_rebuild')).toEqual([]);
    await f.pool.query(`drop schema "${old}" cascade`);
  });

  it('waits for the live projector\'s lock and applies the events appended meanwhile in the swap', async () => {
    await projectLive('readmodel');
    // A live projector in the middle of a batch holds this lock in its transaction.
    const projectorTx = await f.pool.connect();
    let released = false;
    try {
      await projectorTx.query('begin');
      await projectorTx.query(`select pg_advisory_xact_lock(hashtextextended('tradecore.projection:readmodel', 0))`);
      const running = tradectl(['rebuild', '--format', 'json', '--no-progress'], env);
      // the rebuild has replayed the log into the shadow and now waits for the lock to swap
      for (const deadline = Date.now() + 30_000; ; ) {
        const w = await f.pool.query<{ n: string }>("select count(*)::text as n from pg_locks where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())");
        if (w.rows[0]?.n === '1') break;
        if (Date.now() > deadline) throw new Error('the rebuild never waited for the projector lock');
        await new Promise((res) => setTimeout(res, 20));
      }
      const eventsBefore = f.sim.events;
      await f.sim.deposit(f.s.carol, 'USD', '7', f.s.admin);
      const appended = f.sim.events - eventsBefore;
      expect(appended).toBeGreaterThan(0);
      await waitVisible(f.store, f.pool);
      await projectorTx.query('commit');
      released = true;
      const r = await running;
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const all = await allEvents(f.store);
      const j = JSON.parse(r.out) as RebuildJson;
      expect(j.caughtUpInSwap).toBe(appended);
      expect(j.events).toBe(all.length);
      expect(j.position).toBe(all[all.length - 1]?.globalPosition.toString());
      expect(BigInt(j.previousPosition ?? '0')).toBeLessThan(BigInt(j.position));
      await replayReadModels({ store: f.store, pool: f.pool, schema: 'ref_rebuild' });
      expect(await diffReadModels(f.pool, 'readmodel', 'ref_rebuild')).toEqual([]);
    } finally {
      if (!released) await projectorTx.query('rollback').catch(() => undefined);
      projectorTx.release();
    }
  });

  it('refuses a schema that is not read models, is missing, or is the event store, and a rebuild already running', async () => {
    await f.pool.query('create schema if not exists accounting; create table if not exists accounting.ledger (x int)');
    const a = await tradectl(['rebuild', '--schema', 'accounting'], env);
    expect(a.code).toBe(64);
    expect(a.err).toContain('--schema accounting exists and is not a read-model schema');
    const n = await f.pool.query<{ n: string }>("select count(*)::text as n from pg_tables where schemaname = 'accounting'");
    expect(n.rows[0]?.n).toBe('1');

    const b = await tradectl(['rebuild', '--schema', 'event_store'], env);
    expect(b.code).toBe(64);
    expect(b.err).toContain("event store's schema");

    // a typo must not create a second set of read models beside the live one
    const c = await tradectl(['rebuild', '--schema', 'readmodle'], env);
    expect(c.code).toBe(66);
    expect(c.err).toContain('no read models in schema "readmodle"');
    expect(await schemas('readmodle%')).toEqual([]);

    const d = await tradectl(['rebuild', '--schema', 'Bad-Name'], env);
    expect(d.code).toBe(64);

    // the shadow schema is dropped and created anew: a foreign schema under that name is refused
    await projectLive('reads');
    await f.pool.query('create schema reads_rebuild; create table reads_rebuild.keep (x int)');
    const e = await tradectl(['rebuild', '--schema', 'reads'], env);
    expect(e.code).toBe(64);
    expect(e.err).toContain('reads_rebuild exists and is not a read-model schema');
    expect(await schemas('reads%')).toEqual(['reads', 'reads_rebuild']);
    await f.pool.query('drop schema reads_rebuild cascade');

    // another rebuild of the same live schema holds its lock
    const guard = await f.pool.connect();
    try {
      await guard.query(`select pg_advisory_lock(hashtextextended('tradecore.projection:readmodel:rebuild', 0))`);
      const g = await tradectl(['rebuild'], env);
      expect(g.code).toBe(69);
      expect(g.err).toContain('a rebuild of readmodel is already running');
    } finally {
      await guard.query(`select pg_advisory_unlock(hashtextextended('tradecore.projection:readmodel:rebuild', 0))`);
      guard.release();
    }
  });
});
