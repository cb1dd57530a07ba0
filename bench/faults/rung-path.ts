import type { Client } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import proto from '@temporalio/proto';
import { leadWorkflowId } from '../../workflows/messages';

const EventType = proto.temporal.api.enums.v1.EventType;
const TimeoutType = proto.temporal.api.enums.v1.TimeoutType;

/**
 * Where the time went between a rung's timer firing and its append, read off the lead's history in Temporal:
 * how long its workflow task waited for timeouts (the dead worker's sticky queue; a task it had started), how long
 * it then sat in the task queue, and how long the task that recorded the rung ran.
 */
export interface RungPath {
  /** When the first attempt of the task was scheduled (the timer fired), ms since the epoch. */
  scheduledMs: number;
  /** Spent on attempts that did not complete: on the dead worker's sticky queue, started by it and never finished, or failed. */
  timedOutMs: number;
  /**
   * Why each earlier attempt ended: `schedule-to-start` on the dead worker's sticky queue, `start-to-close` of a task it
   * had started, `failed` (the worker reported the task failed).
   */
  timeouts: string[];
  /** From the last attempt's scheduling until a worker took it. */
  queuedMs: number;
  /** From the task's start until the rung was in the log. */
  taskMs: number;
}

/** The path of the workflow task that recorded a rung at `recordedMs`, or undefined when the history does not show it. */
export async function rungPath(temporal: Client, leadId: string, recordedMs: number): Promise<RungPath | undefined> {
  const history = await temporal.workflow.getHandle(leadWorkflowId(leadId)).fetchHistory();
  return taskPath(history.events ?? [], recordedMs);
}

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

/** `rungPath` on a history's events. */
export function taskPath(events: readonly HistoryEvent[], recordedMs: number): RungPath | undefined {
  // The task that made the append is the last one started before it was in the log (appends run inside it).
  let startedAt = -1;
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    if (event.eventType !== EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED) continue;
    if (tsToMs(event.eventTime) > recordedMs) break;
    startedAt = i;
  }
  if (startedAt < 0) return undefined;
  // Back to the previous completed task: every scheduling and timeout between belongs to this task's attempts.
  let firstScheduledMs: number | undefined;
  let lastScheduledMs: number | undefined;
  const timeouts: string[] = [];
  for (let i = startedAt - 1; i >= 0; i--) {
    const event = events[i]!;
    if (event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) break;
    if (event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED) {
      firstScheduledMs = tsToMs(event.eventTime);
      lastScheduledMs ??= firstScheduledMs;
    }
    if (event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT) {
      const type = event.workflowTaskTimedOutEventAttributes?.timeoutType;
      timeouts.unshift(type === TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START ? 'schedule-to-start' : 'start-to-close');
    }
    if (event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) timeouts.unshift('failed');
  }
  if (firstScheduledMs === undefined || lastScheduledMs === undefined) return undefined;
  const started = tsToMs(events[startedAt]!.eventTime);
  return {
    scheduledMs: firstScheduledMs,
    timedOutMs: lastScheduledMs - firstScheduledMs,
    timeouts,
    queuedMs: started - lastScheduledMs,
    taskMs: recordedMs - started,
  };
}
