/**
 * Node's share of verifyLog's position walk, without PostgreSQL: reads the first N events of a
 * database's log once as binary COPY (in memory), then runs PositionScanner over those bytes
 * several times and prints µs of this thread's CPU per event.
 *   tsx packages/event-store/bench/verify-scan.ts <url> [events=200000] [repeats=5]
 * For comparing changes to the scanner (jsonb-canonical.ts, verify-position.ts, copy-out.ts) on a
 * busy machine: alternate runs, compare the minimum.
 */
import pg from 'pg';
import { copyOut } from '../src/postgres/copy-out.ts';
import { PositionScanner, positionCopySql } from '../src/postgres/verify-position.ts';

const url = process.argv[2];
if (!url) throw new Error('usage: verify-scan.ts <url> [events] [repeats]');
const events = Number(process.argv[3] ?? 200_000);
const repeats = Number(process.argv[4] ?? 5);

const client = new pg.Client({ connectionString: url });
await client.connect();
const upTo = (await client.query<{ p: string }>(`select max(position)::text as p from (select position from event_store.events order by position limit $1) x`, [events])).rows[0]?.p;
const chunks: Buffer[] = [];
await copyOut(client, positionCopySql('event_store', undefined, upTo === undefined ? undefined : BigInt(upTo)), (c) => chunks.push(Buffer.from(c)));
await client.end();

const results: number[] = [];
for (let r = 0; r < repeats; r++) {
  const t0 = process.cpuUsage();
  const part = new PositionScanner({ first: true, sealEnds: [] });
  for (const c of chunks) part.rows.push(c);
  part.finish();
  const cpu = process.cpuUsage(t0);
  if (part.anomaly !== undefined) throw new Error(part.anomaly);
  results.push((cpu.user + cpu.system) / part.eventsChecked);
}
console.log(JSON.stringify({ events, usPerEvent: results.map((x) => Number(x.toFixed(2))), min: Number(Math.min(...results).toFixed(2)) }));
