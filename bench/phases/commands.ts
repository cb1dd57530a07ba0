import type { Lifecycle } from '../workload';
import { summarize, type LatencySummary } from '../stats';

/** One command at a time on an otherwise idle system, round-robin over a few open targets. */
export async function measureSequentialCommands(
  lifecycle: Lifecycle,
  targets: string[],
  count: number,
  warmup = Math.min(20, count),
): Promise<LatencySummary> {
  const latencies: number[] = [];
  for (let i = 0; i < warmup + count; i++) {
    const target = targets[i % targets.length] as string;
    const start = performance.now();
    await lifecycle.note(target);
    if (i >= warmup) latencies.push(performance.now() - start);
  }
  return summarize(latencies);
}
