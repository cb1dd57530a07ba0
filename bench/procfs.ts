import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Linux clock ticks per second (USER_HZ); 100 on every mainstream kernel build. */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  /** utime + stime + cutime + cstime, in seconds: the process and its children already reaped. */
  cpuSeconds: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // it exited between listing and reading
  }
  // comm may hold spaces and parentheses: the fields after it start after the last ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const comm = text.slice(open + 1, close);
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 (state) of proc(5); utime is field 14, so index 11.
  const num = (i: number) => Number(fields[i] ?? 0);
  return {
    pid,
    comm,
    ppid: num(1),
    cpuSeconds: (num(11) + num(12) + num(13) + num(14)) / TICKS_PER_SECOND,
  };
}

function allStats(): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat !== undefined) stats.push(stat);
  }
  return stats;
}

/** The process and everything below it. */
export function processTree(rootPid: number): ProcStat[] {
  const stats = allStats();
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const root = stats.find((s) => s.pid === rootPid);
  if (root === undefined) return [];
  const out: ProcStat[] = [];
  const queue = [root];
  for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
    out.push(s);
    queue.push(...(children.get(s.pid) ?? []));
  }
  return out;
}

export function cpuSecondsOf(pid: number): number {
  return readStat(pid)?.cpuSeconds ?? Number.NaN;
}

/** Resident set size and its high-water mark, in MiB. */
export function memoryOf(pid: number): { rssMb: number; peakRssMb: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssMb: kb('VmRSS') / 1024, peakRssMb: kb('VmHWM') / 1024 };
  } catch {
    return { rssMb: Number.NaN, peakRssMb: Number.NaN };
  }
}

export type Component = 'bench' | 'leadline' | 'temporal' | 'postgres';

/** CPU seconds used so far by each part of the system: this process, the Leadline process and what it started. */
export function cpuByComponent(leadlinePid: number): Record<Component, number> {
  const totals: Record<Component, number> = { bench: 0, leadline: 0, temporal: 0, postgres: 0 };
  const self = process.cpuUsage();
  totals.bench = (self.user + self.system) / 1e6;
  for (const s of processTree(leadlinePid)) {
    // The dev server is `temporal`; Temporal Server (npm run cluster), `temporal-server`.
    if (s.comm === 'temporal' || s.comm === 'temporal-server') totals.temporal += s.cpuSeconds;
    else if (s.comm === 'postgres' || s.comm.startsWith('postgres')) totals.postgres += s.cpuSeconds;
    else if (s.pid === leadlinePid) totals.leadline += s.cpuSeconds;
  }
  return totals;
}

/** CPU seconds the whole machine has spent busy (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / TICKS_PER_SECOND;
}

/**
 * The whole machine's busy share over time, sampled every `everyMs`: `busyPct(from, to)` is the percent of all its
 * cores that were busy between two instants (undefined before two samples cover them). Stop it with `stop()`.
 */
export function machineBusyRecorder(everyMs = 500) {
  const cores = availableParallelism();
  const samples: { ms: number; busy: number }[] = [{ ms: Date.now(), busy: machineBusySeconds() }];
  const timer = setInterval(() => samples.push({ ms: Date.now(), busy: machineBusySeconds() }), everyMs);
  timer.unref();
  const nearest = (ms: number) =>
    samples.reduce((best, s) => (Math.abs(s.ms - ms) < Math.abs(best.ms - ms) ? s : best), samples[0]!);
  return {
    busyPct: (fromMs: number, toMs: number): number | undefined => {
      const a = nearest(fromMs);
      const b = nearest(toMs);
      if (b.ms - a.ms < everyMs) return undefined;
      return Math.round(((b.busy - a.busy) / ((b.ms - a.ms) / 1000) / cores) * 100);
    },
    stop: () => clearInterval(timer),
  };
}

export type CpuPct = Record<Component | 'total' | 'other', number>;

/**
 * A CPU meter over an interval: percent of one core per component, their total, and `other`: what the rest of the
 * machine used meanwhile (another job on a shared host makes every figure of the interval suspect).
 */
export function cpuMeter(leadlinePid: number): () => CpuPct {
  const start = cpuByComponent(leadlinePid);
  const busy0 = machineBusySeconds();
  const t0 = performance.now();
  return () => {
    const end = cpuByComponent(leadlinePid);
    const busy = machineBusySeconds() - busy0;
    const seconds = (performance.now() - t0) / 1000;
    const pct = (c: Component) => Math.round(((end[c] - start[c]) / seconds) * 1000) / 10;
    const out = {
      bench: pct('bench'),
      leadline: pct('leadline'),
      temporal: pct('temporal'),
      postgres: pct('postgres'),
    };
    const total = Math.round((out.bench + out.leadline + out.temporal + out.postgres) * 10) / 10;
    return { ...out, total, other: Math.max(0, Math.round(((busy / seconds) * 100 - total) * 10) / 10) };
  };
}
