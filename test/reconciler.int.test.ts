import { randomUUID } from 'node:crypto';
import type { WorkflowExecutionDescription } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDirectory } from '../activities/directory';
import { createEventStore } from '../activities/event-store';
import { projectLead } from '../activities/lead-activities';
import { createNotificationDelivery } from '../activities/notifications/deliver';
import { createHealingNotifier } from '../activities/notifications/healing';
import { createLogAdapter } from '../activities/notifications/log';
import type { NotificationAdapter } from '../activities/notifications/types';
import { createLeadReadModel } from '../activities/read-model';
import { runCli } from '../client/cli';
import { LeadClient } from '../client/lead-client';
import { decide, evolve, fold, stageDeadline } from '../domain';
import type { LeadCommand } from '../schemas/commands';
import type { LeadEvent } from '../schemas/events';
import type { LeadState } from '../schemas/lead';
import { defaultSlaPolicy } from '../schemas/sla-policy';
import { leadStateQuery, leadWorkflowId } from '../workflows/messages';
import {
  RECONCILER_ACTOR,
  reconcileOnce,
  startReconciler,
  type PassReport,
  type Reconciler,
  type ReconcilerOptions,
} from '../worker/reconciler';
import { createHealer, type Healer, type HealerDeps } from '../admin/healer';
import { sampleIntake, sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, TEST_FINGERPRINT_KEY, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';
import { waitFor } from './support/wait';

let env: TestWorkflowEnvironment;
let stack: TestStack;
let healer: Healer;
let healerDeps: HealerDeps;
let reconcilerOptions: ReconcilerOptions;
/** What the counter was given, the log lines and HQ's notices, as the test wires them. */
const healed: Record<string, string>[] = [];
const logLines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
const hqNotices: string[] = [];

/** Text of the sample intakes that must never show in a line, a notice or the CLI's output. */
const PERSONAL =
  /Hotline Advocate|Outreach Coordinator|Det\. Sample Officer|Anonymous caller|farmworkers|Immokalee|Houston/i;

beforeAll(async () => {
  env = await startDevServer();
  stack = await startStack(env);
  const adapters = [createLogAdapter({ write: (line) => hqNotices.push(line) })];
  healerDeps = {
    pool: stack.db.pool,
    client: stack.temporal,
    taskQueue: stack.taskQueue,
    policy: stack.policy,
    notifier: createHealingNotifier({
      directory: await loadDirectory(),
      delivery: createNotificationDelivery({ pool: stack.db.pool, adapters }),
      channels: ['log'],
    }),
    counter: { add: (_value, tags) => healed.push(tags ?? {}) },
    log: (level, message, fields) => logLines.push({ level, message, fields }),
    actor: RECONCILER_ACTOR,
  };
  healer = createHealer(healerDeps);
  reconcilerOptions = {
    pool: stack.db.pool,
    client: stack.temporal,
    healer,
    log: (level, message, fields) => logLines.push({ level, message, fields }),
    intervalMs: 1_000,
    quietMs: 0,
  };
});
/** The workflow-task timeout a run was started with. */
const taskTimeoutMs = (description: WorkflowExecutionDescription) =>
  tsToMs(description.raw.executionConfig?.defaultWorkflowTaskTimeout);

afterAll(async () => {
  await stack?.stop();
  await env?.teardown();
});

describe('the reconciler restarts open leads whose workflow is not running', () => {
  let reconciler: Reconciler;
  beforeAll(() => {
    reconciler = startReconciler(reconcilerOptions);
  });
  afterAll(async () => {
    await reconciler?.stop();
  });

  it('a terminated lead runs again within seconds, with the state of its log, and takes commands', async () => {
    const { leadId } = await stack.client.submitLead(
      { ...sampleIntakeInputs()['ngo-farmworkers']!, externalReference: 'REC-TERMINATED' },
      { actor: 'svc:test' },
    );
    await waitFor(async () => (await stack.client.getLead(leadId)).state.status === 'assigned', 'assigned');
    const handle = stack.temporal.workflow.getHandle(leadWorkflowId(leadId));
    const before = await handle.query(leadStateQuery);
    const oldRun = (await handle.describe()).runId;
    // A task caught on a dead worker holds the lead 5 s, not Temporal's 10 (workflows/messages.ts says why).
    expect(taskTimeoutMs(await handle.describe())).toBe(5_000);

    await handle.terminate('test: an operator pressed Terminate');
    const terminatedAt = Date.now();
    await waitFor(async () => (await handle.describe()).status.name === 'RUNNING', 'running again', 15_000);
    const took = Date.now() - terminatedAt;
    console.info(`reconciler: terminated lead running again after ${(took / 1000).toFixed(1)} s (passes every 1 s)`);
    expect((await handle.describe()).runId).not.toBe(oldRun);
    expect(taskTimeoutMs(await handle.describe())).toBe(5_000);

    const log = fold(await logOf(leadId));
    const snapshot = await handle.query(leadStateQuery);
    expect(snapshot?.state).toEqual(log);
    expect(snapshot?.state).toEqual(before?.state);
    expect(snapshot?.stageDeadline).toBe(before?.stageDeadline);
    expect(snapshot?.state.receivedAt).toBe(before?.state.receivedAt);

    const after = await stack.client.command(leadId, 'AddNote', { text: 'called back' }, { actor: 'agent:x' });
    expect(after.state.version).toBe((before?.state.version ?? 0) + 1);

    await expectHealedOnce(leadId, 'TERMINATED');
  });

  it('a lead Temporal never heard of (its database lost) starts from the events in the log', async () => {
    const leadId = randomUUID();
    const receivedAt = Date.now() - 120_000;
    const events = await appendWithoutWorkflow(leadId, [
      receive(leadId, 'newark-interview-request', receivedAt),
      { type: 'ValidateLead', data: { outcome: 'valid', fingerprint: `fp-${leadId}` }, at: receivedAt + 1_000 },
      { type: 'AssignLead', data: { office: 'HSI-NEWARK', routed: true }, at: receivedAt + 2_000 },
    ]);
    const handle = stack.temporal.workflow.getHandle(leadWorkflowId(leadId));
    await waitFor(
      async () => (await handle.describe().catch(() => undefined))?.status.name === 'RUNNING',
      'started',
      15_000,
    );
    const snapshot = await handle.query(leadStateQuery);
    expect(snapshot?.state).toEqual(fold(events));
    expect(snapshot?.state).toMatchObject({ status: 'assigned', office: 'HSI-NEWARK', version: 3 });
    expect(snapshot?.state.receivedAt).toBe(new Date(receivedAt).toISOString());
    expect(snapshot?.stageDeadline).toBe(stageDeadline(fold(events)!.sla));

    const requested = await stack.client.command(
      leadId,
      'RequestInterview',
      {
        scheduledFor: '2026-12-02T15:00:00.000Z',
        place: 'Newark field office',
        interpreterLanguage: 'vi',
        victimSpecialist: true,
      },
      { actor: 'agent:rivera' },
    );
    expect(requested.state).toMatchObject({ status: 'interview_requested', version: 4 });
    expect(fold(await logOf(leadId))).toEqual(requested.state);

    await expectHealedOnce(leadId, 'missing');
  });

  it('a lead lost before its intake checks ran is restarted with its intake, to finish them', async () => {
    const leadId = randomUUID();
    await reconciler.stop();
    try {
      await appendWithoutWorkflow(leadId, [receive(leadId, 'ngo-farmworkers', Date.now() - 60_000)]);
      const result = await healer.recover(leadId);
      expect(result).toMatchObject({
        outcome: 'restarted',
        workflowWas: 'missing',
        status: 'received',
        withIntake: true,
      });
      const handle = stack.temporal.workflow.getHandle(leadWorkflowId(leadId));
      // Whether the run finishes the checks (a workflow that resumes them) or waits for a person, it holds the log.
      await waitFor(
        async () =>
          JSON.stringify((await handle.query(leadStateQuery))?.state) === JSON.stringify(fold(await logOf(leadId))),
        'the workflow holds the log',
      );
    } finally {
      reconciler = startReconciler(reconcilerOptions);
    }
  });

  it('a pass after the healings finds nothing to do', async () => {
    const counted = healed.length;
    const report = await reconciler.passNow();
    expect(report).toMatchObject({ ran: true, restarted: [], failed: 0 });
    expect(healed.length).toBe(counted);
  });

  it('only one pass runs at a time across processes: a held lock skips the pass', async () => {
    const other = await stack.db.pool.connect();
    try {
      await other.query('SELECT pg_advisory_lock($1, $2)', [0x4c4c_0002, 1]);
      expect(await reconcileOnce(reconcilerOptions)).toMatchObject({ ran: false });
      await other.query('SELECT pg_advisory_unlock($1, $2)', [0x4c4c_0002, 1]);
      expect(await reconcileOnce(reconcilerOptions)).toMatchObject({ ran: true });
    } finally {
      other.release();
    }
  });

  it("a notice HQ's channel refused for a while is sent on a later pass, once", async () => {
    let down = true;
    const sent: string[] = [];
    const flaky: NotificationAdapter = {
      channel: 'log',
      send(notification) {
        if (down) return Promise.reject(new Error('the channel is down'));
        sent.push(notification.idempotencyKey);
        return Promise.resolve();
      },
    };
    const notifier = createHealingNotifier({
      directory: await loadDirectory(),
      delivery: createNotificationDelivery({ pool: stack.db.pool, adapters: [flaky] }),
      channels: ['log'],
      resendAfterMs: 0,
    });
    const flakyHealer = createHealer({ ...healerDeps, notifier });
    const { leadId } = await stack.client.submitLead(
      { ...sampleIntakeInputs()['ngo-farmworkers']!, externalReference: 'REC-NOTICE' },
      { actor: 'svc:test' },
    );
    await waitFor(async () => (await stack.client.getLead(leadId)).state.status === 'assigned', 'assigned');
    await reconciler.stop();
    try {
      await stack.temporal.workflow.getHandle(leadWorkflowId(leadId)).terminate('test: channel down');
      expect(await flakyHealer.recover(leadId)).toMatchObject({ outcome: 'restarted' });
      expect(await noticeCount(leadId)).toBe(0);
      expect(logLines.some((l) => l.message === 'HQ was not told of a healed lead' && l.fields.leadId === leadId)).toBe(
        true,
      );

      down = false;
      expect(await flakyHealer.resendNotices()).toBe(1);
      expect(await flakyHealer.resendNotices()).toBe(0);
      expect(sent).toHaveLength(1);
      expect(await noticeCount(leadId)).toBe(1);
    } finally {
      reconciler = startReconciler(reconcilerOptions);
    }
  });

  it('says nothing personal in its lines and notices', () => {
    const said = JSON.stringify(logLines) + hqNotices.join('\n');
    expect(said).not.toMatch(PERSONAL);
    expect(hqNotices.some((n) => n.includes('"kind":"lead_healed"'))).toBe(true);
  });
});

describe('clocks after a restart', () => {
  it('a rung that fell due while the workflow was terminated fires once after the restart', async () => {
    // Hours become seconds: a standard unassigned lead warns 4.5 s after validation and escalates at 6, 9 and 12 s.
    const policy = { ...defaultSlaPolicy({ timeScale: 4 * 3_600 }), version: 'test-hours-as-quarter-seconds' };
    const client = new LeadClient({
      leadIdKey: TEST_FINGERPRINT_KEY,
      temporal: stack.temporal,
      taskQueue: stack.taskQueue,
      policy,
      readModel: createLeadReadModel(stack.db.pool),
    });
    const { leadId } = await client.submitLead(
      { ...sampleIntakeInputs()['public-unknown-jurisdiction']!, externalReference: 'REC-SLA' },
      { actor: 'svc:test' },
    );
    await waitFor(async () => (await client.getLead(leadId)).state.status === 'validated', 'validated');
    const handle = stack.temporal.workflow.getHandle(leadWorkflowId(leadId));
    const validated = (await handle.query(leadStateQuery))!;
    await handle.terminate('test: down across the warning and level 1');
    const level1 = Date.parse(validated.stageDeadline!);
    await sleep(level1 + 500 - Date.now());
    expect((await logOf(leadId)).map((e) => e.type)).toEqual(['LeadReceived', 'LeadValidated']);

    const passStarted = Date.now();
    const report = await passUntil((r) => r.restarted.length > 0);
    expect(report.restarted.map((r) => r.leadId)).toEqual([leadId]);
    // The lead keeps the policy its first run was given, not the worker's.
    expect(report.restarted[0]?.policyVersion).toBe(policy.version);
    await waitFor(async () => (await logOf(leadId)).some((e) => e.type === 'LeadEscalated'), 'level 1', 10_000);
    const fired = (await logOf(leadId)).slice(2);
    expect(fired.map((e) => [e.type, (e.data as { level?: number }).level])).toEqual([
      ['SlaWarning', undefined],
      ['LeadEscalated', 1],
    ]);
    const late = Date.parse(fired[1]!.metadata.at) - passStarted;
    console.info(`reconciler: the due rungs fired ${late} ms after the pass began`);
    expect(late).toBeLessThan(5_000);

    // The next rung comes at its own time from the log's clock, once.
    await waitFor(
      async () => (await logOf(leadId)).filter((e) => e.type === 'LeadEscalated').length >= 2,
      'level 2',
      10_000,
    );
    const level2 = (await logOf(leadId)).filter((e) => e.type === 'LeadEscalated')[1]!;
    expect((level2.data as { level: number }).level).toBe(2);
    // Level 2 at 150 % of the stage's budget from the log's clock: 3 s after level 1's instant.
    const budgetMs = level1 - Date.parse(validated.state.sla.runningSince!);
    expect(Math.abs(Date.parse(level2.metadata.at) - (level1 + budgetMs / 2))).toBeLessThan(2_000);
    const snapshot = await handle.query(leadStateQuery);
    expect(snapshot?.state).toEqual(fold(await logOf(leadId)));
  });
});

describe('leadline recover', () => {
  it('restarts a terminated lead, then says it runs; never prints victim data', async () => {
    const { leadId } = await stack.client.submitLead(
      { ...sampleIntakeInputs()['hhs-tipline-minor']!, externalReference: 'REC-CLI' },
      { actor: 'svc:test' },
    );
    await waitFor(async () => (await stack.client.getLead(leadId)).state.status === 'assigned', 'assigned');
    const handle = stack.temporal.workflow.getHandle(leadWorkflowId(leadId));
    await handle.terminate('test: terminated before recover');
    const version = (await logOf(leadId)).length;

    const first = await recoverCli(leadId);
    expect(first).toMatchObject({ code: 0 });
    expect(first.out).toMatch(
      new RegExp(`^lead ${leadId}: restarted from ${version} events \\(workflow was TERMINATED; status assigned; `),
    );
    expect((await handle.describe()).status.name).toBe('RUNNING');
    expect((await handle.query(leadStateQuery))?.state).toEqual(fold(await logOf(leadId)));

    const second = await recoverCli(leadId);
    expect(second).toMatchObject({ code: 0, out: `lead ${leadId}: running; nothing to do\n` });

    const { rows } = await stack.db.pool.query<{ actor: string; outcome: string }>(
      `SELECT actor, outcome FROM audit_log WHERE lead_id = $1 AND action = 'RecoverLead' ORDER BY id`,
      [leadId],
    );
    // The second call found it running without reading the log: nothing to audit but the restart.
    expect(rows).toEqual([{ actor: 'cli:test', outcome: 'restarted' }]);
    expect(await noticeCount(leadId)).toBe(1);
    expect(`${first.out}${first.err}${second.out}${second.err}`).not.toMatch(PERSONAL);
  });

  it('a lead that keeps stopping is left alone after 3 restarts in an hour; leadline recover still restarts it', async () => {
    const { leadId } = await stack.client.submitLead(
      { ...sampleIntakeInputs()['newark-interview-request']!, externalReference: 'REC-FLAPPING' },
      { actor: 'svc:test' },
    );
    await waitFor(async () => (await stack.client.getLead(leadId)).state.status === 'assigned', 'assigned');
    const handle = stack.temporal.workflow.getHandle(leadWorkflowId(leadId));
    for (let restart = 1; restart <= 3; restart++) {
      await handle.terminate(`test: stop ${restart}`);
      expect((await passUntil((r) => r.restarted.length > 0)).restarted.map((r) => r.leadId)).toEqual([leadId]);
    }
    await handle.terminate('test: stop 4');
    const held = await passUntil((r) => r.heldBack.length > 0);
    expect(held).toMatchObject({ restarted: [], heldBack: [leadId] });
    expect((await handle.describe()).status.name).toBe('TERMINATED');
    expect(
      logLines.some((l) => l.level === 'error' && (l.fields.leadIds as string[] | undefined)?.includes(leadId)),
    ).toBe(true);

    const byHand = await recoverCli(leadId);
    expect(byHand.out).toMatch(new RegExp(`^lead ${leadId}: restarted from \\d+ events \\(workflow was TERMINATED`));
    expect((await handle.describe()).status.name).toBe('RUNNING');
  });

  it('says when a lead has no events, and refuses an id that is not one without echoing it', async () => {
    const unknown = randomUUID();
    expect(await recoverCli(unknown)).toMatchObject({
      code: 1,
      out: `lead ${unknown}: no events in the log (workflow missing); nothing to restart from\n`,
    });
    const bad = await recoverCli('not-a-lead; Invented Person');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('the lead id is not a UUID');
    expect(bad.err).not.toContain('Invented Person');
  });
});

// Helpers ---------------------------------------------------------------------------------------------------

/** Passes until one satisfies `done` (visibility may still list a run terminated a moment ago as running). */
async function passUntil(done: (report: PassReport) => boolean): Promise<PassReport> {
  let last: PassReport | undefined;
  await waitFor(async () => done((last = await reconcileOnce(reconcilerOptions))), 'a pass', 10_000);
  return last!;
}

async function logOf(leadId: string): Promise<LeadEvent[]> {
  return (await createEventStore(stack.db.pool, projectLead).readEvents(leadId)) as unknown as LeadEvent[];
}

/** The counter, the audit log and HQ's notices each hold this lead's healing exactly once. */
async function expectHealedOnce(leadId: string, workflowWas: string) {
  expect(healed.filter((tags) => tags.workflow_was === workflowWas).length).toBeGreaterThanOrEqual(1);
  const lines = logLines.filter((l) => l.fields.leadId === leadId && l.message.startsWith('lead restarted'));
  expect(lines).toHaveLength(1);
  expect(lines[0]?.fields).toMatchObject({ leadId, workflowWas });
  const { rows } = await stack.db.pool.query<{ actor: string; detail: { workflowWas: string } }>(
    `SELECT actor, detail FROM audit_log WHERE lead_id = $1 AND action = 'RecoverLead' AND outcome = 'restarted'`,
    [leadId],
  );
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ actor: 'system:reconciler', detail: { workflowWas } });
  expect(await noticeCount(leadId)).toBe(1);
}

async function noticeCount(leadId: string): Promise<number> {
  const { rows } = await stack.db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM notifications WHERE lead_id = $1 AND kind = 'lead_healed' AND status = 'delivered'`,
    [leadId],
  );
  return rows[0]?.n ?? 0;
}

type Step = { type: LeadCommand['type']; data: unknown; at: number };

function receive(leadId: string, sample: string, at: number): Step {
  return { type: 'ReceiveLead', data: { leadId, intake: sampleIntake(sample) }, at };
}

/** Decides the steps as the workflow would and appends their events straight to the log: a lead with no workflow. */
async function appendWithoutWorkflow(leadId: string, steps: Step[]): Promise<LeadEvent[]> {
  const store = createEventStore(stack.db.pool, projectLead);
  let state: LeadState | undefined;
  const all: LeadEvent[] = [];
  for (const step of steps) {
    const command = {
      type: step.type,
      data: step.data,
      metadata: { actor: 'svc:test', at: new Date(step.at).toISOString(), commandId: randomUUID() },
    } as LeadCommand;
    const decision = decide(command, state, stack.policy);
    if (!decision.ok) throw decision.error;
    const recorded = decision.events.map((event) => ({ ...event, eventId: randomUUID() }));
    await store.append(leadId, state?.version ?? 0, recorded);
    for (const event of recorded) {
      state = evolve(state, event);
      all.push(event);
    }
  }
  return all;
}

/** `leadline --actor cli:test recover <leadId>`, connected through the environment as an operator's shell would be. */
async function recoverCli(leadId: string) {
  const key = (stack.payloadCodec as unknown as { key: Buffer }).key;
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['--actor', 'cli:test', 'recover', leadId], {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    env: {
      ...process.env,
      DATABASE_URL: stack.db.appUrl,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: env.namespace ?? 'default',
      LEADLINE_TASK_QUEUE: stack.taskQueue,
      LEADLINE_PAYLOAD_KEY: key.toString('base64'),
    },
  });
  return { code, out: out.join(''), err: err.join('') };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
