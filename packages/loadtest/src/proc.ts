/**
 * Process resources from /proc (Linux): CPU time (user + system) and resident memory of a pid,
 * the whole machine's CPU use, and the load average. No dependencies; a vanished pid reads null.
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // 100 on every Linux we know
}
const PAGE = 4096;

export interface ProcSample {
  /** user + system CPU since the process started, ms. */
  cpuMs: number;
  rssBytes: number;
}

/** Parses /proc/<pid>/stat text (the command name may contain spaces and parentheses). */
export function parseStat(text: string): ProcSample {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields after the name: state(3) ... utime(14) stime(15) ... rss(24); rest[0] is field 3
  const utime = Number(rest[14 - 3]);
  const stime = Number(rest[15 - 3]);
  const rssPages = Number(rest[24 - 3]);
  return { cpuMs: ((utime + stime) * 1000) / clkTck, rssBytes: rssPages * PAGE };
}

export function sampleProcess(pid: number): ProcSample | null {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

export interface MachineCpu {
  busyMs: number;
  totalMs: number;
}

/** Aggregate CPU of the machine since boot (all cores), from /proc/stat. */
export function sampleMachine(): MachineCpu | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busyMs: ((total - idle) * 1000) / clkTck, totalMs: (total * 1000) / clkTck };
  } catch {
    return null;
  }
}

export function loadAverage(): number[] {
  try {
    return readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/).slice(0, 3).map(Number);
  } catch {
    return [];
  }
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  kernel: string;
}

export function machineInfo(): MachineInfo {
  let cpuModel = 'unknown';
  let cpus = 0;
  let memoryGiB = 0;
  let kernel = 'unknown';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    cpuModel = /model name\s*:\s*(.+)/.exec(info)?.[1]?.trim() ?? cpuModel;
    cpus = (info.match(/^processor\s*:/gm) ?? []).length;
  } catch {
    // not Linux
  }
  try {
    const kb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
    memoryGiB = Math.round((kb / 1024 / 1024) * 10) / 10;
  } catch {
    // not Linux
  }
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // not Linux
  }
  return { cpus, cpuModel, memoryGiB, node: process.version, kernel };
}

/**
 * Tracks the cumulative CPU of a changing set of pids (e.g. PostgreSQL backends serving one
 * database): the total is the sum over every pid ever seen of its last reading.
 */
export class PidSetCpu {
  private last = new Map<number, number>();
  private first = new Map<number, number>();

  observe(pids: readonly number[]): void {
    for (const pid of pids) {
      const s = sampleProcess(pid);
      if (!s) continue;
      if (!this.first.has(pid)) this.first.set(pid, s.cpuMs);
      this.last.set(pid, s.cpuMs);
    }
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
}
