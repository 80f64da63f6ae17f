/**
 * What the benchmark reads from Linux's /proc about a process it measures: CPU time used, resident memory now and
 * at its peak, and the machine's load average. Linux only, like the machines baton is benchmarked on.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

let clockTicks: number | undefined;

/** Kernel clock ticks per second (the unit of utime/stime); 100 when `getconf` cannot say. */
function ticksPerSecond(): number {
  if (clockTicks !== undefined) return clockTicks;
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    clockTicks = Number.isInteger(value) && value > 0 ? value : 100;
  } catch {
    clockTicks = 100;
  }
  return clockTicks;
}

/**
 * CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`. The command name in field 2 can
 * hold spaces and parentheses, so fields are counted from the last `)`.
 */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  // After the name: state(3) ppid(4) ... utime is field 14 and stime field 15 of the whole line.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / ticksPerSecond();
}

/** The fields of `/proc/<pid>/stat` after the command name, field 3 (state) first. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** A process's own CPU seconds and those of its children it has waited for (cutime, cstime: fields 16 and 17). */
function cpuSecondsWithReaped(fields: readonly string[]): number {
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  return ticks / ticksPerSecond();
}

/** The parent's pid of a process (field 4 of `/proc/<pid>/stat`). */
export function parentPid(pid: number): number {
  return Number(statFields(pid)[1]);
}

/**
 * CPU seconds used so far by a process and its children, such as a PostgreSQL server and its backends: the children
 * alive now, and through the parent's cutime/cstime those that exited and were waited for. A child counts once
 * whichever side of its exit it is read on, so two readings' difference is what the whole tree used between them.
 */
export function treeCpuSeconds(pid: number): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === pid) continue;
    try {
      const fields = statFields(Number(entry));
      if (Number(fields[1]) === pid) total += cpuSecondsWithReaped(fields);
    } catch {
      // Gone since the listing: its time is now in the parent's cutime, read below.
    }
  }
  return total + cpuSecondsWithReaped(statFields(pid));
}

/** Resident memory now and at its peak, in MiB, from `/proc/<pid>/status`. */
export function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

/** Resets the process's peak-RSS mark to its current RSS (Linux `clear_refs` 5); false where not allowed. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them. */
export function loadAverage(): [number, number, number] {
  const [one, five, fifteen] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  return [one ?? NaN, five ?? NaN, fifteen ?? NaN];
}

/** Tracks one process's CPU time between two moments. */
export class CpuMeter {
  private readonly startCpu: number;
  private readonly startWall: number;
  private readonly measure: (pid: number) => number;

  /** With `tree`, the process and its children ({@link treeCpuSeconds}); otherwise the process alone. */
  constructor(
    private readonly pid: number,
    options: { tree?: boolean } = {},
  ) {
    this.measure = options.tree === true ? treeCpuSeconds : cpuSeconds;
    this.startCpu = this.measure(pid);
    this.startWall = Date.now();
  }

  /** CPU seconds used since construction, and the average number of cores that is over the wall time. */
  read(): { cpuSeconds: number; cores: number } {
    const used = this.measure(this.pid) - this.startCpu;
    const wall = (Date.now() - this.startWall) / 1000;
    return { cpuSeconds: round(used, 2), cores: round(wall > 0 ? used / wall : 0, 3) };
  }
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
