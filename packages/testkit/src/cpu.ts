/**
 * CPU accounting for benchmarks on this machine: a process's user + system time, the PostgreSQL
 * backends serving one database, the whole machine. Read from /proc, so only for processes on
 * the same Linux host; elsewhere every figure is null and the benchmarks print "n/a".
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import type pg from 'pg';

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // 100 on every Linux we know
}

/** utime + stime of a process in ms, null once it is gone (or without /proc). */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is parenthesised and may hold spaces: fields are counted after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return null;
  }
}

/** CPU ms of each PostgreSQL backend connected to the client's database (except the client's own). */
export async function postgresBackendCpu(client: pg.ClientBase | pg.Pool): Promise<Map<number, number>> {
  const r = await client.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()');
  const out = new Map<number, number>();
  for (const { pid } of r.rows) {
    const ms = processCpuMs(pid);
    if (ms !== null) out.set(pid, ms);
  }
  return out;
}

/**
 * CPU ms the backends spent between two samples. Backends that exited in between are not
 * counted (their time is gone with them), so the figure is a lower bound; null without /proc.
 */
export function cpuMsBetween(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>): number | null {
  if (after.size === 0) return null;
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}

/** Busy and total CPU ms of the whole machine (all cores) since boot, from /proc/stat. */
export function machineCpuMs(): { busyMs: number; totalMs: number } | null {
  try {
    const v = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busyMs: ((total - idle) * 1000) / clockTicks, totalMs: (total * 1000) / clockTicks };
  } catch {
    return null;
  }
}
