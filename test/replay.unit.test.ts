import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from './support/temporal';

const { History } = proto.temporal.api.history.v1;
const dir = fileURLToPath(new URL('./fixtures/histories/', import.meta.url));
const recorded = readdirSync(dir).filter((f) => f.endsWith('.json'));

function load(file: string) {
  return JSON.parse(readFileSync(`${dir}${file}`, 'utf8')) as Record<string, unknown>;
}

// Histories recorded by scripts/record-histories.ts. A change to workflows/ that these no longer replay
// against would break every lead already running: version the change instead (patched()).
describe('recorded lead histories replay against the current workflow code', () => {
  it('has the three scenarios the lifecycle needs for every workflow version recorded', () => {
    const scenarios = ['closed-early', 'escalated', 'happy-path'];
    const versions = [
      ...new Set(recorded.map((f) => f.replace(/^(closed-early|escalated|happy-path)/, '').replace(/\.json$/, ''))),
    ];
    // '' is the first version; -v2 added the assignment notice; -v3 runs the SLA clock during intake; -v4 appends
    // through a local activity; -v5 runs validation and routing as local activities; -v6 keeps an unmoved SLA
    // timer and writes only changed search attributes; -v7 tries each escalation notice from the
    // worker first; -v8 holds interview requests to the contact-safety rules; -v9 runs the partner loop.
    expect(versions.sort()).toEqual(['', '-v2', '-v3', '-v4', '-v5', '-v6', '-v7', '-v8', '-v9']);
    expect(recorded.sort()).toEqual(versions.flatMap((v) => scenarios.map((s) => `${s}${v}.json`)).sort());
  });

  it('replays every recorded history without a determinism error', async () => {
    const histories = recorded.map((file) => ({ workflowId: file, history: History.fromObject(load(file)) }));
    const results = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
      results.push({ workflowId: result.workflowId, error: result.error?.message });
    }
    expect(results).toEqual(recorded.map((workflowId) => ({ workflowId, error: undefined })));
  });

  it('notices a history the code would not have produced', async () => {
    const json = load('happy-path.json') as {
      events: { activityTaskScheduledEventAttributes?: { activityType: { name: string } } }[];
    };
    const scheduled = json.events.find((e) => e.activityTaskScheduledEventAttributes !== undefined);
    if (scheduled?.activityTaskScheduledEventAttributes === undefined) throw new Error('fixture has no activity');
    scheduled.activityTaskScheduledEventAttributes.activityType.name = 'somethingElse';
    await expect(
      Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, History.fromObject(json), 'tampered'),
    ).rejects.toThrow(/[Nn]ondetermini|DeterminismViolation/);
  });
});

describe('the workflow bundle', () => {
  it('carries no zod: the SDK evaluates every bundled module again for each cached lead', async () => {
    const { code } = await workflowBundle();
    const modules = [...code.matchAll(/\/\*\*\*\/ "(\.\/[^"]+)"/g)].map((m) => m[1]);
    // The pattern must still find the modules it is meant to see, or the check below proves nothing.
    expect(modules).toContain('./workflows/lead.ts');
    expect(modules.filter((m) => m?.includes('/zod/') || m?.startsWith('./schemas/'))).toEqual([
      './schemas/vocabulary.ts',
    ]);
  });
});
