/**
 * Measures verifyLog on an existing database (e.g. one kept by `BENCH_KEEP=1 pnpm bench:audit`):
 *   tsx packages/tradectl/bench/verify-db.ts <url> [repeats]
 * Prints, per run: wall seconds, events/s, node CPU µs per event (user + system of this process,
 * all threads), and the CPU of this database's PostgreSQL backends per event (from /proc, polled,
 * so backends that exit are counted up to their last sample), with the load average.
 */
import { loadavg } from 'node:os';
import pg from 'pg';
import { verifyLog, type VerifyLogOptions } from '@tradecore/event-store';
import { PidSetCpu } from '@tradecore/testkit';

const url = process.argv[2];
if (!url) throw new Error('usage: verify-db.ts <url> [repeats]');
const repeats = Number(process.argv[3] ?? 3);
const options = JSON.parse(process.env.VERIFY_OPTIONS ?? '{}') as VerifyLogOptions;

const admin = new pg.Client({ connectionString: url });
await admin.connect();
const db = (await admin.query<{ d: string }>('select current_database() as d')).rows[0]?.d;

async function pids(): Promise<number[]> {
  const r = await admin.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [db]);
  return r.rows.map((x) => x.pid);
}

const pool = new pg.Pool({ connectionString: url, max: 4 });
for (let i = 0; i < repeats; i++) {
  const backends = new PidSetCpu();
  const sample = async (): Promise<void> => backends.observe(await pids());
  // backends already connected (pool's idle clients) start from their current CPU
  await sample();
  let stop = false;
  const poller = (async () => {
    while (!stop) {
      await new Promise((r) => setTimeout(r, 100));
      await sample();
    }
  })();
  const l0 = loadavg()[0] ?? 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const report = await verifyLog(pool, options);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  stop = true;
  await poller;
  await sample();
  const pgCpuMs = backends.usedMs();
  const n = report.eventsChecked;
  console.log(
    JSON.stringify({
      ok: report.ok,
      events: n,
      streams: report.streamsChecked,
      seals: report.sealsChecked,
      seconds: Number(seconds.toFixed(2)),
      eventsPerSecond: Math.round(n / seconds),
      nodeUsPerEvent: Number((((cpu.user + cpu.system) / n)).toFixed(2)),
      pgUsPerEvent: Number(((pgCpuMs * 1e3) / n).toFixed(2)),
      load: [l0, loadavg()[0] ?? 0].map((x) => Number(x.toFixed(2))),
    }),
  );
}
await pool.end();
await admin.end();
