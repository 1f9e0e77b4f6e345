/**
 * The load average and a description of the machine, from /proc (Linux), for the reports. The CPU
 * and memory of processes and of the machine come from @tradecore/testkit's cpu.ts.
 */
import { readFileSync } from 'node:fs';

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
