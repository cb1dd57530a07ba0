import { msNumberToTs } from '@temporalio/common/lib/time';
import proto from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { taskPath, type RungPath } from '../bench/faults/rung-path';

const { EventType, TimeoutType } = proto.temporal.api.enums.v1;
const T0 = Date.parse('2026-12-01T10:00:00.000Z');

const TYPES = {
  scheduled: EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
  started: EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
  completed: EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
  failed: EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
  timerStarted: EventType.EVENT_TYPE_TIMER_STARTED,
  timerFired: EventType.EVENT_TYPE_TIMER_FIRED,
  'timed out (schedule-to-start)': EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
  'timed out (start-to-close)': EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
} as const;
const TIMEOUTS: Partial<Record<keyof typeof TYPES, number>> = {
  'timed out (schedule-to-start)': TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START,
  'timed out (start-to-close)': TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE,
};

/** History events from `[what, ms after T0]` steps. */
function history(steps: [keyof typeof TYPES, number][]) {
  return steps.map(([what, ms]) => {
    const timeoutType = TIMEOUTS[what];
    return {
      eventType: TYPES[what],
      eventTime: msNumberToTs(T0 + ms),
      ...(timeoutType === undefined ? {} : { workflowTaskTimedOutEventAttributes: { timeoutType } }),
    };
  });
}

const completedBefore: [keyof typeof TYPES, number][] = [
  ['scheduled', 0],
  ['started', 5],
  ['completed', 40],
  ['timerStarted', 40],
];

const cases: { name: string; then: [keyof typeof TYPES, number][]; recordedAt: number; path: RungPath }[] = [
  {
    name: 'splits the dead worker sticky queue timeout, the wait in the queue and the task itself',
    then: [
      ['timerFired', 1000],
      ['scheduled', 1000],
      ['timed out (schedule-to-start)', 4000],
      ['scheduled', 4000],
      ['started', 6500],
      ['completed', 7200],
    ],
    recordedAt: 7000,
    path: { scheduledMs: T0 + 1000, timedOutMs: 3000, timeouts: ['schedule-to-start'], queuedMs: 2500, taskMs: 500 },
  },
  {
    name: 'names a task the dead worker had started, and picks the attempt that ran before the append',
    then: [
      ['scheduled', 1000],
      ['started', 1010],
      ['timed out (start-to-close)', 11010],
      ['scheduled', 11010],
      ['started', 12000],
      ['completed', 12300],
      // a later task, after the append: not this rung's
      ['scheduled', 20000],
      ['started', 20001],
    ],
    recordedAt: 12200,
    path: { scheduledMs: T0 + 1000, timedOutMs: 10010, timeouts: ['start-to-close'], queuedMs: 990, taskMs: 200 },
  },
  {
    name: 'names an attempt the worker reported failed',
    then: [
      ['scheduled', 1000],
      ['started', 1005],
      ['failed', 1100],
      ['scheduled', 1300],
      ['started', 1310],
    ],
    recordedAt: 1400,
    path: { scheduledMs: T0 + 1000, timedOutMs: 300, timeouts: ['failed'], queuedMs: 10, taskMs: 90 },
  },
];

describe('the path of the task that recorded a rung (npm run faults explains its latest rung)', () => {
  for (const { name, then, recordedAt, path } of cases) {
    it(name, () => {
      expect(taskPath(history([...completedBefore, ...then]), T0 + recordedAt)).toEqual(path);
    });
  }

  it('says nothing when no task started before the append', () => {
    expect(taskPath(history(completedBefore), T0 - 1)).toBeUndefined();
  });
});
