/**
 * The canonical-JSON-and-hash cost of one event type, without PostgreSQL: reads up to 50,000
 * events of each given type once as binary COPY, then runs EventHasher.build + matches over them
 * seven times and prints the minimum µs of CPU per event and the canonical size.
 *   tsx packages/event-store/bench/verify-by-type.ts <url> [Type ...]
 * (default types: OrderAccepted FillSettled). For changes to jsonb-canonical.ts on a busy machine:
 * alternate runs before/after and compare.
 */
import pg from 'pg';
import { copyOut, CopyRows } from '../src/postgres/copy-out.ts';
import { EventHasher } from '../src/postgres/verify-chains.ts';

const url = process.argv[2];
if (!url) throw new Error('usage: verify-by-type.ts <url> [Type ...]');
const types = process.argv.length > 3 ? process.argv.slice(3) : ['OrderAccepted', 'FillSettled'];
const client = new pg.Client({ connectionString: url });
await client.connect();
const stream = Buffer.from('"order-x"');
for (const type of types) {
  if (!/^[A-Za-z]+$/.test(type)) throw new Error(`not an event type: ${type}`);
  const chunks: Buffer[] = [];
  await copyOut(
    client,
    `copy (select stream, revision, position, event_id, type, data, metadata, hash, transaction_id
             from event_store.events where type = '${type}' order by position limit 50000) to stdout (format binary)`,
    (c) => chunks.push(Buffer.from(c)),
  );
  const perEvent: number[] = [];
  let bytes = 0;
  let n = 0;
  for (let r = 0; r < 7; r++) {
    const hasher = new EventHasher();
    n = 0;
    bytes = 0;
    const rows = new CopyRows(9, (buf, f) => {
      const end = hasher.build(buf, f, stream, stream.length, 5);
      hasher.matches(hasher.out, 0, end, buf, f[14] as number);
      bytes += end - 32;
      n++;
    });
    const t0 = process.cpuUsage();
    for (const c of chunks) rows.push(c);
    const cpu = process.cpuUsage(t0);
    perEvent.push((cpu.user + cpu.system) / Math.max(1, n));
  }
  console.log(`${type.padEnd(22)} ${Math.min(...perEvent).toFixed(2)} µs/event  ${Math.round(bytes / Math.max(1, n))} bytes  (${n} events)`);
}
await client.end();
