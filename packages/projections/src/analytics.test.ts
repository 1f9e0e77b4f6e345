import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { formatAmount, parseAmount } from '@tradecore/core-domain';
import { createPostgresEventStore } from '@tradecore/event-store';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { ANALYTICS_VIEWS, createProjector, ensureAnalystRole, installAnalytics } from './index.ts';
import { generateHistory } from './testing/index.ts';

const DOC = new URL('../../../docs/analytics.md', import.meta.url);

/** The SQL blocks of docs/analytics.md with the heading above each. */
function docQueries(): { title: string; sql: string }[] {
  const text = readFileSync(DOC, 'utf8');
  const out: { title: string; sql: string }[] = [];
  let title = '';
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (line.startsWith('### ')) title = line.slice(4);
    if (line.trim() === '```sql') {
      const body: string[] = [];
      for (i += 1; i < lines.length && (lines[i] ?? '').trim() !== '```'; i += 1) body.push(lines[i] ?? '');
      out.push({ title, sql: body.join('\n') });
    }
  }
  return out;
}

let db: TestDatabase;
let admin: pg.Pool;
let analyst: pg.Pool;
const role = `tradecore_analyst_${randomBytes(4).toString('hex')}`;
const password = randomBytes(12).toString('hex');
const history = generateHistory({ events: 6_000, seed: 11, users: 12, markets: 3 });

beforeAll(async () => {
  db = await createTestDatabase('analytics');
  admin = new pg.Pool({ connectionString: db.url, max: 4 });
  // An event store in the same database, holding password hashes: the analyst must not reach it.
  const store = createPostgresEventStore({ pool: admin, schema: 'event_store' });
  await store.ready();
  for (const e of history.events.filter((x) => x.stream === 'users')) await store.appendToStream(e.stream, [{ eventId: e.eventId, type: e.type, data: e.data, metadata: e.metadata }]);
  await store.close();
  const projector = createProjector({ pool: admin, notify: false });
  await projector.migrate();
  await projector.apply(history.events);
  await installAnalytics(admin);
  await installAnalytics(admin); // idempotent
  await ensureAnalystRole(admin, { role, password, statementTimeoutMs: 3_000 });
  const url = new URL(db.url);
  url.username = role;
  url.password = password;
  analyst = new pg.Pool({ connectionString: url.toString(), max: 2 });
});

afterAll(async () => {
  await analyst.end();
  await admin.end();
  await db.drop();
  const c = new pg.Client({ connectionString: new URL('/postgres', db.url).toString() });
  await c.connect();
  await c.query(`drop role if exists ${role}`);
  await c.end();
});

describe('docs/analytics.md', () => {
  const queries = docQueries();

  it('has at least ten example queries', () => {
    expect(queries.length).toBeGreaterThanOrEqual(10);
  });

  for (const q of queries) {
    it(`runs as the analyst and returns rows: ${q.title}`, async () => {
      const r = await analyst.query(q.sql);
      expect(r.rows.length, q.title).toBeGreaterThan(0);
    });
  }

  it('query 2 adds up to the tape of the event log, exactly', async () => {
    const q = queries.find((x) => x.title.startsWith('2.'));
    const r = await analyst.query<{ symbol: string; volume: string; trades: string }>(q?.sql ?? '');
    const bySymbol = new Map<string, { volume: bigint; trades: number }>();
    for (const row of r.rows) {
      const s = bySymbol.get(row.symbol) ?? { volume: 0n, trades: 0 };
      s.volume += parseAmount(row.volume);
      s.trades += Number(row.trades);
      bySymbol.set(row.symbol, s);
    }
    const expected = new Map<string, { volume: bigint; trades: number }>();
    for (const e of history.events) {
      if (e.type !== 'TradeExecuted') continue;
      const d = e.data as { marketId: number; quantity: string };
      const symbol = `M${d.marketId}-USD`;
      const s = expected.get(symbol) ?? { volume: 0n, trades: 0 };
      s.volume += parseAmount(d.quantity);
      s.trades += 1;
      expected.set(symbol, s);
    }
    expect(expected.size).toBeGreaterThan(0);
    expect([...bySymbol.entries()].map(([k, v]) => [k, formatAmount(v.volume), v.trades]).sort()).toEqual([...expected.entries()].map(([k, v]) => [k, formatAmount(v.volume), v.trades]).sort());
  });
});

describe('the analytics schema', () => {
  it('describes every view and every column', async () => {
    const views = await admin.query<{ name: string; comment: string | null }>(
      `select c.relname as name, obj_description(c.oid, 'pg_class') as comment from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'analytics' and c.relkind = 'v'`,
    );
    expect(views.rows.map((v) => v.name).sort()).toEqual([...ANALYTICS_VIEWS].sort());
    for (const v of views.rows) expect(v.comment, v.name).toBeTruthy();
    const cols = await admin.query<{ view: string; col: string; comment: string | null }>(
      `select c.relname as view, a.attname as col, col_description(c.oid, a.attnum) as comment
         from pg_class c join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid
        where n.nspname = 'analytics' and c.relkind = 'v' and a.attnum > 0 and not a.attisdropped`,
    );
    expect(cols.rows.length).toBeGreaterThan(50);
    for (const c of cols.rows) expect(c.comment, `${c.view}.${c.col}`).toBeTruthy();
    const about = await analyst.query<{ version: number; read_model_schema: string }>('select * from analytics.about');
    expect(about.rows).toEqual([{ version: 2, read_model_schema: 'readmodel' }]);
  });

  it("shows every order's amend outcome as the read model holds it (v2)", async () => {
    const cols = `order_id, amend_request_id, amend_status, amend_reject_reason, amend_price::text, amend_quantity::text`;
    const seen = await analyst.query(`select ${cols} from analytics.orders order by order_id`);
    const held = await admin.query(`select ${cols} from readmodel.orders order by order_id`);
    expect(seen.rows).toEqual(held.rows);
    // the history holds amends applied and refused, so the columns are not just nulls
    const statuses = new Set(seen.rows.map((r: { amend_status: string | null }) => r.amend_status));
    expect(statuses).toContain('applied');
    expect(statuses).toContain('rejected');
  });

  it('moves an install of version 1 to version 2, the analysts keeping their rights', async () => {
    // version 1's orders view, as released (no amend columns)
    await admin.query(`create schema analytics_v1`);
    try {
    await admin.query(`create view analytics_v1.about as select 1::int as version, 'readmodel'::text as read_model_schema`);
    await admin.query(`create view analytics_v1.orders as select order_id, status from readmodel.orders`);
    await admin.query(`grant usage on schema analytics_v1 to ${role}; grant select on all tables in schema analytics_v1 to ${role}`);
    await expect(analyst.query('select amend_status from analytics_v1.orders')).rejects.toThrow(/amend_status/);
    await installAnalytics(admin, { analyticsSchema: 'analytics_v1' });
    expect((await analyst.query('select version from analytics_v1.about')).rows).toEqual([{ version: 2 }]);
    const r = await analyst.query<{ n: string }>(`select count(*)::text as n from analytics_v1.orders where amend_status is not null`);
    expect(Number(r.rows[0]?.n)).toBeGreaterThan(0);
    } finally {
      await admin.query('drop schema analytics_v1 cascade');
    }
  });

  it('never shows a password hash', async () => {
    const users = await analyst.query('select * from analytics.users');
    expect(users.rows.length).toBe(12);
    expect(JSON.stringify(users.rows)).not.toMatch(/argon|hash/i);
    const cols = await admin.query(`select 1 from information_schema.columns where table_schema in ('analytics', 'readmodel') and column_name ilike '%password%'`);
    expect(cols.rowCount).toBe(0);
  });
});

describe('the analyst role', () => {
  it('is refused on the event store, the read-model tables and anything outside analytics', async () => {
    for (const sql of [
      'select * from event_store.events limit 1',
      'select * from readmodel.users limit 1',
      'select * from readmodel.orders limit 1',
      'select * from readmodel.projection_checkpoint',
    ]) {
      await expect(analyst.query(sql), sql).rejects.toThrow(/permission denied/);
    }
    // every relation outside analytics and the system catalogs
    const rels = await admin.query<{ rel: string }>(
      `select format('%I.%I', n.nspname, c.relname) as rel from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'v', 'm', 'p', 'f') and n.nspname not in ('analytics', 'pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'`,
    );
    expect(rels.rows.length).toBeGreaterThan(10);
    expect(rels.rows.some((r) => r.rel.startsWith('event_store.'))).toBe(true);
    for (const { rel } of rels.rows) {
      const p = await admin.query<{ ok: boolean }>(`select has_table_privilege($1, $2, 'SELECT') as ok`, [role, rel]);
      expect(p.rows[0]?.ok, rel).toBe(false);
      await expect(analyst.query(`select 1 from ${rel} limit 1`), rel).rejects.toThrow(/permission denied/);
    }
  });

  it('is read-only with a statement timeout', async () => {
    const settings = await analyst.query<{ ro: string; timeout: string }>(`select current_setting('default_transaction_read_only') as ro, current_setting('statement_timeout') as timeout`);
    expect(settings.rows[0]).toEqual({ ro: 'on', timeout: '3s' });
    await expect(analyst.query(`create table analytics.x (a int)`)).rejects.toThrow(/read-only|permission denied/);
    await expect(analyst.query(`create temp table x (a int)`)).rejects.toThrow(/read-only/);
    await expect(analyst.query(`select pg_sleep(10)`)).rejects.toThrow(/statement timeout/);
  }, 30_000);

  it('is NOLOGIN unless a password is given', async () => {
    const other = `${role}_nl`;
    await ensureAnalystRole(admin, { role: other });
    const r = await admin.query<{ rolcanlogin: boolean }>('select rolcanlogin from pg_roles where rolname = $1', [other]);
    expect(r.rows[0]?.rolcanlogin).toBe(false);
    await admin.query(`drop owned by ${other}; drop role ${other}`);
  });
});
