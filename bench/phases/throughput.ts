import type { Lifecycle } from '../workload';
import { cpuMeter, type CpuPct } from '../procfs';
import { round, sleep, summarize, type LatencySummary } from '../stats';

export interface ThroughputResult {
  name: string;
  completedInWindow: number;
  perSecond: number;
  lifecycleMs: LatencySummary;
  /** Sequential `note` commands sent beside the drivers, during the window. */
  commandUnderLoadMs: LatencySummary;
  /** Status queries per lifecycle started in the run (warm-up included) while waiting for routing. */
  pollsPerLifecycle: number;
  errors: number;
  firstErrors: string[];
  cpuPct: CpuPct;
}

/**
 * Closed loop: `drivers` lanes each run whole lifecycles back to back for warm-up plus window; only lifecycles that
 * finish inside the window count. Beside them, one lane sends `note` commands one at a time to open targets and
 * times them: command latency under the same load.
 */
export async function measureThroughput(
  lifecycle: Lifecycle,
  options: { drivers: number; warmupMs: number; windowMs: number; noteTargets: string[]; leadlinePid: number },
): Promise<ThroughputResult> {
  const t0 = performance.now();
  const windowStart = t0 + options.warmupMs;
  const windowEnd = windowStart + options.windowMs;
  const durations: number[] = [];
  const noteLatencies: number[] = [];
  const firstErrors: string[] = [];
  let errors = 0;
  let completed = 0;
  let started = 0;
  const pollsBefore = lifecycle.polls();
  let cpuPct: CpuPct | undefined;

  const fail = (error: unknown) => {
    errors++;
    if (firstErrors.length < 5) firstErrors.push((error as Error).message ?? String(error));
  };
  const driver = async () => {
    while (performance.now() < windowEnd) {
      const start = performance.now();
      started++;
      try {
        await lifecycle.run();
        const end = performance.now();
        if (end >= windowStart && end < windowEnd) {
          completed++;
          durations.push(end - start);
        }
      } catch (error) {
        fail(error);
        await sleep(100);
      }
    }
  };
  const sampler = async () => {
    for (let i = 0; performance.now() < windowEnd; i++) {
      const target = options.noteTargets[i % options.noteTargets.length] as string;
      const start = performance.now();
      try {
        await lifecycle.note(target);
        if (start >= windowStart) noteLatencies.push(performance.now() - start);
      } catch (error) {
        fail(error);
        await sleep(100);
      }
    }
  };
  // CPU is read over the window only.
  const cpuWindow = (async () => {
    await sleep(windowStart - performance.now());
    const meter = cpuMeter(options.leadlinePid);
    await sleep(windowEnd - performance.now());
    cpuPct = meter();
  })();
  await Promise.all([...Array.from({ length: options.drivers }, driver), sampler(), cpuWindow]);
  return {
    name: lifecycle.name,
    completedInWindow: completed,
    perSecond: round(completed / (options.windowMs / 1000), 2),
    lifecycleMs: summarize(durations),
    commandUnderLoadMs: summarize(noteLatencies),
    pollsPerLifecycle: round((lifecycle.polls() - pollsBefore) / Math.max(1, started), 1),
    errors,
    firstErrors,
    cpuPct: cpuPct ?? { bench: NaN, leadline: NaN, temporal: NaN, postgres: NaN, total: NaN, other: NaN },
  };
}
