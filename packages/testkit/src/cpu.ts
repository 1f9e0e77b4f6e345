/**
 * CPU and memory accounting for benchmarks and load tests on this machine: a process's user +
 * system time and resident memory, the PostgreSQL backends serving one database, the whole
 * machine. Read from /proc, so only for processes on the same Linux host; elsewhere every figure
 * is null and the callers print "n/a".
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import type pg from 'pg';

const PAGE_BYTES = 4096;
let clockTicks: number | undefined;
/** Clock ticks per second of /proc's CPU fields, asked once, when first needed (not on import). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100; // every Linux we know
    }
  }
  return clockTicks;
}

export interface ProcSample {
  /** user + system CPU since the process started, ms. */
  cpuMs: number;
  rssBytes: number;
}

/** Parses /proc/<pid>/stat text (the command name may contain spaces and parentheses). */
export function parseProcStat(text: string): ProcSample {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields after the name: state(3) ... utime(14) stime(15) ... rss(24); rest[0] is field 3
  const utime = Number(rest[14 - 3]);
  const stime = Number(rest[15 - 3]);
  const rssPages = Number(rest[24 - 3]);
  return { cpuMs: ((utime + stime) * 1000) / ticksPerSecond(), rssBytes: rssPages * PAGE_BYTES };
}

/** CPU and resident memory of a process, null once it is gone (or without /proc). */
export function sampleProcess(pid: number): ProcSample | null {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** The `Pss:` line of /proc/<pid>/smaps_rollup in bytes (kB in the text), null without one. */
export function parseSmapsRollupPss(text: string): number | null {
  const m = /^Pss:\s+(\d+) kB$/m.exec(text);
  return m ? Number(m[1]) * 1024 : null;
}

/**
 * Proportional set size of a group of processes that share memory (PostgreSQL's backends share
 * its buffers): each shared page counts once in the sum, split between its sharers, where adding
 * their RSS would count it once per process. Pids that are gone are left out; null when none
 * could be read (or without /proc).
 */
export function pssBytes(pids: Iterable<number>): number | null {
  let total: number | null = null;
  for (const pid of pids) {
    let pss: number | null = null;
    try {
      pss = parseSmapsRollupPss(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    } catch {
      // gone, or not ours to read
    }
    if (pss !== null) total = (total ?? 0) + pss;
  }
  return total;
}

/** utime + stime of a process in ms, null once it is gone (or without /proc). */
export function processCpuMs(pid: number): number | null {
  return sampleProcess(pid)?.cpuMs ?? null;
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
 * Where backends come and go during the measurement, poll them with PidSetCpu instead.
 */
export function cpuMsBetween(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>): number | null {
  if (after.size === 0) return null;
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}

/**
 * Tracks the cumulative CPU of a changing set of pids (e.g. PostgreSQL backends serving one
 * database), polled: the total is the sum over every pid ever seen of its last reading minus its
 * first, so a backend that exits still counts up to its last sample.
 */
export class PidSetCpu {
  private last = new Map<number, number>();
  private first = new Map<number, number>();

  observe(pids: readonly number[]): void {
    for (const pid of pids) {
      const ms = processCpuMs(pid);
      if (ms === null) continue;
      if (!this.first.has(pid)) this.first.set(pid, ms);
      this.last.set(pid, ms);
    }
  }

  /**
   * Reads every pid seen so far again (synchronously, from /proc): a sample taken right after it
   * is current, where one taken long after the last observe() would lag and then jump.
   */
  refresh(): void {
    this.observe([...this.last.keys()]);
  }

  /** CPU used since each pid was first seen, ms. */
  usedMs(): number {
    let sum = 0;
    for (const [pid, v] of this.last) sum += v - (this.first.get(pid) ?? v);
    return sum;
  }

  get pids(): number {
    return this.last.size;
  }

  /** Every pid seen so far (some may be gone). */
  seen(): number[] {
    return [...this.last.keys()];
  }
}

/** The first line of /proc/stat (`cpu user nice system idle iowait irq softirq steal ...`) in ms. */
export function parseMachineStat(line: string, ticksPerSecond: number): { busyMs: number; stealMs: number; totalMs: number } {
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const steal = v[7] ?? 0;
  const ms = (ticks: number): number => (ticks * 1000) / ticksPerSecond;
  return { busyMs: ms(total - idle - steal), stealMs: ms(steal), totalMs: ms(total) };
}

/**
 * Busy, stolen and total CPU ms of the whole machine (all cores) since boot, from /proc/stat.
 * Steal is time this virtual machine wanted the CPU and the hypervisor gave it to someone else:
 * not busy here, and not idle either, so it is neither in `busyMs` nor free for the processes.
 */
export function machineCpuMs(): { busyMs: number; stealMs: number; totalMs: number } | null {
  try {
    return parseMachineStat(readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '', ticksPerSecond());
  } catch {
    return null;
  }
}
