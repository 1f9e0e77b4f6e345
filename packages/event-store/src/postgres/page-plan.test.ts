/**
 * The log's page queries (readAll, readRange, subscriptions, raw subscriptions) compute their
 * columns (jsonb as text, formatted timestamps, data field lookups) only for the rows of the page.
 * On a table without statistics (a new store, or a backlog that grew before autovacuum's first
 * analyze) the planner underestimates the rows past the cursor, reads them all with a bitmap scan
 * and sorts for the limit; with the columns computed in that scan, every row of the backlog paid
 * for them (a 1,000-row page of a 14,000-row backlog: 24 ms instead of 6). This reads the plans
 * PostgreSQL actually ran (auto_explain, sent to this client as notices) and checks that no scan
 * of the events table computes an expression.
 */
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEvent } from '../contract.suite.ts';
import { createPostgresEventStore, type PostgresEventStore } from './store.ts';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Output?: string[];
  Plans?: PlanNode[];
}

function scansOfEvents(node: PlanNode, out: PlanNode[] = []): PlanNode[] {
  if (node['Relation Name'] === 'events') out.push(node);
  for (const child of node.Plans ?? []) scansOfEvents(child, out);
  return out;
}

describe('PostgreSQL event store: pages of the log compute their columns after the limit', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let store: PostgresEventStore;
  const plans: { query: string; plan: PlanNode }[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('es_pg_page_plan');
    pool = new pg.Pool({
      connectionString: db.url,
      max: 2,
      options: '-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 -c auto_explain.log_level=notice -c auto_explain.log_format=json -c auto_explain.log_verbose=on',
    });
    pool.on('connect', (client) => {
      client.on('notice', (n) => {
        const text = n.message ?? '';
        const at = text.indexOf('{');
        if (!text.startsWith('duration:') || at < 0) return;
        const doc = JSON.parse(text.slice(at)) as { 'Query Text': string; Plan: PlanNode };
        plans.push({ query: doc['Query Text'], plan: doc.Plan });
      });
    });
    store = createPostgresEventStore({ pool });
    await store.ready();
    // A backlog far larger than a page, in a table never analyzed: the case of the bad estimate.
    for (let i = 0; i < 30; i++) {
      await store.appendToStream(`plan-${i % 7}`, Array.from({ length: 100 }, (_, k) => newEvent('Placed', { userId: k, marketId: i, note: 'x'.repeat(50) })), { expectedRevision: 'any' });
    }
  });

  afterAll(async () => {
    await store.close();
    await pool.end();
    await db.drop();
  });

  it('readAll, readAllStream, subscribeToAll and subscribeToAllRaw scan events without computing columns', async () => {
    expect(await store.readAll({ fromPosition: 0n, maxCount: 200 })).toHaveLength(200);
    let streamed = 0;
    for await (const _ of store.readAllStream({ batchSize: 1000 })) streamed++;
    expect(streamed).toBe(3000);
    for (const raw of [false, true]) {
      let seen = 0;
      let caughtUp!: () => void;
      const all = new Promise<void>((resolve) => (caughtUp = resolve));
      const count = async (events: readonly unknown[]): Promise<void> => {
        seen += events.length;
        if (seen === 3000) caughtUp();
      };
      const sub = raw ? store.subscribeToAllRaw(count, { fromPosition: 0n, batchSize: 1000, fields: ['userId'] }) : store.subscribeToAll(count, { fromPosition: 0n, batchSize: 1000 });
      await all;
      await sub.close();
      await sub.done;
    }
    const pages = plans.filter((p) => /event_store"?\.events/.test(p.query) && /order by (e\.)?position/i.test(p.query));
    // Each kind of page query ran and was explained.
    expect(pages.some((p) => p.query.includes('data::text as data_json'))).toBe(true);
    expect(pages.filter((p) => p.query.includes('left join lateral')).length).toBeGreaterThanOrEqual(2);
    expect(pages.some((p) => p.query.includes('position <= $2'))).toBe(true);
    for (const { query, plan } of pages) {
      const scans = scansOfEvents(plan);
      expect(scans.length, query).toBeGreaterThan(0);
      for (const scan of scans) {
        // Plain columns only: "events.data", not "(events.data)::text" or "to_char(...)" (a column
        // the query does not use shows as a typed NULL).
        for (const column of scan.Output ?? []) expect(column, `${scan['Node Type']} of ${query}`).toMatch(/^(events\.(\w+|"\w+")|NULL::\w+)$/);
      }
    }
  });
});
