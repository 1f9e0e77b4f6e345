/**
 * Measures verifyLog on an existing database (e.g. one kept by `BENCH_KEEP=1 pnpm bench:audit`):
 *   tsx packages/tradectl/bench/verify-db.ts <url> [repeats]
 * Prints, per run: wall seconds, events/s, node CPU µs per event (user + system of this process,
 * all threads), and the CPU of this database's PostgreSQL backends per event (from /proc, polled,
 * so backends that exit are counted up to their last sample), with the load average.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import pg from 'pg';
import { verifyLog, type VerifyLogOptions } from '@tradecore/event-store';

const url = process.argv[2];
if (!url) throw new Error('usage: verify-db.ts <url> [repeats]');
const repeats = Number(process.argv[3] ?? 3);
const options = JSON.parse(process.env.VERIFY_OPTIONS ?? '{}') as VerifyLogOptions;
const TICK = 100;

const admin = new pg.Client({ connectionString: url });
await admin.connect();
const db = (await admin.query<{ d: string }>('select current_database() as d')).rows[0]?.d;

function cpuOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICK;
  } catch {
    return undefined;
  }
}

async function pids(): Promise<number[]> {
  const r = await admin.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [db]);
  return r.rows.map((x) => x.pid);
}

const pool = new pg.Pool({ connectionString: url, max: 4 });
for (let i = 0; i < repeats; i++) {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const sample = async (): Promise<void> => {
    for (const pid of await pids()) {
      const c = cpuOf(pid);
      if (c === undefined) continue;
      if (!first.has(pid)) first.set(pid, c);
      last.set(pid, c);
    }
  };
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
  let pgCpu = 0;
  for (const [pid, c] of last) pgCpu += c - (first.get(pid) ?? c);
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
      pgUsPerEvent: Number(((pgCpu * 1e6) / n).toFixed(2)),
      load: [l0, loadavg()[0] ?? 0].map((x) => Number(x.toFixed(2))),
    }),
  );
}
await pool.end();
await admin.end();
