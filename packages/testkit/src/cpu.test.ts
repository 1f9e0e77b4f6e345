import { describe, expect, it } from 'vitest';
import { PidSetCpu, cpuMsBetween, machineCpuMs, parseMachineStat, parseProcStat, parseSmapsRollupPss, processCpuMs, pssBytes, sampleProcess } from './cpu.ts';

/** Keeps this thread busy for `ms` of wall time: at least that much CPU, several clock ticks. */
function burn(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy
  }
}

describe('CPU accounting from /proc', () => {
  it('parses /proc/<pid>/stat with a name holding spaces and parentheses', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[14 - 3] = '250'; // utime
    fields[15 - 3] = '50'; // stime
    fields[24 - 3] = '1000'; // rss pages
    const s = parseProcStat(`123 (node (x) y) ${fields.join(' ')}`);
    expect(s.cpuMs).toBe(3000);
    expect(s.rssBytes).toBe(4096 * 1000);
  });

  it('reads this process, the machine, and nothing for a pid that does not exist', () => {
    const before = processCpuMs(process.pid);
    expect(before).not.toBeNull();
    burn(60);
    expect(processCpuMs(process.pid)!).toBeGreaterThan(before!);
    expect(sampleProcess(process.pid)!.rssBytes).toBeGreaterThan(0);
    const m = machineCpuMs()!;
    expect(m.totalMs).toBeGreaterThanOrEqual(m.busyMs + m.stealMs);
    expect(m.busyMs).toBeGreaterThan(0);
    expect(processCpuMs(2 ** 31 - 1)).toBeNull();
  });

  it('parses the machine line of /proc/stat: steal is neither busy nor idle', () => {
    // user nice system idle iowait irq softirq steal guest guest_nice, in ticks of 1/100 s.
    expect(parseMachineStat('cpu  271602 0 34348 243610 3814 0 7743 15784 0 0', 100)).toEqual({
      busyMs: (271602 + 34348 + 7743) * 10,
      stealMs: 15784 * 10,
      totalMs: (271602 + 34348 + 243610 + 3814 + 7743 + 15784) * 10,
    });
  });

  it('sums a changing pid set from first to last sight, and differences two snapshots', () => {
    const set = new PidSetCpu();
    set.observe([process.pid, 2 ** 31 - 1]);
    burn(60);
    set.observe([process.pid]);
    expect(set.pids).toBe(1);
    const seen = set.usedMs();
    burn(60);
    set.refresh();
    expect(set.usedMs()).toBeGreaterThan(seen);
    expect(set.usedMs()).toBeGreaterThan(0);
    expect(cpuMsBetween(new Map([[1, 10]]), new Map([[1, 25], [2, 5]]))).toBe(20);
    expect(cpuMsBetween(new Map(), new Map())).toBeNull();
    expect(set.seen()).toEqual([process.pid]);
  });

  it('reads the proportional set size of a group of processes, leaving out the gone', () => {
    const rollup = ['55d0c8a4e000-7ffd5a3fe000 ---p 00000000 00:00 0                          [rollup]', 'Rss:              101800 kB', 'Pss:               61234 kB', 'Pss_Anon:          40000 kB'].join('\n');
    expect(parseSmapsRollupPss(rollup)).toBe(61234 * 1024);
    expect(parseSmapsRollupPss('Rss: 5 kB')).toBeNull();
    const own = pssBytes([process.pid])!;
    // This process's PSS: more than nothing, at most its resident memory.
    expect(own).toBeGreaterThan(0);
    expect(own).toBeLessThanOrEqual(sampleProcess(process.pid)!.rssBytes);
    expect(pssBytes([process.pid, 2 ** 31 - 1])).toBeGreaterThan(0);
    expect(pssBytes([2 ** 31 - 1])).toBeNull();
    expect(pssBytes([])).toBeNull();
  });
});
