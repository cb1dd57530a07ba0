import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from './support/temporal';

const { History } = proto.temporal.api.history.v1;
const dir = fileURLToPath(new URL('./fixtures/histories/', import.meta.url));
/** One folder per release, each with the histories scripts/record-histories.ts recorded on it: `1.0/happy-path.json`. */
const releases = readdirSync(dir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();
const recorded = releases.flatMap((release) =>
  readdirSync(`${dir}${release}`)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => `${release}/${f}`),
);

function load(file: string) {
  return JSON.parse(readFileSync(`${dir}${file}`, 'utf8')) as Record<string, unknown>;
}
const histories = () => recorded.map((file) => ({ workflowId: file, history: History.fromObject(load(file)) }));

/** Replays every recorded history against a bundle; each history's determinism error, if any. */
async function replayAll(code: string): Promise<{ workflowId: string; error: string | undefined }[]> {
  const results = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: { code } }, histories())) {
    results.push({ workflowId: result.workflowId, error: result.error?.message });
  }
  return results;
}

// Histories recorded by scripts/record-histories.ts. A change to workflows/ that these no longer replay
// against would break every lead already running: version it instead (patched(), see workflows/lead.ts).
describe('recorded lead histories replay against the current workflow code', () => {
  it('has the 1.0 and 1.1 sets: every scenario the recording script runs', () => {
    const scenarios = ['closed-early', 'escalated', 'happy-path', 'long-lead-first-run', 'safety-and-stabilisation'];
    for (const release of ['1.0', '1.1']) {
      expect(releases).toContain(release);
      expect(recorded.filter((f) => f.startsWith(`${release}/`))).toEqual(scenarios.map((s) => `${release}/${s}.json`));
    }
  });

  it('replays every recorded history without a determinism error', async () => {
    const { code } = await workflowBundle();
    expect(await replayAll(code)).toEqual(recorded.map((workflowId) => ({ workflowId, error: undefined })));
  });

  it('notices a history the code would not have produced', async () => {
    const json = load('1.0/happy-path.json') as {
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

/**
 * The other half of the proof: workflow code changed without patched() must fail the replay. Each variant is the
 * real bundle with one deliberate change to the commands the workflow issues, made in the bundled code (test only;
 * nothing of it reaches workflows/). A variant whose pattern is no longer in the bundle fails loudly, so a refactor
 * of workflows/lead.ts cannot turn this check into one that proves nothing.
 */
const unversionedChanges: { change: string; alter: (code: string) => string; breaks: string[] }[] = [
  {
    // Command order: every recorded lead has a workflow task that schedules partner notices beside its other notices
    // (an assignment by routing acknowledges the partner in the same fold); swapped, those commands come in another
    // order than the history's.
    change: 'the partner notices scheduled before the assignment notice',
    alter: (code) =>
      replaceOnce(
        code,
        /(publishSearchAttributes\(\);\s*)(for \(const event of events\)\s*\{[^}]*\}\s*)(for \(const notice of partnerNotices\)\s*track\(notifier\.notifyPartner\(notice\), 'partner notice'\);)/,
        '$1$3\n$2',
      ),
    breaks: recorded,
  },
  {
    change: 'the assignment notice sent as a local activity instead of an activity',
    alter: (code) => replaceOnce(code, /\bnotifier\.notifyAssignment\(/, 'localNotifier.notifyAssignment('),
    breaks: recorded,
  },
  {
    // A lead begun before 1.1 ran on until the server suggested continue-as-new (about 4,000 events); its replay on
    // 1.1 code must not continue it as new at 1,000 events, which only the patched() guard prevents (the short 1.0
    // histories never reach 1,000 events, so they replay either way)...
    change: 'the bounded history taken without its patched() guard',
    alter: (code) => replaceOnce(code, /\(0,\s*[\w$]+\.patched\)\(['"]1\.1-bounded-history['"]\)/, 'true'),
    // ...and every 1.1 history holds the guard's marker, which the code no longer asks for.
    breaks: ['1.0/long-lead-first-run.json', ...recorded.filter((f) => f.startsWith('1.1/'))],
  },
  {
    change: 'the partner notices no longer sent',
    alter: (code) =>
      replaceOnce(
        code,
        /for \(const notice of partnerNotices\)\s*track\(notifier\.notifyPartner\(notice\), 'partner notice'\);/,
        '',
      ),
    breaks: recorded,
  },
];

function replaceOnce(code: string, pattern: RegExp, replacement: string): string {
  const found = code.match(new RegExp(pattern.source, 'g'))?.length ?? 0;
  if (found !== 1) {
    throw new Error(
      `the bundle holds ${found} matches of ${pattern.source}, not 1: update this variant to workflows/lead.ts`,
    );
  }
  return code.replace(pattern, replacement);
}

describe('the replay test catches an unversioned change to the command sequence', () => {
  for (const { change, alter, breaks } of unversionedChanges) {
    it(`fails the recorded histories when ${change}`, async () => {
      const { code } = await workflowBundle();
      const results = await replayAll(alter(code));
      const failed = results.filter((r) => r.error !== undefined);
      expect(failed.map((r) => r.workflowId).sort()).toEqual([...breaks].sort());
      for (const { error } of failed) expect(error).toMatch(/[Nn]ondetermini|DeterminismViolation/);
    });
  }
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
