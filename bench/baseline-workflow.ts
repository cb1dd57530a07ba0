import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  defineQuery,
  defineUpdate,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';

/**
 * The throughput baseline: the smallest workflow that does to Temporal what a lead does on its happy path, and
 * nothing else. The bench reads the shape off a real lead's history first (bench/workload.ts `probeLeadShape`), so
 * the baseline follows the lead workflow as it changes: an update-with-start answered after the first activity,
 * the `chain` of activities (each local or remote, in the lead's order) until the lead is assigned, `side` remote
 * activities started beside the lead's life at that point (Leadline's notices), then one update per command, each
 * running the activities a command runs. It keeps no domain state, writes no search attributes, starts no timers,
 * encrypts nothing, and its activities do nothing.
 */
export const BASELINE_WORKFLOW_TYPE = 'baselineWorkflow';
export const BASELINE_TASK_QUEUE = 'bench-baseline';

export interface BaselineActivities {
  noop(step: string): Promise<void>;
}

export type ActivityKind = 'local' | 'remote';

export interface BaselineShape {
  chain: ActivityKind[];
  side: number;
  /** What each command runs; the AddNote twin runs the first command's. */
  commands: ActivityKind[][];
}

const remote = proxyActivities<BaselineActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '30 seconds' },
});
const local = proxyLocalActivities<BaselineActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '30 seconds' },
});
const run = (kind: ActivityKind, step: string) => (kind === 'local' ? local : remote).noop(step);
const runAll = async (kinds: readonly ActivityKind[], step: string) => {
  for (const kind of kinds) await run(kind, step);
};

export const baselineReceivedUpdate = defineUpdate<{ workflowId: string }>('BaselineReceived');
/** One of the commands of the happy path. */
export const baselineStepUpdate = defineUpdate<number>('BaselineStep');
/** An update that changes nothing but runs what a command runs: the twin of AddNote. */
export const baselineNoteUpdate = defineUpdate<number>('BaselineNote');
/** 0 started, 1 received (first activity done), 2 assigned (chain done), then one more per command. */
export const baselineStageQuery = defineQuery<number>('BaselineStage');
export const ASSIGNED_STAGE = 2;

export async function baselineWorkflow(shape: BaselineShape & { keepOpen?: boolean }): Promise<number> {
  let stage = 0;
  // Like the lead, one state change at a time: the intake first, then whoever comes next.
  let busy = true;
  async function exclusively<T>(fn: () => Promise<T>): Promise<T> {
    while (busy) await condition(() => !busy);
    busy = true;
    try {
      return await fn();
    } finally {
      busy = false;
    }
  }
  const last = ASSIGNED_STAGE + shape.commands.length;
  const [first, ...rest] = shape.chain;

  setHandler(baselineStageQuery, () => stage);
  setHandler(baselineReceivedUpdate, async () => {
    await condition(() => stage >= 1);
    return { workflowId: workflowInfo().workflowId };
  });
  setHandler(
    baselineStepUpdate,
    () =>
      exclusively(async () => {
        await runAll(shape.commands[stage - ASSIGNED_STAGE] ?? [], 'command');
        stage += 1;
        return stage;
      }),
    {
      validator: () => {
        if (stage < ASSIGNED_STAGE || stage >= last) throw ApplicationFailure.nonRetryable(`no step at stage ${stage}`);
      },
    },
  );
  setHandler(
    baselineNoteUpdate,
    () =>
      exclusively(async () => {
        await runAll(shape.commands[0] ?? [], 'note');
        return stage;
      }),
    {
      validator: () => {
        if (stage < 1) throw ApplicationFailure.nonRetryable('not received yet');
      },
    },
  );

  try {
    if (first !== undefined) await run(first, 'receive');
    stage = 1;
  } finally {
    busy = false;
  }
  for (const kind of rest) await exclusively(() => run(kind, 'chain'));
  stage = ASSIGNED_STAGE;
  const side = Array.from({ length: shape.side }, () => remote.noop('side'));
  await condition(() => stage >= last && shape.keepOpen !== true);
  await Promise.all(side);
  await condition(allHandlersFinished);
  return stage;
}
