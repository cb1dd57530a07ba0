import { msNumberToTs } from '@temporalio/common/lib/time';
import proto from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { taskPath } from '../bench/faults/rung-path';

const { EventType, TimeoutType } = proto.temporal.api.enums.v1;
const T0 = Date.parse('2026-12-01T10:00:00.000Z');

/** A history event of this type `ms` after T0. */
function event(eventType: proto.temporal.api.enums.v1.EventType, ms: number, timeoutType?: number) {
  return {
    eventType,
    eventTime: msNumberToTs(T0 + ms),
    ...(timeoutType === undefined ? {} : { workflowTaskTimedOutEventAttributes: { timeoutType } }),
  };
}

const completedBefore = [
  event(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, 0),
  event(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, 5),
  event(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, 40),
  event(EventType.EVENT_TYPE_TIMER_STARTED, 40),
];

describe('the path of the task that recorded a rung (npm run faults explains its latest rung)', () => {
  it('splits the dead worker sticky queue timeout, the wait in the queue and the task itself', () => {
    const events = [
      ...completedBefore,
      event(EventType.EVENT_TYPE_TIMER_FIRED, 1000),
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, 1000),
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT, 4000, TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START),
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, 4000),
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, 6500),
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, 7200),
    ];
    expect(taskPath(events, T0 + 7000)).toEqual({
      scheduledMs: T0 + 1000,
      timedOutMs: 3000,
      timeouts: ['schedule-to-start'],
      queuedMs: 2500,
      taskMs: 500,
    });
  });

  it('names a task the dead worker had started, and picks the attempt that ran before the append', () => {
    const events = [
      ...completedBefore,
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, 1000),
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, 1010),
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT, 11010, TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE),
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, 11010),
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, 12000),
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, 12300),
      // a later task, after the append: not this rung's
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, 20000),
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, 20001),
    ];
    expect(taskPath(events, T0 + 12200)).toEqual({
      scheduledMs: T0 + 1000,
      timedOutMs: 10010,
      timeouts: ['start-to-close'],
      queuedMs: 990,
      taskMs: 200,
    });
  });

  it('names an attempt the worker reported failed', () => {
    const events = [
      ...completedBefore,
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, 1000),
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, 1005),
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, 1100),
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, 1300),
      event(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, 1310),
    ];
    expect(taskPath(events, T0 + 1400)).toMatchObject({ timedOutMs: 300, timeouts: ['failed'], queuedMs: 10 });
  });

  it('says nothing when no task started before the append', () => {
    expect(taskPath(completedBefore, T0 - 1)).toBeUndefined();
  });
});
