import type { Connection } from '@temporalio/client';

/** temporal.api.enums.v1 numbers: a normal (not sticky) task queue, and its workflow tasks. */
const TASK_QUEUE_KIND_NORMAL = 1;
const TASK_QUEUE_TYPE_WORKFLOW = 1;

/**
 * An idle worker's long poll lasts up to a minute, and Temporal records a poller when its poll begins; a poller
 * whose last poll began longer ago than this has stopped (or is saturated, which is not ready either).
 */
export const DEFAULT_POLLER_RECENT_MS = 75_000;
/** Readiness is probed often (load balancers, Kubernetes); one DescribeTaskQueue per few seconds answers them all. */
export const DEFAULT_POLLER_CACHE_MS = 5_000;
/** A "not ready" is kept for less, so a worker back from an outage is seen within a second. */
const FAILURE_CACHE_MS = 1_000;
const DESCRIBE_TIMEOUT_MS = 2_000;

/** No worker has polled the lead task queue recently: leads are accepted but nothing records or escalates them. */
export class NoWorkerPollingError extends Error {
  override readonly name = 'NoWorkerPollingError';
  constructor(
    readonly taskQueue: string,
    readonly recentMs: number,
  ) {
    super(`no worker has polled the task queue ${taskQueue} in the last ${Math.round(recentMs / 1000)} s`);
  }
}

export interface WorkerPollingCheckOptions {
  connection: Pick<Connection, 'workflowService' | 'withDeadline'>;
  namespace: string;
  taskQueue: string;
  recentMs?: number;
  cacheMs?: number;
  /** For tests: the clock the poller times are compared with. */
  now?: () => number;
}

/**
 * A readiness check that throws NoWorkerPollingError while no worker polls the lead task queue's workflow tasks
 * (DescribeTaskQueue's pollers). A ready answer is reused for `cacheMs`, a not-ready one for up to a second, and
 * concurrent probes share one call.
 */
export function workerPollingCheck(options: WorkerPollingCheckOptions): () => Promise<void> {
  const recentMs = options.recentMs ?? DEFAULT_POLLER_RECENT_MS;
  const cacheMs = options.cacheMs ?? DEFAULT_POLLER_CACHE_MS;
  const now = options.now ?? Date.now;
  let cached: { at: number; answer: Promise<void>; failed: boolean } | undefined;

  async function ask(): Promise<void> {
    const { connection } = options;
    const response = await connection.withDeadline(Date.now() + DESCRIBE_TIMEOUT_MS, () =>
      connection.workflowService.describeTaskQueue({
        namespace: options.namespace,
        taskQueue: { name: options.taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
        taskQueueType: TASK_QUEUE_TYPE_WORKFLOW,
      }),
    );
    const latest = Math.max(-Infinity, ...(response.pollers ?? []).map((p) => millisOf(p.lastAccessTime)));
    if (!(now() - latest <= recentMs)) throw new NoWorkerPollingError(options.taskQueue, recentMs);
  }

  return () => {
    const at = now();
    const keptMs = cached?.failed === true ? Math.min(cacheMs, FAILURE_CACHE_MS) : cacheMs;
    if (cached === undefined || at - cached.at >= keptMs) {
      const entry = { at, answer: ask(), failed: false };
      // Kept for the next probes whatever it says; this caller gets the rejection, later ones theirs.
      entry.answer.catch(() => {
        entry.failed = true;
      });
      cached = entry;
    }
    return cached.answer;
  };
}

function millisOf(timestamp: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (timestamp === null || timestamp === undefined) return -Infinity;
  const seconds = Number(timestamp.seconds ?? 0);
  return seconds * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6);
}
