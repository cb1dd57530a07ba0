import { describe, expect, it } from 'vitest';
import { NoWorkerPollingError, workerPollingCheck } from '../client/readiness';

/** A connection whose DescribeTaskQueue answers with pollers last seen at the given instants (ms). */
function fakeConnection(seenAt: () => number[]) {
  const calls: unknown[] = [];
  const connection = {
    withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn(),
    workflowService: {
      describeTaskQueue: (request: unknown) => {
        calls.push(request);
        return Promise.resolve({
          pollers: seenAt().map((ms) => ({
            identity: 'w',
            lastAccessTime: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 },
          })),
        });
      },
    },
  };
  return { connection: connection as never, calls };
}

describe('the worker polling check', () => {
  const T = 1_800_000_000_000;

  it('is ready while a worker polled the workflow task queue recently, not once its polls are old', async () => {
    let now = T;
    let seen = [T - 50_000];
    const { connection, calls } = fakeConnection(() => seen);
    const check = workerPollingCheck({ connection, namespace: 'ns', taskQueue: 'leads', now: () => now, cacheMs: 0 });
    await expect(check()).resolves.toBeUndefined();
    expect(calls[0]).toEqual({ namespace: 'ns', taskQueue: { name: 'leads', kind: 1 }, taskQueueType: 1 });
    now = T + 30_000;
    await expect(check()).rejects.toBeInstanceOf(NoWorkerPollingError);
    await expect(check()).rejects.toThrow(/no worker has polled the task queue leads in the last 75 s/);
    seen = [];
    await expect(check()).rejects.toBeInstanceOf(NoWorkerPollingError);
    seen = [T - 200_000, T + 29_000];
    await expect(check()).resolves.toBeUndefined();
  });

  it('asks Temporal once per cache period, however many probes come', async () => {
    let now = T;
    const { connection, calls } = fakeConnection(() => [now - 1_000]);
    const check = workerPollingCheck({ connection, namespace: 'ns', taskQueue: 'leads', now: () => now });
    await Promise.all([check(), check(), check()]);
    now += 4_000;
    await check();
    expect(calls).toHaveLength(1);
    now += 1_000;
    await check();
    expect(calls).toHaveLength(2);
  });

  it('keeps a failure for a second only, so a worker back from an outage is seen at once', async () => {
    let now = T;
    let seen: number[] = [];
    const { connection, calls } = fakeConnection(() => seen);
    const check = workerPollingCheck({ connection, namespace: 'ns', taskQueue: 'leads', now: () => now });
    await expect(check()).rejects.toBeInstanceOf(NoWorkerPollingError);
    seen = [now];
    now += 500;
    await expect(check()).rejects.toBeInstanceOf(NoWorkerPollingError);
    expect(calls).toHaveLength(1);
    now += 500;
    await expect(check()).resolves.toBeUndefined();
    expect(calls).toHaveLength(2);
  });
});
