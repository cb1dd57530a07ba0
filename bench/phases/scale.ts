import type { LeadClient } from '../../client/lead-client';
import { cpuMeter, cpuSecondsOf, memoryOf, type CpuPct } from '../procfs';
import type { BenchStack } from '../stack';
import { mapConcurrent, round, sleep, until } from '../stats';
import { leadWorkflowId } from '../../workflows/messages';
import { newTally, routableIntake, submitWithRetry } from '../workload';

export interface ScaleResult {
  /** Leads started (a receipt came back); `requested` minus those whose submission failed for good. */
  leads: number;
  requested: number;
  submitFailed: number;
  submitRetries: number;
  /** Receipted leads Temporal does not list as running (by id, ExecutionStatus='Running'). */
  missingFromTemporal: number;
  /** Until every submission was answered (its intake durably recorded). */
  submitSeconds: number;
  /** Until every lead was validated and routed: each then waits on its SLA timer. */
  startSeconds: number;
  startRatePerSecond: number;
  workerRssMb: number;
  workerPeakRssMb: number;
  workerHeapUsedMb: number;
  workerHeapTotalMb: number;
  workerExternalMb: number;
  workflowCacheSlots: number;
  temporalCpuSeconds: number;
  temporalCpuPctDuringStart: number;
  idleCpuPct: CpuPct;
  runningBefore: number;
  runningAfter: number;
  rowsAssigned: number;
  lost: number;
  errors: number;
  firstErrors: string[];
  cpuPct: CpuPct;
}

const RUNNING = `WorkflowType = 'leadWorkflow' AND ExecutionStatus = 'Running'`;

async function notRunning(stack: BenchStack, leadIds: string[]): Promise<number> {
  const running = new Set<string>();
  for await (const execution of stack.temporal.workflow.list({ query: RUNNING, pageSize: 1000 })) {
    running.add(execution.workflowId);
  }
  return leadIds.filter((id) => !running.has(leadWorkflowId(id))).length;
}

/** Starts `count` routed leads, each left waiting on its interview-request SLA timer, and reads what that costs. */
export async function measureScale(
  stack: BenchStack,
  leads: LeadClient,
  options: { count: number; concurrency: number; idleSeconds: number },
): Promise<ScaleResult> {
  const countRunning = async () => (await stack.temporal.workflow.count(RUNNING)).count;
  // Visibility trails the executions a little: read until two reads agree.
  const settledCount = async () => {
    let previous = await countRunning();
    for (let i = 0; i < 20; i++) {
      await sleep(500);
      const now = await countRunning();
      if (now === previous) return now;
      previous = now;
    }
    return previous;
  };
  const runningBefore = await settledCount();

  const temporalCpu0 = stack.temporalPid === undefined ? NaN : cpuSecondsOf(stack.temporalPid);
  const meter = cpuMeter(stack.leadlinePid);
  const t0 = performance.now();
  const tally = newTally();
  const intakes = Array.from({ length: options.count }, () => routableIntake('SCALE'));
  const receipts = await mapConcurrent(intakes, options.concurrency, (intake) =>
    submitWithRetry(leads, intake, tally, Math.max(10, options.count * 0.05)),
  );
  const ids = receipts.filter((id): id is string => id !== undefined);
  const submitSeconds = (performance.now() - t0) / 1000;
  const assignedCount = async () =>
    (
      await stack.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM leads WHERE lead_id = ANY($1::uuid[]) AND status = 'assigned'`,
        [ids],
      )
    ).rows[0]?.n ?? 0;
  let rowsAssigned = await until('scale leads assigned', assignedCount, (n) => n >= ids.length, {
    timeoutMs: Math.max(120_000, options.count * 20),
    intervalMs: 250,
  }).catch(() => assignedCount());
  const startSeconds = (performance.now() - t0) / 1000;
  const cpuPct = meter();
  const temporalCpuSeconds = stack.temporalPid === undefined ? NaN : cpuSecondsOf(stack.temporalPid) - temporalCpu0;

  const memory = await stack.memory();
  const proc = memoryOf(stack.leadlinePid);

  const idle = cpuMeter(stack.leadlinePid);
  await sleep(options.idleSeconds * 1000);
  const idleCpuPct = idle();

  const runningAfter = await settledCount();
  // Each lead by id: visibility lags a little, so a lead missing from it is looked for again for up to 30 s.
  let missingFromTemporal = await notRunning(stack, ids);
  for (let i = 0; i < 15 && missingFromTemporal > 0; i++) {
    await sleep(2000);
    missingFromTemporal = await notRunning(stack, ids);
  }
  rowsAssigned = await assignedCount();
  const distinct = new Set(ids).size;
  const mb = (bytes: number) => round(bytes / 1024 / 1024, 0);
  return {
    leads: ids.length,
    requested: options.count,
    submitFailed: tally.failed,
    submitRetries: tally.retries,
    missingFromTemporal,
    submitSeconds: round(submitSeconds, 2),
    startSeconds: round(startSeconds, 2),
    startRatePerSecond: round(options.count / startSeconds, 1),
    workerRssMb: round(proc.rssMb, 0),
    workerPeakRssMb: round(proc.peakRssMb, 0),
    workerHeapUsedMb: mb(memory.usage.heapUsed),
    workerHeapTotalMb: mb(memory.usage.heapTotal),
    workerExternalMb: mb(memory.usage.external),
    workflowCacheSlots: stack.workflowCacheSlots,
    temporalCpuSeconds: round(temporalCpuSeconds, 1),
    temporalCpuPctDuringStart: round((temporalCpuSeconds / startSeconds) * 100, 1),
    idleCpuPct,
    runningBefore,
    runningAfter,
    rowsAssigned,
    lost: distinct - Math.min(distinct - missingFromTemporal, rowsAssigned),
    errors: tally.failed + tally.retries,
    firstErrors: tally.firstErrors,
    cpuPct,
  };
}
